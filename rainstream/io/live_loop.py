"""The live loop: source thread -> drop-oldest queue -> derain in the caller's thread -> caller.

Shared by ``rainstream.stream`` (frames to a detector) and ``rainstream run`` on a stream (frames to a
recording). In live mode the queue keeps only the newest ``queue_frames`` frames, so latency is
bounded by roughly (queue_frames + 1) engine steps however slow the engine is; the frames pushed out
are counted as dropped. Without live mode nothing is dropped (a file read as fast as the engine
goes). An exception in the source thread is re-raised in the caller; leaving the loop early stops
the source thread.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterator

from rainstream.frames import Frame
from rainstream.io.live_queue import END, DropOldestQueue, Failure
from rainstream.io.live_stats import LatencyStats

_POLL_S = 0.05


def derained_frames(source, derain: Callable[[Frame], Any], *, live: bool = True, queue_frames: int = 2,
                    stats: LatencyStats | None = None) -> Iterator[tuple[Frame, Any, float]]:
    """Yield ``(frame, derain(frame), latency_s)``; latency runs from capture to derained."""
    stats = stats if stats is not None else LatencyStats()
    stop = threading.Event()
    q: Any = DropOldestQueue(queue_frames) if live else queue.Queue(maxsize=queue_frames)

    def put_blocking(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for frame in source:
                if stop.is_set():
                    break
                if live:
                    stats.arrived(dropped=q.put(frame))
                else:
                    stats.arrived()
                    if not put_blocking(frame):
                        break
            item = END
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            item = Failure(exc)
        if live:
            q.put(item)
        else:
            put_blocking(item)

    reader = threading.Thread(target=read, name="rainstream-live-source", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get(timeout=None) if live else q.get()
            if item is END:
                break
            if isinstance(item, Failure):
                raise item.exc
            out = derain(item)
            latency = time.monotonic() - item.captured_at
            stats.done(latency)
            yield item, out, latency
    finally:
        stop.set()
        interrupt = getattr(source, "interrupt", None)
        if interrupt is not None:
            interrupt()
        if not live:
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass
                reader.join(_POLL_S)
        reader.join(timeout=5.0)
