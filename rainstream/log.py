"""Logging setup: loguru to stderr, one line per event, secrets never printed.

``redact`` is the one place that hides secrets in text: every log message passes through it (the
loguru patcher), and so does every error line the CLI prints. It hides, in any ``scheme://`` URL,
the userinfo's password (split at the *last* ``@``, so a raw ``@`` or ``/`` in a password is hidden
whole; a userinfo without ``:`` is hidden whole, it may be a token) and the values of query
parameters whose names look like secrets. Secrets registered with ``register_secret`` (the
credentials of the stream being opened, raw and percent-encoded) are hidden wherever they appear,
also outside a URL (FFmpeg may print them decoded or cut).
"""
from __future__ import annotations

import re
import sys
import threading
from typing import Callable
from urllib.parse import quote, unquote

from loguru import logger

MASK = "***"
# A URL runs from its scheme to the next whitespace: a password may hold any other character.
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>\S*)")
_SECRET_NAMES = r"[\w.-]*(?:pass|pwd|token|key|secret|auth|signature|sig|credential)[\w.-]*"
_SECRET_PARAM = re.compile(rf"(?P<lead>[?&;#])(?P<name>{_SECRET_NAMES})=(?P<value>[^&;#\s]*)", re.IGNORECASE)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def counted(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``: counts in messages read as English."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def register_secret(value: str | None) -> None:
    """Hide ``value`` (and its percent-encoded and -decoded forms) in every later ``redact``.
    Values under 6 characters are not registered (they would mask ordinary words); URL redaction
    still hides them inside URLs."""
    if not value:
        return
    with _secrets_lock:
        for form in {value, quote(value, safe=""), quote(value), unquote(value)}:
            if len(form) >= 6:
                _secrets.add(form)


def _redact_url(m: re.Match) -> str:
    scheme, rest = m["scheme"], m["rest"]
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1:]
        user, colon, _ = userinfo.partition(":")
        hidden = f"{user}:{MASK}" if colon and "/" not in user else MASK
        rest = f"{hidden}@{rest}"
    else:  # no '@': a ':' in the host part that is not a port starts a password cut by a space
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        user, colon, tail = authority.rpartition(":")
        if colon and not authority.startswith("[") and not tail.isdigit():
            rest = f"{user}:{MASK}{rest[len(authority):]}"
    rest = _SECRET_PARAM.sub(lambda p: f"{p['lead']}{p['name']}={MASK}", rest)
    return scheme + rest


def redact(text: object) -> str:
    """``text`` with every password, token and registered secret replaced by ``***``."""
    text = str(text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:  # first: a URL's redaction below would cut a registered secret apart
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL.sub(_redact_url, text)


def setup_logging(verbose: bool = False, flags: Callable[[str], str] | None = None) -> None:
    """Log to stderr; every message redacted, and rewritten by ``flags`` (the CLI shows settings as flags)."""

    def patch(record) -> None:
        message = redact(record["message"])
        record["message"] = flags(message) if flags is not None else message

    def excepthook(kind, value, tb) -> None:  # an unexpected traceback is redacted too
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    sys.excepthook = excepthook
    logger.remove()
    logger.configure(patcher=patch)
    logger.add(sys.stderr, level="DEBUG" if verbose else "INFO",
               format="<level>{level: <7}</level> {message}", colorize=None)
