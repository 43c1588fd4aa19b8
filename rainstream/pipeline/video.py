"""The video file job: decode -> derain -> numbered segments + journal -> remux with the input's audio.

Decode, inference and encode overlap in the runner's threads, so the engine never waits on I/O, and
bounded queues keep memory flat however long the input. Ctrl-C/SIGTERM stop after the batch in
flight, flush the encoder and leave a playable output with the frames done so far (``Interrupted``,
exit code 130); the segment journal lets ``resume`` continue such a job, or one that crashed, where it
stopped. The input is opened once to probe it (when the job is made, before the model loads), once to
decode it, and once more at the end to copy its audio and subtitles into the output.
"""
from __future__ import annotations

import dataclasses
import os
import shutil

from loguru import logger

from rainstream.errors import DiskFull, RainstreamError
from rainstream.io.assemble import assemble, temp_path_for
from rainstream.io.disk import disk_full_error, is_disk_full
from rainstream.io.file_source import FileSource
from rainstream.io.gif_sink import GifSink
from rainstream.io.images import ImageSink, is_image_path
from rainstream.io.journal import Journal, input_signature
from rainstream.io.output_plan import GIF, IMAGES, is_sequence_pattern, plan_output, try_output
from rainstream.io.segment_sink import SegmentSink
from rainstream.log import counted
from rainstream.pipeline.config import RunConfig, resume_identity
from rainstream.pipeline.job import Interrupted, Job
from rainstream.pipeline.missing import check_missing_frames
from rainstream.pipeline.runner import FrameLimit, RunSummary


def work_dir_for(output: str) -> str:
    """The hidden folder next to ``output`` that holds its segments and journal while the job runs."""
    folder, name = os.path.split(os.path.abspath(output))
    return os.path.join(folder, f".{name}.rainstream-work")


def check_video_output(input_path: str | None, output: str) -> None:
    """Fail before any work when ``output`` cannot be written or FFmpeg has no container for it
    (whether the encoder fits the container is ``try_output``'s trial, once the input is known)."""
    out_abs = os.path.abspath(output)
    if input_path and os.path.exists(input_path) and os.path.abspath(input_path) == out_abs:
        raise RainstreamError("output must not overwrite the input")
    folder = os.path.dirname(out_abs)
    if not os.path.isdir(folder):
        raise RainstreamError(f"output folder does not exist: {folder}")
    if os.path.isdir(out_abs):
        raise RainstreamError(f"output is a folder, expected a video file name or numbered images "
                              f"such as {os.path.join(output, 'frame_%05d.png')}: {output}")
    if is_sequence_pattern(output) or is_image_path(output):
        return  # numbered stills: the trial writes one
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


