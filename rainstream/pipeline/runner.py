"""The one runner: source thread -> queue -> batcher + engine (one batch in flight) -> sink thread.

Every job (video file, images and folders, live recording and re-publishing, ``rainstream.stream``)
runs here, so threads, queues, error hand-off, Ctrl-C and the summary exist once:

- One reader thread iterates the source into a bounded queue. Files block when it is full (memory
  stays flat, nothing is lost); live mode never blocks the camera: the OLDEST queued frame is dropped
  instead, so latency stays bounded however slow the engine is.
- The caller's thread groups frames of one size into batches and keeps ONE batch in flight on the
  engine: batch k+1 is submitted before batch k's result is collected, so on CUDA the copies of one
  batch overlap the compute of the next. In live mode a batch that is already finished is never held
  back waiting for the camera (latency first).
- ``run()`` hands derained frames to a writer thread that feeds the sink; ``frames()`` yields them to
  the caller instead (``rainstream.stream``).
- The first exception in any thread stops every stage and is re-raised in the caller. Ctrl-C/SIGTERM
  (``rainstream.signals``) stop reading, finish the batch in flight and let the job close its output;
  a second one aborts.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from loguru import logger

from rainstream.frames import Frame
from rainstream.log import counted
from rainstream.pipeline.queues import END, BlockingQueue, DropOldestQueue, Failure
from rainstream.pipeline.stats import LatencyStats, LatencySummary
from rainstream.progress import progress_bar
from rainstream.signals import StopOnSignal

READER_JOIN_S = 10.0  # how long a finished run waits for the reader thread to return from a read


@dataclass
class RunSummary:
    """What a job did. ``frames``: frames in the output; ``new_frames``: derained by this run (fewer
    than ``frames`` after a resume); ``engine_seconds``: time the runner spent in the engine."""

    output: str
    frames: int
    new_frames: int
    seconds: float
    engine_seconds: float
    interrupted: bool = False
    dropped: int = 0  # live mode: frames dropped because the engine was behind
    reconnects: int = 0  # live sources
    latency: LatencySummary | None = None  # live mode: capture -> derained

    @property
    def fps(self) -> float:
        return self.new_frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def engine_busy(self) -> float:
        return self.engine_seconds / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        text = (f"{counted(self.new_frames, 'frame')} in {self.seconds:.1f} s ({self.fps:.2f} fps), "
                f"engine busy {self.engine_busy:.0%}")
        if self.latency is not None:
            text += f", {self.reconnects} reconnect(s); {self.latency.line()}"
        elif self.dropped:
            text += f", {self.dropped} dropped"
        return f"{text} -> {self.output}"


@dataclass(frozen=True)
class FrameLimit:
    """Where to stop reading: after ``frames`` frames and/or ``seconds`` of input, or at the first
    frame at or after ``before_pts`` (a file's part ends where the next part starts).

    Files count ``seconds`` on their own timeline from ``start_time`` (the first frame's time) and
    ``frames`` by frame index, so a resumed job stops where the first run would have; live sources
    count wall-clock seconds from the start of the run, camera up or down.
    """

    frames: int | None = None
    seconds: float | None = None
    start_time: float | None = None
    wall_clock: bool = False
    before_pts: int | None = None
    since: float | None = None  # wall clock: count from this time.monotonic() (the job's start), not the run's

    def reached(self, frame: Frame, read: int, started: float) -> bool:
        """Is ``frame`` (the ``read``-th of this run) past the limit?"""
        started = self.since if self.since is not None else started
        if self.before_pts is not None and frame.pts is not None and frame.pts >= self.before_pts:
            return True
        if self.frames is not None and (read if self.wall_clock else frame.index) >= self.frames:
            return True
        if self.seconds is None:
            return False
        if self.wall_clock:
            return time.monotonic() - started >= self.seconds
        return frame.time is not None and frame.time - (self.start_time or 0.0) >= self.seconds

    def deadline_passed(self, started: float) -> bool:
        started = self.since if self.since is not None else started
        return self.wall_clock and self.seconds is not None and time.monotonic() - started >= self.seconds


class ReadyBatch:
    """A batch an engine without ``submit`` derained at once (e.g. a plain ``derain_images`` object)."""

    def __init__(self, outputs: list):
        self._outputs = outputs

    def done(self) -> bool:
        return True

    def result(self) -> list:
        return self._outputs


def engine_submit(engine: Any) -> Callable[[list], Any]:
    """``engine.submit`` (a ``Derainer``: work queued, result later) or ``derain_images`` wrapped as done."""
    submit = getattr(engine, "submit", None)
    if submit is not None:
        return submit
    return lambda images: ReadyBatch(engine.derain_images(images))


class _Stop:
    """Shared stop state: the first failure wins; an interrupt or a reached limit is an orderly stop."""

    def __init__(self) -> None:
        self.failed = threading.Event()
        self.interrupted = threading.Event()  # Ctrl-C / SIGTERM
        self.finished = threading.Event()  # a limit was reached, or the consumer left
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.failed.set()

    @property
    def hard(self) -> bool:
        """Stop moving items at all: a stage failed or the consumer is gone."""
        return self.failed.is_set() or self.finished.is_set()

    @property
    def stopping(self) -> bool:
        return self.hard or self.interrupted.is_set()


class Batcher:
    """Groups consecutive frames of one size into lists of up to ``size`` (the engine stacks them).

    ``take(block)`` returns a Frame, ``END``, or None when nothing is waiting (``block=False``). A
    frame of another size closes the current batch and opens the next. With ``fill`` a batch waits
    for ``size`` frames (files: throughput); without, it takes only what is already queued (live).
    """

    def __init__(self, take: Callable[[bool], Any], size: int, fill: bool = True):
        self.take, self.size, self.fill = take, size, fill
        self._carry: Any = None

    def next(self, block: bool = True) -> list[Frame] | Any:
        """A batch, ``END``, or None (nothing waiting and ``block=False``)."""
        first = self._carry if self._carry is not None else self.take(block)
        self._carry = None
        if first is None or first is END or isinstance(first, Failure):
            return END if first is None and block else first
        batch = [first]
        while len(batch) < self.size:
            item = self.take(self.fill)
            if item is None:
                break
            if item is END or isinstance(item, Failure) or item.image.shape != first.image.shape:
                self._carry = item
                break
            batch.append(item)
        return batch


class Runner:
    """Runs frames of a source through an engine; see the module docstring.

    ``engine``: a ``Derainer`` (or anything with ``submit``/``derain_images``); ``submit`` overrides
    how a batch of images is handed to it. ``queue_frames`` bounds each queue; ``limit`` ends the
    input early; ``progress`` reports frames done (``run`` only: a bar on a terminal, a line every
    ``progress_every`` seconds elsewhere; ``bar``: an existing bar to count on instead, e.g. one over
    many files); ``report_every`` logs live latency.
    """

    def __init__(self, engine: Any, *, batch: int = 1, queue_frames: int = 8, live: bool = False,
                 limit: FrameLimit | None = None, progress: bool = False, report_every: float | None = None,
                 submit: Callable[[list], Any] | None = None, progress_every: float = 10.0, bar: Any = None):
        self.submit = submit or engine_submit(engine)
        self.bar = bar
        self.batch = batch
        self.queue_frames = max(queue_frames, 1)
        self.live = live
        self.limit = limit
        self.progress = progress
        self.report_every = report_every
        self.progress_every = progress_every
        self.stats = LatencyStats()
        self.engine_seconds = 0.0
        self.limited = False  # the source was cut short by ``limit``
        self.stop = _Stop()

    # --------------------------------------------------------------------------------- frames out
    def frames(self, source) -> Iterator[tuple[Frame, Any]]:
        """Yield ``(frame, derained image)`` in order, in the caller's thread; leaving early stops the source."""
        stop = self.stop
        started = time.monotonic()

        def hard() -> bool:
            if self.limit is not None and self.limit.deadline_passed(started):
                stop.finished.set()  # a live run's wall-clock bound holds while the camera is down too
            return stop.hard

        if self.live:
            q: Any = DropOldestQueue(self.queue_frames)
            take = lambda block: q.take(block, hard)  # noqa: E731
        else:
            q = BlockingQueue(self.queue_frames, hard)
            take = q.take
        reader = threading.Thread(target=self._read, args=(source, q, started), name="rainstream-source",
                                  daemon=True)
        reader.start()
        batcher = Batcher(take, self.batch, fill=not self.live)
        pending: tuple[list[Frame], Any] | None = None
        try:
            while True:
                if stop.interrupted.is_set() or hard():
                    break
                # Live: never wait for the camera while a derained batch is ready to go out.
                batch = batcher.next(block=pending is None or not self.live)
                if batch is None:
                    yield from self._collect(pending)
                    pending = None
                    continue
                if batch is END:
                    break
                if isinstance(batch, Failure):
                    raise batch.exc
                submitted = self._submit(batch)
                if pending is not None:
                    yield from self._collect(pending)  # batch k after batch k+1 was submitted
                pending = (batch, submitted)
                if self.live and submitted.done():
                    yield from self._collect(pending)
                    pending = None
            if pending is not None and not stop.failed.is_set():
                yield from self._collect(pending)
                pending = None
        finally:
            stop.finished.set()
            interrupt = getattr(source, "interrupt", None)
            if interrupt is not None:
                interrupt()
            give_up = time.monotonic() + READER_JOIN_S
            while reader.is_alive():
                q.drain()  # a reader blocked on a full queue sees the stop flag
                reader.join(0.05)
                if time.monotonic() > give_up:  # a read stuck in FFmpeg despite the teardown
                    logger.warning("the source's reader is still blocked; leaving it behind")
                    break

    def _read(self, source, q, started: float) -> None:
        """The one reader thread: source -> queue, then END (or the source's exception)."""
        stop = self.stop
        read = 0
        item: Any = END
        try:
            for frame in source:
                if stop.stopping:
                    break
                if self.limit is not None and self.limit.reached(frame, read, started):
                    self.limited = True
                    break
                read += 1
                if self.live:
                    self.stats.arrived(dropped=q.put(frame))
                else:
                    self.stats.arrived()
                    if not q.put(frame):
                        break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            item = Failure(exc)
        q.put(item)  # markers are never dropped; a blocking put gives up only if the consumer left

    def _submit(self, batch: list[Frame]):
        t = time.perf_counter()
        submitted = self.submit([f.image for f in batch])
        self.engine_seconds += time.perf_counter() - t
        return submitted

    def _collect(self, pending) -> Iterator[tuple[Frame, Any]]:
        batch, submitted = pending
        t = time.perf_counter()
        outputs = submitted.result()
        self.engine_seconds += time.perf_counter() - t
        if len(outputs) != len(batch):
            raise RuntimeError(f"engine returned {len(outputs)} images for {len(batch)}")
        now = time.monotonic()
        for frame, image in zip(batch, outputs):
            self.stats.done(now - frame.captured_at)
            yield frame, image

    # ----------------------------------------------------------------------------------- to a sink
    def run(self, source, sink, *, total: int | None = None, initial: int = 0,
            on_interrupt: Callable[[], None] | None = None,
            interrupt_action: str = "finishing the frames in flight and closing the output") -> RunSummary:
        """Derain ``source`` into ``sink`` (written from a writer thread). The caller closes or aborts
        the sink; the first exception of any stage is raised here. The summary counts this run's
        frames; the job fills in its output's name and totals."""
        stop = self.stop
        out = BlockingQueue(self.queue_frames, lambda: stop.failed.is_set())
        bar = self.bar if self.bar is not None else progress_bar(total, "derain", "frame", initial=initial,
                                                                 enabled=self.progress, every=self.progress_every)
        written = [0]

        def write() -> None:
            next_report = time.monotonic() + (self.report_every or 0)
            try:
                while True:
                    item = out.take()
                    if item is END or item is None:
                        return
                    sink.write(item)
                    written[0] += 1
                    bar.update(1)
                    if self.report_every and time.monotonic() >= next_report:
                        logger.info(self.stats.summary().line())
                        next_report = time.monotonic() + self.report_every
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                stop.fail(exc)

        def on_signal() -> None:
            interrupt = getattr(source, "interrupt", None)
            if self.live and interrupt is not None:
                interrupt()  # a camera may be silent: do not wait for its next frame
            if on_interrupt is not None:
                on_interrupt()

        writer = threading.Thread(target=write, name="rainstream-sink", daemon=True)
        t0 = time.perf_counter()
        with StopOnSignal(stop.interrupted, interrupt_action + " (press again to abort)", on_stop=on_signal):
            writer.start()
            try:
                for frame, image in self.frames(source):
                    if not out.put(dataclasses.replace(frame, image=image)):
                        break
            except BaseException as exc:  # noqa: BLE001
                stop.fail(exc)
            finally:
                out.put(END)
                writer.join()
                if bar is not self.bar:
                    bar.close()
        if stop.error is not None:
            raise stop.error
        latency = self.stats.summary() if self.live else None
        return RunSummary(output="", frames=written[0], new_frames=written[0], seconds=time.perf_counter() - t0,
                          engine_seconds=self.engine_seconds, interrupted=stop.interrupted.is_set(),
                          dropped=self.stats.dropped, latency=latency)
