"""``rainstream convert``: official checkpoint (.pth, or MSPFN's TensorFlow checkpoint) -> the project's
safetensors format."""
from __future__ import annotations

import argparse

from loguru import logger


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert an official NeRD-Rain checkpoint to safetensors",
        description="Convert an official NeRD-Rain / NeRD-Rain-S checkpoint (.pth, with or without the "
                    "{'state_dict': ...} wrapper and 'module.' prefixes) to the project's safetensors file.",
        epilog="examples:\n  rainstream convert NeRD-Rain-S_SPA.pth -o models/nerd_rain_s_spa.safetensors\n"
               "  rainstream convert MSPFN/model/epoch50 -o models/mspfn.safetensors   # TF prefix: "
               "epoch50.index + epoch50.data-*",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="official .pth file (or one of ours), or a TensorFlow checkpoint prefix, "
                                      "its .index file or its folder")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path")
    p.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rainstream.model.conversion import convert_checkpoint
    from rainstream.model.tf_checkpoint import is_tf_checkpoint

    if is_tf_checkpoint(args.checkpoint):
        from rainstream.model.mspfn.checkpoint import convert_tf_checkpoint

        model = convert_tf_checkpoint(args.checkpoint, args.output, half=args.half)
        count = sum(p.numel() for p in model.parameters())
        logger.info(f"wrote {args.output}: MSPFN {model.config}, {count:,} parameters")
        return 0

    dim, count = convert_checkpoint(args.checkpoint, args.output, half=args.half)
    logger.info(f"wrote {args.output}: NeRD-Rain dim {dim}, {count:,} parameters")
    return 0
