"""``rainstream convert``: official checkpoint (.pth) -> the project's safetensors format."""
from __future__ import annotations

import argparse

from loguru import logger


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert an official NeRD-Rain checkpoint to safetensors",
        description="Convert an official NeRD-Rain / NeRD-Rain-S checkpoint (.pth, with or without the "
                    "{'state_dict': ...} wrapper and 'module.' prefixes) to the project's safetensors file.",
        epilog="example:\n  rainstream convert NeRD-Rain-S_SPA.pth -o models/nerd_rain_s_spa.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="official .pth file (or one of ours)")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path")
    p.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rainstream.model.conversion import convert_checkpoint

    dim, count = convert_checkpoint(args.checkpoint, args.output, half=args.half)
    logger.info(f"wrote {args.output}: NeRD-Rain dim {dim}, {count:,} parameters")
    return 0
