"""``rainstream eval``: PSNR/SSIM of a model on rainy/clean pairs, the gain over the rainy input, and
whether it leaves rain-free pictures alone; a per-image table, worst first."""
from __future__ import annotations

import argparse
import json
import os

EXAMPLES = """examples:
  rainstream eval --data Datasets/Rain200L/test --weights my_weights.safetensors
  rainstream eval --data SPA/real_test_1000.txt --weights NeRD-Rain-S_SPA.pth --device cuda
  rainstream eval --data my_pairs/ --weights runs/cam1/final.safetensors --json scores.json
  rainstream eval --data Datasets/Rain200H/test --weights DRSformer_Rain200H.pth     # detected: DRSformer
  # fresh rain over held-out photos, rendered in memory: one command per figure
  rainstream eval --photos ../shared/data/clean --only ../shared/data/clean_val.txt \\
      --rain random --crops 2 --seed 777
  rainstream eval --photos ../shared/data/clean --only ../shared/data/clean_val.txt --rain storm

--data is a folder with input/ + target/ (or rain/ + gt/) sub-folders, or an SPA-Data list file
of "rainy clean" lines. --photos renders rain over --crops crops of every photo (--rain: random,
a style, a weighted mix of styles such as storm:2,dark:1, a preset or a YAML file of rain settings;
the same --seed gives the same pairs).
Scores use the Y channel of BT.601 YCbCr (MATLAB rgb2ycbcr) and SSIM with an 11x11 Gaussian window
(sigma 1.5), as the deraining papers report them. "rain-free" is the model's output on the clean
image scored against itself (does it leave detail alone?); PSNR is capped at 100 dB (identical).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="PSNR/SSIM of a model on rainy/clean pairs",
        description="Derain every rainy image with the tiled engine and score it against its clean image; "
                    "also derain the clean image and score it against itself.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DIR|LIST", help="paired folder or SPA-Data list file")
    src.add_argument("--photos", metavar="DIR", help="clean photos to render fresh rain over")
    p.add_argument("--weights", metavar="FILE", help="official .pth or project .safetensors")
    p.add_argument("--model", "--variant", dest="model", metavar="NAME",
                   help="model name (rainstream models); default: read from --weights, else nerd_rain_s")
    p.add_argument("--root", metavar="DIR", help="folder the list file's paths are relative to")
    g = p.add_argument_group("rendered pairs (--photos)")
    g.add_argument("--rain", default="random", metavar="KIND",
                   help="random (default: every style mixed), a style, a mix (storm:2,dark:1), a preset, "
                        "or a settings .yaml")
    g.add_argument("--crops", type=int, default=2, metavar="N", help="crops per photo (default 2)")
    g.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    g.add_argument("--seed", type=int, default=0, help="seed of the crops and the rain (default 0)")
    g.add_argument("--only", metavar="LIST", help="use only the photos named in this file (e.g. clean_val.txt)")
    g.add_argument("--exclude", metavar="LIST", help="leave out the photos named in this file")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--tile", type=int, help="tile size in pixels (default: the model's, see rainstream models)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: the model's)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32", help="default fp32")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="score only the first N pairs (--data)")
    p.add_argument("--skip-clean-check", action="store_true",
                   help="do not derain the clean images (halves the time; no rain-free column)")
    p.add_argument("--json", metavar="FILE", help="also write per-image and mean scores as JSON")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's, fewer when the load average says the cores are busy)")
    p.set_defaults(func=handle)


def _fmt(value: float | None, width: int = 7) -> str:
    return f"{value:{width}.2f}" if value is not None else " " * (width - 1) + "-"


def print_report(report) -> None:
    from rainstream.training.evaluate import NO_HARM_DB

    rows = report.worst_first()
    width = max(len(s.name) for s in rows)
    rain_width = max(len("rain"), *(len(s.rain) for s in rows))
    print(f"{'image (worst first)':<{width}}  {'rain':<{rain_width}}  rainy  derained    gain  "
          f"rainy SSIM  derained SSIM  rain-free")
    for s in rows:
        flag = " <" if s.clean_psnr is not None and s.clean_psnr < NO_HARM_DB else ""
        print(f"{s.name:<{width}}  {s.rain:<{rain_width}}  {s.input_psnr:5.2f}  {s.psnr:8.2f}  {s.gain:+6.2f}  "
              f"{s.input_ssim:10.4f}  {s.ssim:13.4f}  {_fmt(s.clean_psnr, 9)}{flag}")
    print(report.summary())


def handle(args: argparse.Namespace) -> int:
    from rainstream.engine import EngineConfig
    from rainstream.errors import RainstreamError
    from rainstream.training.evaluate import evaluate, evaluate_photos

    from rainstream.threads import set_threads

    if args.crops < 1 or args.size < 16:
        raise RainstreamError("--crops must be >= 1 and --size >= 16")
    set_threads(args.threads)
    engine = EngineConfig(tile=args.tile, overlap=args.overlap, precision=args.precision, device=args.device)
    check = not args.skip_clean_check
    if args.photos:
        report = evaluate_photos(args.photos, args.weights, args.model, engine, rain=args.rain,
                                 crops=args.crops, size=args.size, seed=args.seed, only=args.only,
                                 exclude=args.exclude, clean_check=check)
    else:
        report = evaluate(args.data, args.weights, args.model, engine, root=args.root, limit=args.limit,
                          clean_check=check)
    print_report(report)
    if args.json:
        tmp = f"{args.json}.part"
        with open(tmp, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        os.replace(tmp, args.json)
    return 0
