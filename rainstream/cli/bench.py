"""``rainstream bench``: model-only throughput table (and, with --pipeline, end-to-end efficiency)."""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from rainstream.errors import RainstreamError

EXAMPLES = """examples:
  rainstream bench                                         # NeRD-Rain-S, eager fp32, tile 256, batch 1
  rainstream bench --backend eager compile tensorrt --precision fp32 fp16 bf16 --batch 1 8 16
  rainstream bench --variant nerd_rain_s nerd_rain --precision fp16 --batch 16 -o bench.md
  rainstream bench --device cpu --variant nerd_rain_tiny --precision fp32 bf16 --batch 1 4
  rainstream bench --model nerd_rain_s drsformer drsformer_no_mefc --device cpu --threads 1 --iters 2
  rainstream bench --weights DRSformer_SPA.pth --precision fp16 bf16 --batch 1 8   # architecture detected
  rainstream bench --pipeline samples/rainy_street.mp4 --precision fp16 --batch 4

Every run also measures the eager-fp32 one-tile-at-a-time baseline, so the "vs baseline" column is a
side-by-side ratio. Combinations the machine cannot run (fp16 on CPU, tensorrt not installed) are
listed as skipped. Paste the printed table into docs/BENCHMARKS.md.
"""

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="model throughput per backend, precision, tile and batch",
        description="Measure model-only throughput (tiles/s, frames/s at 720p/1080p, TFLOP/s).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "--variant", dest="variant", nargs="+", metavar="NAME",
                   help="model name(s) (rainstream models; default: the architecture of --weights, else nerd_rain_s)")
    p.add_argument("--weights", metavar="FILE", help="weights (speed does not depend on them; default: untrained)")
    p.add_argument("--backend", nargs="+", default=["eager"], choices=["eager", "compile", "tensorrt"])
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16"])
    p.add_argument("--tile", nargs="+", type=int, default=[256], help="tile size(s) (default 256)")
    p.add_argument("--batch", nargs="+", type=int, default=[1], help="tiles per model call (default 1)")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap used for frames/s (default 32)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--iters", type=int, default=5, help="timed calls per case (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (compile, allocator; default 2)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the markdown table to FILE")
    p.add_argument("--pipeline", metavar="CLIP",
                   help="instead: end-to-end pipeline fps vs engine-only fps on this clip")
    p.add_argument("--frames", type=int, default=None, help="with --pipeline: use the first N frames")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.iters < 1 or args.warmup < 0:
        raise RainstreamError("--iters must be >= 1 and --warmup >= 0")
    if args.threads is not None:
        if args.threads < 1:
            raise RainstreamError("--threads must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    from rainstream.engine.config import resolve_device

    resolve_device(args.device)  # a missing GPU is one error line, before any model is built
    if args.pipeline:
        return _pipeline(args)
    from rainstream.engine.bench import format_markdown, machine_description, run_bench

    results = run_bench(variants=args.variant or [None], backends=args.backend, precisions=args.precision,
                        tiles=args.tile, batches=args.batch, device=args.device, overlap=args.overlap, iters=args.iters,
                        warmup=args.warmup, weights=args.weights)
    args_text = " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("bench") + 1:]) if "bench" in sys.argv else ""
    command = f"rainstream bench {args_text}".strip()
    table = format_markdown(results, command=command, machine=machine_description(args.device))
    print(table)
    if args.output:
        partial = f"{args.output}.partial"
        with open(partial, "w") as f:
            f.write(table)
        os.replace(partial, args.output)
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    try:
        from rainstream.pipeline_bench import run_pipeline_bench
    except ModuleNotFoundError as exc:
        if exc.name != "rainstream.pipeline_bench":
            raise
        raise RainstreamError("--pipeline is not available in this build (no rainstream.pipeline_bench)") from None
    if not os.path.isfile(args.pipeline):
        raise RainstreamError(f"--pipeline {args.pipeline}: no such file")
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.model import load_model

    model = load_model((args.variant or [None])[0], weights=args.weights, device="cpu")
    config = EngineConfig(tile=args.tile[0], overlap=args.overlap, max_tiles=max(args.batch), device=args.device,
                          precision=args.precision[0], backend=args.backend[0])
    result = run_pipeline_bench(args.pipeline, Derainer(model, config), batch=args.batch[0], max_frames=args.frames)
    print(result.line())
    return 0
