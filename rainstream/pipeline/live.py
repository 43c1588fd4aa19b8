"""The live job: camera / stream URL -> derain -> crash-safe recording or a re-published stream.

Runs until the stream gives up (``max_retries``), ``duration`` seconds of wall-clock time pass (or
``frames`` frames), or Ctrl-C/SIGTERM, and always closes the output properly; logs latency and drop
numbers every ``report_every`` seconds and at the end. Latency is bounded by the runner's live mode:
one reader thread, one drop-oldest queue of ``queue_frames`` (default 2).
"""
from __future__ import annotations

import dataclasses
import time

from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.live_connection import resolve_target
from rainstream.io.live_sink import LiveSink, check_live_output
from rainstream.io.live_source import LiveSource
from rainstream.log import counted
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.job import Interrupted, Job
from rainstream.pipeline.runner import FrameLimit, RunSummary


class LiveJob(Job):
    kind = "live"

    def __init__(self, input, output, config: RunConfig):
        super().__init__(input, output, config)
        if not isinstance(self.input, str):
            raise RainstreamError("a live job needs a stream URL, a webcam or a file path")
        o = config.live
        resolve_target(self.input, o.transport, o.read_timeout, o.video_size, o.framerate,
                       o.credentials)  # scheme, webcam, credentials
        check_live_output(self.output, config.pipeline.overwrite)
        config.validate()

    def run(self, derainer) -> RunSummary:
        p = self.config.pipeline
        limit = None
        started = time.monotonic()  # `duration` is wall-clock time from here, camera up or down
        if p.frames is not None or p.duration is not None:
            limit = FrameLimit(frames=p.frames, seconds=p.duration, wall_clock=True, since=started)
        # the periodic latency line is the progress report of an endless job, not a bar
        runner = self.runner(derainer, live=True, limit=limit, report_every=p.report_every, progress=False)
        deadline = started + p.duration if p.duration is not None else None
        source = LiveSource(self.input, self.config.live, deadline=deadline)
        with source, LiveSink(self.output, source.info, self.config.encode, p.overwrite) as sink:
            summary = runner.run(source, sink, interrupt_action="closing the stream and the output")
        written = sink.frames_written  # a frame the sink had to skip (pts not increasing) is not counted
        summary = dataclasses.replace(summary, output=sink.where if sink.publishing else self.output,
                                      frames=written, new_frames=written, reconnects=source.reconnects)
        logger.info(summary.line())
        if summary.interrupted:
            raise Interrupted(f"interrupted: {summary.output} was closed after {counted(written, 'frame')}")
        if not written:  # e.g. `duration` ran out while connecting: say so rather than exit 0 with no file
            raise RainstreamError(f"no frame came from {source.target.safe} before the run ended; "
                                  "nothing was written")
        return summary
