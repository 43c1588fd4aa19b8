"""What every job is: validated on construction (before any model loads), then ``run(derainer)``."""
from __future__ import annotations

import os
from typing import Any

from rainstream.errors import RainstreamError
from rainstream.pipeline.config import PipelineSettings, RunConfig
from rainstream.pipeline.runner import FrameLimit, Runner, RunSummary


QUEUE_BYTES = 96 * 2**20  # frames in each runner queue, by size (see ``make_runner``)


def make_runner(derainer: Any, p: PipelineSettings, *, live: bool = False, limit: FrameLimit | None = None,
                report_every: float | None = None, progress: bool | None = None, info: Any = None,
                bar: Any = None) -> Runner:
    """The runner for pipeline settings ``p`` (``progress`` None: the config's): every job and every
    Ray part gets its runner here. Unless ``queue_frames`` is set, the queues of large frames (those
    of a video with this ``info``) hold fewer of them: at 4K eight decoded plus eight derained frames
    are ~400 MB that buy no speed."""
    queue = p.queue_for(live)
    if p.queue_frames is None and info is not None:
        frame_bytes = info.width * info.height * 3 * (2 if info.high_bit_depth else 1)
        queue = min(queue, max(2, QUEUE_BYTES // frame_bytes))
    return Runner(derainer, batch=p.batch, queue_frames=max(queue, p.batch), live=live, limit=limit,
                  progress=p.progress if progress is None else progress, report_every=report_every,
                  progress_every=p.report_every, bar=bar)


class Interrupted(RainstreamError):
    """Stopped by Ctrl-C/SIGTERM; the output holds the frames done so far."""

    exit_code = 130


class Job:
    """One input to one output. The constructor classifies nothing (``dispatch`` did) but validates
    the input and the output once, so bad paths fail with one line before the model is loaded;
    ``run`` does the work through the one ``Runner``. A job is a context manager (``close``)."""

    kind = "job"
    loads_model = False  # True: the job loads the model where it runs (Ray workers); pass no derainer
    progress_bar = None  # a bar shared with other jobs (many files), else the runner makes one

    def __init__(self, input: Any, output: str | os.PathLike, config: RunConfig):
        self.input = os.fspath(input) if isinstance(input, (str, os.PathLike)) else input
        self.output = os.fspath(output)
        self.config = config

    def run(self, derainer: Any) -> RunSummary:
        raise NotImplementedError

    def runner(self, derainer: Any, *, live: bool = False, limit: FrameLimit | None = None,
               report_every: float | None = None, progress: bool | None = None, info: Any = None) -> Runner:
        """The runner with this job's pipeline settings (``progress`` None: the config's)."""
        return make_runner(derainer, self.config.pipeline, live=live, limit=limit, report_every=report_every,
                           progress=progress, info=info, bar=self.progress_bar)

    def close(self) -> None:
        """Release what validation kept open (nothing, for most jobs)."""

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
