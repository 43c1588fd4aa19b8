"""Live-mode numbers a camera user cares about: latency (capture -> derained) and dropped frames."""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencySummary:
    frames_in: int  # frames the source delivered
    frames_out: int  # frames derained
    dropped: int  # frames discarded because the engine was behind
    median_s: float | None
    p95_s: float | None
    max_s: float | None

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.frames_in if self.frames_in else 0.0

    def line(self) -> str:
        ms = lambda v: "n/a" if v is None else f"{v * 1000:.0f} ms"  # noqa: E731
        return (f"live: {self.frames_out}/{self.frames_in} frames derained, {self.dropped} dropped "
                f"({self.drop_rate:.0%}), latency median {ms(self.median_s)}, p95 {ms(self.p95_s)}, "
                f"max {ms(self.max_s)}")


class LatencyStats:
    """Thread-safe counters plus the last ``window`` latencies (memory stays flat on endless streams)."""

    def __init__(self, window: int = 10_000):
        self._lat: collections.deque = collections.deque(maxlen=window)
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0

    def arrived(self, dropped: int = 0) -> None:
        with self._lock:
            self.frames_in += 1
            self.dropped += dropped

    def done(self, latency_s: float) -> None:
        with self._lock:
            self.frames_out += 1
            self._lat.append(latency_s)

    def summary(self) -> LatencySummary:
        with self._lock:
            lat = np.asarray(self._lat, dtype=np.float64)
            frames_in, frames_out, dropped = self.frames_in, self.frames_out, self.dropped
        if lat.size:
            med, p95, mx = (float(np.median(lat)), float(np.percentile(lat, 95)), float(lat.max()))
        else:
            med = p95 = mx = None
        return LatencySummary(frames_in, frames_out, dropped, med, p95, mx)
