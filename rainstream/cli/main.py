"""Entry point of the ``rainstream`` command: parse, then hand over to one subcommand module.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module's handler
does the work through the Python API. User errors (``RainstreamError``) become one line on stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from rainstream.errors import RainstreamError

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ["run", "models", "convert", "export", "bench", "synth", "train", "eval"]

EPILOG = """examples:
  rainstream run samples/rainy_street.mp4 -o derained.mp4
  rainstream run rtsp://user:pass@10.0.0.5/stream -o cam.mkv --live
  rainstream run photo.jpg -o photo_derained.png --weights models/nerd_rain_s.safetensors
  rainstream convert NeRD-Rain-S_SPA.pth -o models/spa.safetensors
  rainstream bench --backend eager compile --precision fp32 fp16
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainstream",
        description="Real-time video deraining with NeRD-Rain and DRSformer (rainstream models lists them).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"rainstream.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rainstream.cli.{name}":
                continue  # subcommand not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rainstream.log import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(verbose=args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except RainstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