def prepare_journal(work_dir: str, input_path: str | None, identity: dict, resume: bool) -> Journal:
    """The journal to continue (``resume`` and it matches this input and settings) or a fresh one."""
    signature = input_signature(input_path) if input_path else {}
    existing = Journal.load(work_dir) if os.path.isdir(work_dir) else None
    if resume and existing is not None:
        if existing.input_signature != signature:
            raise RainstreamError("cannot resume: the input file changed since the interrupted run; "
                                  "run again without `resume` to start over")
        if existing.options != identity:
            raise RainstreamError("cannot resume: model or encoding settings differ from the "
                                  "interrupted run; use the same settings, or drop `resume`")
        missing = [s.file for s in existing.segments if not os.path.exists(os.path.join(work_dir, s.file))]
        if missing:
            raise RainstreamError(f"cannot resume: segment files missing from {work_dir}: {missing[:3]}")
        logger.info(f"resuming: {existing.frames_done} frames already done, continuing after pts "
                    f"{existing.last_pts}")
        return existing
    if resume:
        logger.info("nothing to resume for this output; starting from the beginning")
    elif os.path.isdir(work_dir):
        logger.info("discarding an earlier unfinished job for this output (use `resume` to continue it)")
    try:
        if os.path.isdir(work_dir):
            shutil.rmtree(work_dir)
        os.makedirs(work_dir)
    except OSError as exc:
        raise RainstreamError(f"cannot create the work folder {work_dir}: {exc.strerror or exc}") from None
    journal = Journal(input_signature=signature, options=identity)
    try:
        journal.save(work_dir)
    except OSError as exc:
        shutil.rmtree(work_dir, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full_error("starting the job", work_dir, None) from None
        raise RainstreamError(f"cannot write to the work folder {work_dir}: {exc.strerror or exc}") from None
    return journal


class VideoJob(Job):
    """A video file (or any source object with ``info``) into a video file with the same timing,
    audio, subtitles, colour tags and rotation."""

    kind = "video"

    def __init__(self, input, output, config: RunConfig):
        super().__init__(input, output, config)
        config.validate()
        self.input_path = self.input if isinstance(self.input, str) else None
        check_video_output(self.input_path, self.output)
        if self.input_path is not None:
            with FileSource(self.input_path) as probe:  # readable, has video, first frame decodes
                self.info = probe.info
        else:
            self.info = self.input.info
        self.plan = plan_output(self.output, self.info, config.encode)
        try_output(self.plan, self.info, config.encode)  # one black frame: refused combinations fail now
        logger.debug(f"output {self.output}: {self.plan.describe()}")
        if self.plan.note:
            logger.info(self.plan.note)

    def _source_and_limit(self, done_before: int, last_pts):
        p = self.config.pipeline
        if self.input_path is not None:
            source = FileSource(self.input_path, start_after_pts=last_pts, first_index=done_before)
        else:
            source = self.input
        limit = None
        if p.frames is not None or p.duration is not None:
            limit = FrameLimit(frames=p.frames, seconds=p.duration, start_time=self.info.start_time)
        total = self.info.frame_count
        if total is not None and p.frames is not None:
            total = min(total, p.frames)
        return source, limit, total

    def run(self, derainer) -> RunSummary:
        if self.plan.kind in (GIF, IMAGES):
            return self._run_one_pass(derainer)
        work_dir = work_dir_for(self.output)
        try:
            return self._run_segments(derainer, work_dir)
        except (Interrupted, DiskFull):
            raise  # the work folder is what `resume` continues
        except RainstreamError:
            shutil.rmtree(work_dir, ignore_errors=True)  # refused: nothing a resume could use
            raise

    def _run_one_pass(self, derainer) -> RunSummary:
        """GIF or numbered stills: written as frames come, no segments, so no resume."""
        if self.config.pipeline.resume:
            logger.info(f"{self.plan.describe()} cannot be resumed; starting from the beginning")
        source, limit, total = self._source_and_limit(0, None)
        runner = self.runner(derainer, limit=limit, info=self.info)
        if self.plan.kind == GIF:
            sink = GifSink(self.output, self.info)
        else:
            sink = ImageSink(lambda frame: self.plan.path % (frame.index + 1))
        with source:
            with sink:
                summary = runner.run(source, sink, total=total)
                if not summary.interrupted:
                    self._check_missing(source, None, runner.limited, written_upto=sink.last_pts)  # before the rename
        summary = dataclasses.replace(summary, output=self.output)
        if summary.interrupted:
            raise Interrupted(f"interrupted: {self.output} holds the first {counted(summary.frames, 'frame')}")
        logger.info(summary.line())
        return summary

    def _run_segments(self, derainer, work_dir: str) -> RunSummary:
        config, p = self.config, self.config.pipeline
        journal = prepare_journal(work_dir, self.input_path, resume_identity(config), p.resume)
        done_before = journal.frames_done
        source, limit, total = self._source_and_limit(done_before, journal.last_pts)
        runner = self.runner(derainer, limit=limit, info=self.info)
        with source:
            report = getattr(source, "report", None)
            lost = report.lost_pts if report is not None else None
            with SegmentSink(work_dir, source.info, config.encode, journal, plan=self.plan, lost_pts=lost) as sink:
                summary = runner.run(source, sink, total=total, initial=done_before)
        summary = dataclasses.replace(summary, output=self.output, frames=journal.frames_done)
        segments = [(os.path.join(work_dir, s.file), s.offset_seconds) for s in journal.segments]
        cut_short = summary.interrupted or runner.limited
        end = _end_time(journal, self.info) if cut_short else None
        if summary.interrupted:
            if not segments:
                shutil.rmtree(work_dir, ignore_errors=True)
                raise Interrupted("interrupted before any frame was finished; no output written")
            assemble(segments, self.output, self.input_path, audio_end_time=end)
            logger.info(summary.line())
            raise Interrupted(f"interrupted: {self.output} is playable and holds the first "
                              f"{counted(journal.frames_done, 'frame')}; run the same command with `resume` to finish it")
        self._check_missing(source, journal, cut_short)
        assemble(segments, self.output, self.input_path, audio_end_time=end)
        shutil.rmtree(work_dir, ignore_errors=True)
        logger.info(summary.line())
        return summary

    def _check_missing(self, source, journal: Journal | None, cut_short: bool, written_upto=None) -> None:
        """The missing-frames rule, the same for a resumed job as for an uninterrupted one: frames lost
        in finished segments come from the journal, the others from the source: up to the last frame
        written (``written_upto``) when a limit cut a one-pass GIF or stills run short, else to the end,
        with a truncated end counted too."""
        report = getattr(source, "report", None)
        lost = journal.lost_pts if journal is not None else []
        after = journal.last_pts if journal is not None else None
        ended_early = None
        if report is not None and (not cut_short or written_upto is not None):
            upto = written_upto if cut_short else None
            lost = [*lost, *report.lost_pts(after=after, upto=upto)]
            ended_early = None if cut_short else report.ended_early
        check_missing_frames(source.info, lost, ended_early, allow=self.config.pipeline.allow_missing_frames)


def _end_time(journal: Journal, info) -> float | None:
    """End of the last written frame, in seconds, to trim passthrough audio of a partial output."""
    last = journal.last_pts
    if last is None:
        return None
    frame_s = float(1 / info.rate) if info.rate else 0.0
    return float(last * info.time_base) + frame_s
