"""A bounded hand-off between a camera and a slower consumer that drops the OLDEST item when full.

A live viewer wants the newest picture: blocking the camera (a normal queue) would let latency grow
without bound, and dropping the newest would show stale frames. End/error markers are never dropped.
"""
from __future__ import annotations

import collections
import threading
from typing import Any

END = object()  # the producer finished


class Failure:
    """An exception travelling from a producer thread to the consumer, which re-raises it."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class DropOldestQueue:
    """``put`` never blocks: when full it evicts the oldest data item and reports how many it dropped."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> int:
        dropped = 0
        with self._cond:
            if not _is_marker(item):
                while sum(1 for i in self._items if not _is_marker(i)) >= self.capacity:
                    for i, old in enumerate(self._items):
                        if not _is_marker(old):
                            del self._items[i]
                            dropped += 1
                            break
            self._items.append(item)
            self.dropped += dropped
            self._cond.notify()
        return dropped

    def get(self, timeout: float | None = None) -> Any:
        """Oldest item; raises ``TimeoutError`` when nothing arrived within ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=timeout):
                raise TimeoutError
            return self._items.popleft()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


def _is_marker(item: Any) -> bool:
    return item is END or isinstance(item, Failure)
