"""The video job: source thread -> bounded queue -> batcher + engine -> bounded queue -> sink thread.

Decode, inference and encode overlap, so the engine (the expensive part) never waits on I/O, and the
bounded queues keep memory flat however long the input. The first exception in any stage stops all
of them and is re-raised in the caller. Ctrl-C/SIGTERM stop after the batch in flight, flush the
encoder and leave a playable output with the frames done so far (``Interrupted``, exit code 130);
the segment journal lets ``resume=True`` continue such a job, or one that crashed, where it stopped.

Python API::

    from rainstream.pipeline import derain_video, derain_path, PipelineOptions
    summary = derain_video("in.mp4", "out.mp4", derainer, PipelineOptions(batch=4))
"""
from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from loguru import logger
from tqdm import tqdm

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.signals import StopOnSignal
from rainstream.io import is_live_spec
from rainstream.io.assemble import assemble, temp_path_for
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.file_source import FileSource
from rainstream.io.images import is_image_path, list_images, read_image, write_image
from rainstream.io.journal import Journal, input_signature
from rainstream.io.segment_sink import SegmentSink


class ImageDerainer(Protocol):
    """What the pipeline needs from an engine (``rainstream.engine.Derainer`` satisfies it)."""

    def derain_images(self, images: list) -> list: ...


class Interrupted(RainstreamError):
    """Stopped by Ctrl-C/SIGTERM; the output holds the frames done so far."""

    exit_code = 130


@dataclass(frozen=True)
class PipelineOptions:
    batch: int = 1  # frames per engine call
    queue_frames: int = 8  # capacity of each inter-stage queue (bounds memory)
    resume: bool = False  # continue an interrupted job from its journal
    live: bool = False  # drop the oldest queued frame instead of blocking (bounded latency)
    progress: bool = True  # tqdm bar on a terminal
    allow_missing_frames: bool = False  # write the output even if some input frames did not decode
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    engine_signature: dict = field(default_factory=dict)  # model/tiling settings; resume must match


@dataclass
class RunSummary:
    output: str
    frames: int  # frames in the output
    new_frames: int  # frames derained by this run (less than ``frames`` after a resume)
    seconds: float
    engine_seconds: float
    interrupted: bool = False
    dropped: int = 0  # live mode only: frames dropped because the engine was behind

    @property
    def fps(self) -> float:
        return self.new_frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def engine_busy(self) -> float:
        return self.engine_seconds / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.new_frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps), "
                f"engine busy {self.engine_busy:.0%}" + (f", {self.dropped} dropped" if self.dropped else "")
                + f" -> {self.output}")


# ------------------------------------------------------------------------------------------------
# Stage plumbing
# ------------------------------------------------------------------------------------------------
_END = object()  # end-of-stream marker passed down the queues
_POLL_S = 0.05


class _Stop:
    """Shared stop state: the first failure wins; an interrupt is a softer, orderly stop."""

    def __init__(self) -> None:
        self.failed = threading.Event()
        self.interrupted = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.failed.set()

    @property
    def stopping(self) -> bool:
        return self.failed.is_set() or self.interrupted.is_set()


def _put(q: queue.Queue, item: Any, stop: _Stop, force: bool = False) -> bool:
    """Blocking put that gives up when a stage failed (or, unless ``force``, on interrupt)."""
    while True:
        if stop.failed.is_set() or (not force and stop.interrupted.is_set()):
            return False
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: _Stop) -> Any:
    """Blocking get; returns ``_END`` if a stage failed."""
    while True:
        if stop.failed.is_set():
            return _END
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def _put_drop_oldest(q: queue.Queue, item: Any) -> int:
    """Live mode: never block the camera; evict the oldest frame instead. Returns frames dropped."""
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()
                dropped += 1
            except queue.Empty:
                pass


def batches(next_frame: Callable[[], Any], size: int) -> Iterator[list[Frame]]:
    """Group consecutive frames of the same size into lists of up to ``size``.

    ``next_frame()`` returns a Frame or ``_END``. A frame of a new size closes the current batch and
    starts the next one, so the engine always gets stackable images.
    """
    pending: Frame | None = None
    while True:
        first = pending if pending is not None else next_frame()
        pending = None
        if first is _END:
            return
        batch = [first]
        shape = first.image.shape
        while len(batch) < size:
            frame = next_frame()
            if frame is _END:
                yield batch
                return
            if frame.image.shape != shape:
                pending = frame
                break
            batch.append(frame)
        yield batch


