"""``rainstream bench``: model-only throughput (default), pipeline efficiency (--pipeline), live latency (--live)."""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from rainstream.errors import RainstreamError

EXAMPLES = """examples:
  rainstream bench                                         # NeRD-Rain-S, eager fp32, tile 256, batch 1
  rainstream bench --backend eager compile tensorrt --precision fp32 fp16 bf16 --batch 1 8 16
  rainstream bench --model nerd_rain_s nerd_rain --precision fp16 --batch 16 -o bench.md
  rainstream bench --device cpu --model nerd_rain_tiny --precision fp32 bf16 --batch 1 4
  rainstream bench --model nerd_rain_s drsformer drsformer_no_mefc --device cpu --threads 1 --iters 2
  rainstream bench --weights DRSformer_SPA.pth --precision fp16 bf16 --batch 1 8   # architecture detected
  rainstream bench --pipeline samples/rainy_path.mp4 --precision fp16 --batch 4
  rainstream bench --live rtsp://127.0.0.1:8554/cam --model pointwise --seconds 20

Every run also measures the eager-fp32 one-tile-at-a-time baseline, so the "vs baseline" column is a
side-by-side ratio. Combinations the machine cannot run (fp16 on CPU, tensorrt not installed) are
listed as skipped. Paste the printed table into docs/BENCHMARKS.md.
"""

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="model throughput per backend, precision, tile and batch",
        description="Measure model-only throughput (tiles/s, frames/s at 720p/1080p, TFLOP/s).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", metavar="NAME",
                   help="model name(s) (rainstream models; default: the architecture of --weights, else "
                        "nerd_rain_s); with --live also pointwise")
    p.add_argument("--variant", nargs="+", dest="model", help=argparse.SUPPRESS)  # the old name of --model
    p.add_argument("--weights", metavar="FILE", help="weights (speed does not depend on them; default: untrained)")
    p.add_argument("--backend", nargs="+", default=["eager"], choices=["eager", "compile", "tensorrt"])
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16"])
    p.add_argument("--tile", nargs="+", type=int, default=[256], help="tile size(s) (default 256)")
    p.add_argument("--batch", nargs="+", type=int, default=[1], help="tiles per model call (default 1)")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap used for frames/s (default 32)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch (default: torch's, fewer when the load average says the cores are busy)")
    p.add_argument("--iters", type=int, default=5, help="timed calls per case (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (compile, allocator; default 2)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the markdown table to FILE")
    p.add_argument("--pipeline", metavar="CLIP",
                   help="instead: end-to-end pipeline fps vs engine-only fps on this clip")
    p.add_argument("--frames", type=int, default=None, help="with --pipeline: use the first N frames")
    p.add_argument("--live", metavar="SOURCE",
                   help="instead: capture -> derained latency and drops on a stream, webcam or file (as a camera)")
    p.add_argument("--seconds", type=float, default=20.0, help="with --live: how long to measure (default 20)")
    p.add_argument("--queue-frames", type=int, default=2, dest="queue_frames",
                   help="with --live: drop-oldest queue length (default 2)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.iters < 1 or args.warmup < 0:
        raise RainstreamError("--iters must be >= 1 and --warmup >= 0")
    from rainstream.threads import set_threads

    set_threads(args.threads)
    from rainstream.engine.config import resolve_device

    resolve_device(args.device)  # a missing GPU is one error line, before any model is built
    if args.pipeline:
        return _pipeline(args)
    if args.live:
        return _live(args)
    from rainstream.bench.model import format_markdown, machine_description, run_bench

    results = run_bench(variants=args.model or [None], backends=args.backend, precisions=args.precision,
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


def _engine_config(args: argparse.Namespace):
    from rainstream.engine import EngineConfig

    return EngineConfig(tile=args.tile[0], overlap=args.overlap, max_tiles=max(args.batch), device=args.device,
                        precision=args.precision[0], backend=args.backend[0])


def _pipeline(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.pipeline):
        raise RainstreamError(f"`pipeline` {args.pipeline}: no such file")
    from rainstream.bench.pipeline import run_pipeline_bench
    from rainstream.engine import Derainer
    from rainstream.model import load_model

    model = load_model((args.model or [None])[0], weights=args.weights, device="cpu")
    result = run_pipeline_bench(args.pipeline, Derainer(model, _engine_config(args)), batch=args.batch[0],
                                max_frames=args.frames)
    print(result.line())
    return 0


def _live(args: argparse.Namespace) -> int:
    import json

    from rainstream.bench.live import pointwise_derainer, run_live_bench
    from rainstream.engine import Derainer
    from rainstream.model import load_model

    name = (args.model or [None])[0]
    config = _engine_config(args)
    if name == "pointwise":
        derainer = pointwise_derainer(config)
    else:
        derainer = Derainer(load_model(name, weights=args.weights, device="cpu"), config)
    result = run_live_bench(args.live, derainer, args.seconds, args.queue_frames)
    result.update(model=name, device=str(derainer.device), tile=config.tile)
    print(json.dumps(result))
    return 0
