"""``rainstream convert``: any supported official checkpoint (.pth, or MSPFN's TensorFlow checkpoint) -> the
project's safetensors format."""
from __future__ import annotations

import argparse

from loguru import logger

EXAMPLES = """examples:
  rainstream convert NeRD-Rain-S_SPA.pth -o models/nerd_rain_s_spa.safetensors
  rainstream convert DRSformer_SPA.pth -o models/drsformer_spa.safetensors --half
  rainstream convert net_g_latest.pth --model drsformer -o drsformer.safetensors   # insist on DRSformer
  rainstream convert MSPFN/epoch50 -o models/mspfn.safetensors   # TF checkpoint: epoch50.index + .data-*
  rainstream convert run_a/final.safetensors run_b/final.safetensors -o mean.safetensors   # their mean

The architecture and its size are read from the file; BasicSR files ({'params': ...} or
{'params_ema': ...}, which is preferred when both are there), NeRD-Rain files ({'state_dict': ...}) and
'module.' prefixes are all accepted. The output records the architecture and its config in its
metadata and is read back before the command reports success. A TensorFlow checkpoint (MSPFN's
official weights) is named by its prefix, its .index file or its folder, and is read without
TensorFlow, optimiser slots ignored; run-time commands only take the converted file. Several files
of one architecture and size give their element-wise mean (a "weight soup" of fine-tuning runs from
the same start).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert an official checkpoint (any supported architecture) to safetensors",
        description="Convert an official NeRD-Rain, DRSformer or MSPFN checkpoint to the project's safetensors file.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="+",
                   help="official .pth file (or one of ours), or a TensorFlow checkpoint prefix; several: their mean")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path")
    p.add_argument("--model", "--variant", dest="model", metavar="NAME",
                   help="refuse files of any other architecture (default: detect it)")
    p.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rainstream.model.conversion import average_checkpoints, convert_checkpoint
    from rainstream.model.registry import architecture_of

    if len(args.checkpoint) == 1:
        model = convert_checkpoint(args.checkpoint[0], args.output, half=args.half, name=args.model)
    else:
        model = average_checkpoints(args.checkpoint, args.output, half=args.half, name=args.model)
    count = sum(p.numel() for p in model.parameters())
    logger.info(f"wrote {args.output}: {architecture_of(model).title}, {model.config}, {count:,} parameters")
    return 0