# ------------------------------------------------------------------------------------------------
# Job setup: paths, journal
# ------------------------------------------------------------------------------------------------
def work_dir_for(output: str) -> str:
    folder, name = os.path.split(os.path.abspath(output))
    return os.path.join(folder, f".{name}.rainstream-work")


def _check_output(input_path: str | None, output: str) -> None:
    out_abs = os.path.abspath(output)
    if input_path and os.path.exists(input_path) and os.path.abspath(input_path) == out_abs:
        raise RainstreamError("output must not overwrite the input")
    folder = os.path.dirname(out_abs)
    if not os.path.isdir(folder):
        raise RainstreamError(f"output folder does not exist: {folder}")
    if os.path.isdir(out_abs):
        raise RainstreamError(f"output is a folder, expected a video file name: {output}")
    probe = temp_path_for(output)
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        raise RainstreamError(f"cannot write to the output folder {folder}: {exc.strerror or exc}") from None
    try:
        import av

        av.open(probe, "w").close()  # does FFmpeg know a container for this extension?
    except (ValueError, av.error.FFmpegError, OSError) as exc:
        msg = getattr(exc, "strerror", None) or str(exc)
        raise RainstreamError(f"cannot write {output}: {msg} (is the extension a video container, "
                              "e.g. .mp4, .mkv, .mov?)") from None
    finally:
        if os.path.exists(probe):
            os.remove(probe)


def _prepare_journal(work_dir: str, input_path: str | None, options: PipelineOptions) -> Journal:
    signature = input_signature(input_path) if input_path else {}
    job_options = {"encode": dataclasses.asdict(options.encode), "engine": options.engine_signature}
    job_options = _jsonable(job_options)
    existing = Journal.load(work_dir) if os.path.isdir(work_dir) else None
    if options.resume and existing is not None:
        if existing.input_signature != signature:
            raise RainstreamError("cannot resume: the input file changed since the interrupted run; "
                                  "run again without --resume to start over")
        if existing.options != job_options:
            raise RainstreamError("cannot resume: model or encoding options differ from the "
                                  "interrupted run; use the same options, or drop --resume")
        missing = [s.file for s in existing.segments if not os.path.exists(os.path.join(work_dir, s.file))]
        if missing:
            raise RainstreamError(f"cannot resume: segment files missing from {work_dir}: {missing[:3]}")
        logger.info(f"resuming: {existing.frames_done} frames already done, continuing after pts "
                    f"{existing.last_pts}")
        return existing
    if options.resume:
        logger.info("nothing to resume for this output; starting from the beginning")
    elif os.path.isdir(work_dir):
        logger.info("discarding an earlier unfinished job for this output (use --resume to continue it)")
    try:
        if os.path.isdir(work_dir):
            shutil.rmtree(work_dir)
        os.makedirs(work_dir)
    except OSError as exc:
        raise RainstreamError(f"cannot create the work folder {work_dir}: {exc.strerror or exc}") from None
    journal = Journal(input_signature=signature, options=job_options)
    journal.save(work_dir)
    return journal


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------------------------------------
# The job
# ------------------------------------------------------------------------------------------------
def derain_video(input: Any, output: str, derainer: ImageDerainer,
                 options: PipelineOptions = PipelineOptions()) -> RunSummary:
    """Derain ``input`` (a video path, or any source object) into ``output``.

    Raises ``RainstreamError`` for bad input/options, ``Interrupted`` after Ctrl-C/SIGTERM (the
    output then holds the frames done so far), or the first exception raised by any stage.
    """
    if options.batch < 1:
        raise RainstreamError("batch must be >= 1")
    options.encode.validate()
    input_path = os.fspath(input) if isinstance(input, (str, os.PathLike)) else None
    output = os.fspath(output)
    _check_output(input_path, output)
    work_dir = work_dir_for(output)
    if input_path is not None:
        FileSource(input_path).close()  # validate the input before touching any work dir
    journal = _prepare_journal(work_dir, input_path, options)
    done_before = journal.frames_done
    if input_path is not None:
        source = FileSource(input_path, start_after_pts=journal.last_pts, first_index=done_before)
    else:
        source = input
    with source:
        sink = SegmentSink(work_dir, source.info, options.encode, journal)
        result = _run_stages(source, sink, derainer, options, done_before)
    summary = RunSummary(output=output, frames=journal.frames_done, new_frames=result["frames"],
                         seconds=result["seconds"], engine_seconds=result["engine_seconds"],
                         interrupted=result["interrupted"], dropped=result["dropped"])
    report = getattr(source, "report", None)
    segments = [(os.path.join(work_dir, s.file), s.offset_seconds) for s in journal.segments]
    passthrough = input_path
    if summary.interrupted:
        if not segments:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise Interrupted("interrupted before any frame was finished; no output written")
        end = _end_time(journal, source.info)
        assemble(segments, output, passthrough, audio_end_time=end)
        logger.info(summary.line())
        raise Interrupted(f"interrupted: {output} is playable and holds the first {journal.frames_done} "
                          "frames; run the same command with --resume to finish it")
    if report is not None and report.missing:
        tb = source.info.time_base
        shown = ", ".join(f"{float(p * tb):.3f}s" for p in report.missing_pts[:10])
        what = f"{report.missing} input frame(s) could not be decoded (at {shown})"
        if not options.allow_missing_frames:
            raise RainstreamError(f"{what}; the output would miss them, so it was not written "
                                  "(pass --allow-missing-frames to write it anyway)")
        logger.warning(f"{what}; the output misses them")
    assemble(segments, output, passthrough)
    shutil.rmtree(work_dir, ignore_errors=True)
    logger.info(summary.line())
    return summary


