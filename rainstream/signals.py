"""Ctrl-C / SIGTERM as an orderly stop: the first one asks the job to finish its output, a second aborts."""
from __future__ import annotations

import signal
import threading
from typing import Callable

from loguru import logger


class StopOnSignal:
    """Context manager: on the first SIGINT/SIGTERM set ``event`` (and call ``on_stop``) so the job
    closes its output playable; on a second one raise ``KeyboardInterrupt``. Handlers can only be
    installed from the main thread; elsewhere this does nothing. The old handlers come back on exit."""

    def __init__(self, event: threading.Event, action: str, on_stop: Callable[[], None] | None = None):
        self.event, self.action, self.on_stop = event, action, on_stop
        self.saved: dict = {}

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        logger.warning(f"{signal.Signals(signum).name}: {self.action}")
        self.event.set()
        if self.on_stop is not None:
            self.on_stop()

    def __exit__(self, *exc) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
