"""Entry point of the ``rainstream`` command: parse, then hand over to one subcommand module.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module's handler
builds the config and calls the Python API. Building the parser imports no torch, PyAV or OpenCV,
so ``--help`` is instant. User errors (``RainstreamError``) become one line on stderr, with the
settings the library names (`tile`) shown as this command's flags (--tile).
"""
from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading

from rainstream.errors import RainstreamError

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ["run", "models", "convert", "export", "bench", "synth", "train", "eval"]

EPILOG = """examples:
  rainstream run samples/rainy_path.mp4 -o derained.mp4
  rainstream run rtsp://user:pass@10.0.0.5/stream -o cam.mkv --live
  rainstream run photo.jpg -o photo_derained.png --weights NeRD-Rain-S_SPA.pth
  rainstream convert NeRD-Rain-S_SPA.pth -o spa.safetensors
  rainstream bench --backend eager compile --precision fp32 fp16
"""

_SETTING = re.compile(r"`([A-Za-z_][\w.]*)`")


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors quote the arguments (a stream URL with its password): redacted."""

    def error(self, message: str):
        from rainstream.log import redact

        super().error(redact(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rainstream",
        description="Real-time video deraining with NeRD-Rain, DRSformer and MSPFN (rainstream models lists them).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"rainstream.cli.{name}").register(sub)
    return parser


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Setting name -> the long flag that sets it, over every subcommand."""
    flags: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for name, flag in _flags(sub).items():
                    flags.setdefault(name, flag)
        elif action.option_strings and action.help != argparse.SUPPRESS and action.nargs != 0:
            flags.setdefault(action.dest, max(action.option_strings, key=len))
        elif action.option_strings and action.nargs == 0 and action.const is True:
            flags.setdefault(action.dest, max(action.option_strings, key=len))  # on/off switches
    return flags


def flag_text(message: str, parser: argparse.ArgumentParser) -> str:
    """The library's message with each `setting` written as the flag that sets it (or plain)."""
    flags = _flags(parser)
    return _SETTING.sub(lambda m: flags.get(m.group(1).rpartition(".")[2], m.group(1)), message)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Positionals after options (``run in.mp4 -o out.mp4 tile=384``) belong to a command that takes them.
    spill = getattr(args, "extra_positionals", None)
    if extra and (spill is None or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        setattr(args, spill, getattr(args, spill) + extra)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from rainstream.log import setup_logging

    setup_logging(verbose=args.verbose, flags=lambda text: flag_text(text, parser))
    # SIGTERM stops like Ctrl-C wherever a job has not installed its own orderly stop (exit 130)
    main_thread = threading.current_thread() is threading.main_thread()
    saved = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return _run(args, parser)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, saved)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from rainstream.log import redact

    try:
        return int(args.func(args) or 0)
    except RainstreamError as exc:
        # exit code 130: an interruption that left a usable output, reported without "error:"
        prefix = "" if exc.exit_code == 130 else "error: "
        print(prefix + flag_text(redact(str(exc)), parser), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