def _end_time(journal: Journal, info) -> float | None:
    """End of the last written frame, in seconds, to trim passthrough audio of a partial output."""
    last = journal.last_pts
    if last is None:
        return None
    frame_s = float(1 / info.rate) if info.rate else 0.0
    return float(last * info.time_base) + frame_s


def _run_stages(source, sink: SegmentSink, derainer: ImageDerainer, options: PipelineOptions,
                done_before: int) -> dict:
    stop = _Stop()
    q_in: queue.Queue = queue.Queue(maxsize=max(options.queue_frames, options.batch))
    q_out: queue.Queue = queue.Queue(maxsize=max(options.queue_frames, options.batch))
    counters = {"dropped": 0, "written": 0}
    total = getattr(source.info, "frame_count", None)
    bar = tqdm(total=total, initial=done_before, unit="frame", dynamic_ncols=True,
               disable=None if options.progress else True, smoothing=0.1)

    def produce() -> None:
        try:
            for frame in source:
                if stop.stopping:
                    break
                if options.live:
                    counters["dropped"] += _put_drop_oldest(q_in, frame)
                elif not _put(q_in, frame, stop):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            stop.fail(exc)
        finally:
            _put(q_in, _END, stop, force=True)

    def consume() -> None:
        try:
            while True:
                item = _get(q_out, stop)
                if item is _END:
                    break
                sink.write(item)
                counters["written"] += 1
                bar.update(1)
            if not stop.failed.is_set():
                sink.close()
        except BaseException as exc:  # noqa: BLE001
            stop.fail(exc)

    producer = threading.Thread(target=produce, name="rainstream-source", daemon=True)
    consumer = threading.Thread(target=consume, name="rainstream-sink", daemon=True)
    engine_s = 0.0
    t0 = time.perf_counter()
    with StopOnSignal(stop.interrupted, "finishing the frames in flight and closing the output "
                                        "(press again to abort)"):
        producer.start()
        consumer.start()
        try:
            for batch in batches(lambda: _get(q_in, stop), options.batch):
                if stop.stopping:
                    break
                t = time.perf_counter()
                outputs = derainer.derain_images([f.image for f in batch])
                engine_s += time.perf_counter() - t
                if len(outputs) != len(batch):
                    raise RuntimeError(f"engine returned {len(outputs)} images for {len(batch)}")
                for frame, image in zip(batch, outputs):
                    if not _put(q_out, dataclasses.replace(frame, image=image), stop, force=True):
                        break
        except BaseException as exc:  # noqa: BLE001
            stop.fail(exc)
        finally:
            _put(q_out, _END, stop, force=True)
            _drain_until_done(producer, q_in)
            consumer.join()
            bar.close()
    seconds = time.perf_counter() - t0
    if stop.error is not None:
        sink.abort()
        raise stop.error
    return {"frames": counters["written"], "seconds": seconds, "engine_seconds": engine_s,
            "interrupted": stop.interrupted.is_set(), "dropped": counters["dropped"]}


