"""``rainstream eval``: PSNR/SSIM (Y channel, MATLAB convention) of a model on rainy/clean pairs."""
from __future__ import annotations

import argparse
import json
import os

EXAMPLES = """examples:
  rainstream eval --data Datasets/Rain200L/test --weights models/nerd_rain_s.safetensors
  rainstream eval --data SPA/real_test_1000.txt --weights NeRD-Rain-S_SPA.pth --device cuda
  rainstream eval --data my_pairs/ --weights runs/cam1/final.safetensors --json scores.json
  rainstream eval --data Datasets/Rain200H/test --weights DRSformer_Rain200H.pth     # detected: DRSformer

--data is a folder with input/ + target/ (or rain/ + gt/) sub-folders, or an SPA-Data list file
of "rainy clean" lines. Scores use the Y channel of BT.601 YCbCr (MATLAB rgb2ycbcr) and SSIM
with an 11x11 Gaussian window (sigma 1.5), as the deraining papers report them.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="PSNR/SSIM of a model on rainy/clean pairs",
        description="Derain every rainy image with the tiled engine and score it against its clean image.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="DIR|LIST", help="paired folder or SPA-Data list file")
    p.add_argument("--weights", metavar="FILE", help="official .pth or project .safetensors")
    p.add_argument("--model", "--variant", dest="model", metavar="NAME",
                   help="model name (rainstream models); default: read from --weights, else nerd_rain_s")
    p.add_argument("--root", metavar="DIR", help="folder the list file's paths are relative to")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--tile", type=int, help="tile size in pixels (default: the model's, see rainstream models)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: the model's)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32", help="default fp32")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="score only the first N pairs")
    p.add_argument("--json", metavar="FILE", help="also write per-image and mean scores as JSON")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from rainstream.engine import EngineConfig
    from rainstream.training.evaluate import evaluate

    engine = EngineConfig(tile=args.tile, overlap=args.overlap, precision=args.precision, device=args.device)
    report = evaluate(args.data, args.weights, args.model, engine, root=args.root, limit=args.limit)
    width = max(len(s.name) for s in report.scores)
    line = "{:<%d}  PSNR {:7.3f} dB  SSIM {:.4f}   rainy input: PSNR {:7.3f} dB  SSIM {:.4f}   gain {:+.2f} dB" % width
    for s in report.scores:
        print(line.format(s.name, s.psnr, s.ssim, s.input_psnr, s.input_ssim, s.psnr - s.input_psnr))
    print(line.format("mean", report.psnr, report.ssim, report.input_psnr, report.input_ssim,
                      report.psnr - report.input_psnr) + f"  ({len(report.scores)} images)")
    if args.json:
        tmp = f"{args.json}.part"
        with open(tmp, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        os.replace(tmp, args.json)
    return 0
