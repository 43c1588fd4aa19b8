"""Progress that suits where it goes: a tqdm bar on a terminal, a plain line every few seconds elsewhere.

A carriage-return bar written into a log file or a pipe is unreadable, and silence for minutes looks
like a hang; so off a terminal the same progress is logged as ``desc: done/total unit, rate, ETA``.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

from loguru import logger

T = TypeVar("T")


class PlainProgress:
    """tqdm's ``update``/``close`` face, printing one log line at most every ``every`` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0, every: float = 10.0):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n = initial
        self._start_n = initial
        self._start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            logger.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._start
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        text = f"{self.desc}: {done} {self.unit}s, {rate:.2f} {self.unit}/s"
        if self.total and rate > 0:
            text += f", ETA {_clock((self.total - self.n) / rate)}"
        return text

    def set_postfix(self, **_) -> None:
        pass

    def close(self) -> None:
        pass


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_bar(total: int | None, desc: str, unit: str, initial: int = 0, enabled: bool = True,
                 every: float = 10.0):
    """A tqdm bar on a terminal (stderr), a ``PlainProgress`` line every ``every`` seconds otherwise,
    silent when disabled. Every command's progress goes through here."""
    if not enabled:
        return PlainProgress(total, desc, unit, initial, every=float("inf"))
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.1)
    return PlainProgress(total, desc, unit, initial, every=every)


def progress_iter(items: Iterable[T], desc: str, unit: str, enabled: bool = True,
                  total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a ``progress_bar`` that follows them."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = progress_bar(total, desc, unit, enabled=enabled)
    try:
        for item in items:
            yield item
            bar.update(1)
    finally:
        bar.close()
