"""Logging setup: loguru to stderr, one line per event, secrets never printed."""
from __future__ import annotations

import re
import sys
from typing import Callable

from loguru import logger

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@")


def counted(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``: counts in messages read as English."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def redact(text: str) -> str:
    """Replace the password of any ``scheme://user:password@host`` in text by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))


def setup_logging(verbose: bool = False, flags: Callable[[str], str] | None = None) -> None:
    """Log to stderr; every message redacted, and rewritten by ``flags`` (the CLI shows settings as flags)."""

    def patch(record) -> None:
        message = redact(record["message"])
        record["message"] = flags(message) if flags is not None else message

    logger.remove()
    logger.configure(patcher=patch)
    logger.add(sys.stderr, level="DEBUG" if verbose else "INFO",
               format="<level>{level: <7}</level> {message}", colorize=None)