def _drain_until_done(thread: threading.Thread, q: queue.Queue) -> None:
    """Let a producer blocked on a full queue see the stop flag and exit."""
    while thread.is_alive():
        try:
            q.get_nowait()
        except queue.Empty:
            pass
        thread.join(timeout=_POLL_S)


# ------------------------------------------------------------------------------------------------
# Images and folders (the still-image face of ``rainstream run``)
# ------------------------------------------------------------------------------------------------
def check_job(input: str, output: str, options: PipelineOptions = PipelineOptions()) -> None:
    """Cheap up-front validation (paths, file type, options) so bad input fails before model loading."""
    input, output = os.fspath(input), os.fspath(output)
    options.encode.validate()
    if is_live_spec(input):
        from rainstream.io.live_connection import resolve_target
        from rainstream.io.live_sink import check_live_output

        resolve_target(input)  # unknown scheme, missing webcam: fail before loading the model
        check_live_output(output)
        return
    if not os.path.exists(input):
        raise RainstreamError(f"input not found: {input}")
    if os.path.isdir(input):
        if not list_images(input):
            raise RainstreamError(f"no images in folder {input}")
        if os.path.exists(output) and not os.path.isdir(output):
            raise RainstreamError(f"input is a folder, so the output must be a folder: {output}")
        return
    if is_image_path(input):
        read_image(input)
        return
    _check_output(input, output)
    FileSource(input).close()


def derain_path(input: str, output: str, derainer: ImageDerainer,
                options: PipelineOptions = PipelineOptions()):
    """Dispatch on the input: a stream URL/webcam, a folder of images, one image, or a video."""
    input, output = os.fspath(input), os.fspath(output)
    if is_live_spec(input):
        # One live path for the CLI and the API: reconnects, drop-oldest queue, crash-safe sink.
        from rainstream.io.live_run import derain_live

        return derain_live(input, output, derainer, encode=options.encode)
    if os.path.isdir(input):
        return derain_image_folder(input, output, derainer)
    if is_image_path(input):
        return derain_image(input, output, derainer)
    return derain_video(input, output, derainer, options)


def derain_image(input: str, output: str, derainer: ImageDerainer) -> RunSummary:
    if os.path.isdir(output):
        output = os.path.join(output, os.path.basename(input))
    if os.path.abspath(input) == os.path.abspath(output):
        raise RainstreamError("output must not overwrite the input")
    if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise RainstreamError(f"output folder does not exist: {os.path.dirname(output)}")
    image = read_image(input)
    t0 = time.perf_counter()
    (restored,) = derainer.derain_images([image])
    seconds = time.perf_counter() - t0
    write_image(output, restored)
    summary = RunSummary(output=output, frames=1, new_frames=1, seconds=seconds, engine_seconds=seconds)
    logger.info(summary.line())
    return summary


def derain_image_folder(input: str, output: str, derainer: ImageDerainer) -> RunSummary:
    """Every image in ``input`` to the same name in ``output`` (created if needed)."""
    paths = list_images(input)
    if not paths:
        raise RainstreamError(f"no images in folder {input}")
    if os.path.abspath(input) == os.path.abspath(output):
        raise RainstreamError("output folder must differ from the input folder")
    try:
        os.makedirs(output, exist_ok=True)
    except OSError as exc:
        raise RainstreamError(f"cannot create output folder {output}: {exc.strerror or exc}") from None
    t0 = time.perf_counter()
    engine_s = 0.0
    for path in tqdm(paths, unit="image", disable=None):
        image = read_image(path)
        t = time.perf_counter()
        (restored,) = derainer.derain_images([image])
        engine_s += time.perf_counter() - t
        write_image(os.path.join(output, os.path.basename(path)), restored)
    summary = RunSummary(output=output, frames=len(paths), new_frames=len(paths),
                         seconds=time.perf_counter() - t0, engine_seconds=engine_s)
    logger.info(summary.line())
    return summary
