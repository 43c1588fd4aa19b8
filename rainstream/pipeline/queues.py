"""The hand-offs between the runner's threads: a blocking bounded queue, and a drop-oldest one for live.

A live viewer wants the newest picture: blocking the camera (a normal queue) would let latency grow
without bound, and dropping the newest would show stale frames, so live mode evicts the OLDEST frame
when full. End/error markers are never dropped. Both queues take ``put``/``take`` that give up when
``stop()`` says so, so no thread ever waits on a stage that has gone.
"""
from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Callable

POLL_S = 0.05  # how often a blocked put/take looks at the stop flag

END = object()  # the producer finished


class Failure:
    """An exception travelling from a producer thread to the consumer, which re-raises it."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class BlockingQueue:
    """A bounded FIFO: ``put`` waits for room, ``take`` for an item, both until ``stop()`` is true."""

    def __init__(self, capacity: int, stop: Callable[[], bool]):
        self._q: queue.Queue = queue.Queue(maxsize=max(1, capacity))
        self._stop = stop

    def put(self, item: Any) -> bool:
        """False if it gave up because ``stop()`` became true."""
        while not self._stop():
            try:
                self._q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def take(self, block: bool = True) -> Any:
        """The oldest item; None when nothing is there (``block=False``) or ``stop()`` became true."""
        while True:
            try:
                return self._q.get(timeout=POLL_S) if block else self._q.get_nowait()
            except queue.Empty:
                if not block or self._stop():
                    return None

    def drain(self) -> None:
        """Throw away what is queued (lets a producer blocked in ``put`` see the stop flag)."""
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return


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

    def take(self, block: bool = True, stop: Callable[[], bool] = lambda: False) -> Any:
        """The oldest item; None when nothing is there (``block=False``) or ``stop()`` became true."""
        while True:
            try:
                return self.get(timeout=POLL_S if block else 0)
            except TimeoutError:
                if not block or stop():
                    return None

    def drain(self) -> None:
        with self._cond:
            self._items.clear()


def _is_marker(item: Any) -> bool:
    return item is END or isinstance(item, Failure)
