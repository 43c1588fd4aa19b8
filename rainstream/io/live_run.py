"""``rainstream run`` on a live stream: camera -> derain -> recording or re-published stream.

Runs until the stream gives up (``max_retries``), ``duration`` seconds pass, or Ctrl-C/SIGTERM, and
always closes the output properly; logs latency and drop numbers every ``report_every`` seconds and
at the end.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.live import LiveOptions, LiveSource
from rainstream.io.live_loop import derained_frames
from rainstream.io.live_sink import LiveSink, check_live_output
from rainstream.io.live_stats import LatencyStats, LatencySummary
from rainstream.signals import StopOnSignal


@dataclass(frozen=True)
class LiveRunSummary:
    output: str
    frames: int  # frames written
    seconds: float
    reconnects: int
    latency: LatencySummary

    def line(self) -> str:
        return (f"{self.frames} frames in {self.seconds:.1f} s, {self.reconnects} reconnect(s); "
                f"{self.latency.line()} -> {self.output}")


def derain_live(input, output: str, derainer, options: LiveOptions = LiveOptions(),
                encode: EncodeOptions = EncodeOptions(preset="veryfast"), duration: float | None = None,
                queue_frames: int = 2, report_every: float = 10.0) -> LiveRunSummary:
    """Derain a live source (spec string or ``LiveSource``) into ``output`` with bounded latency."""
    check_live_output(output)
    encode.validate()
    if duration is not None and duration <= 0:
        raise RainstreamError("--duration must be > 0 seconds")
    source = input if isinstance(input, LiveSource) else LiveSource(input, options)
    stats = LatencyStats()
    stop = threading.Event()
    t0 = time.monotonic()
    next_report = t0 + report_every
    on_signal = StopOnSignal(stop, "closing the stream and the output", on_stop=source.interrupt)
    with source, on_signal, LiveSink(output, source.info, encode) as sink:
        derain = lambda frame: derainer.derain_images([frame.image])[0]  # noqa: E731
        for frame, image, _latency in derained_frames(source, derain, live=True,
                                                      queue_frames=queue_frames, stats=stats):
            frame.image = image
            sink.write(frame)
            now = time.monotonic()
            if now >= next_report:
                logger.info(stats.summary().line())
                next_report = now + report_every
            if stop.is_set() or (duration is not None and now - t0 >= duration):
                break
        written = sink.frames_written
    summary = LiveRunSummary(output=sink.where if sink.publishing else output, frames=written,
                             seconds=time.monotonic() - t0, reconnects=source.reconnects,
                             latency=stats.summary())
    logger.info(summary.line())
    return summary
