"""Many inputs into one output folder: several paths, folders of videos, globs, text files of inputs.

The inputs are expanded into single-input jobs (each output keeps its input's name, relative path
for folders walked with ``recursive``, and the extension of ``format`` or its own). Every file is
validated before the model loads; a file that fails (cannot be decoded, cannot be written) is
recorded and the others go on. One progress bar counts the frames of all files; the summary (file,
frames, fps, status) is logged as a table, written as JSON with ``report``, and ``SomeFailed`` is
raised at the end if any file failed. ``resume`` skips files already done (the output exists and no
work folder is left beside it) and continues unfinished videos from their journals. Without Ray
the files run one after another in this process; with ``ray.address`` ``ray_backend`` spreads them.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import threading
import time
from dataclasses import dataclass, field

from loguru import logger

from rainstream.errors import RainstreamError, SomeFailed
from rainstream.io.images import is_image_path, list_files, subfolders
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.job import Interrupted, Job
from rainstream.pipeline.video import work_dir_for
from rainstream.signals import StopOnSignal

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".flv", ".wmv",
                    ".mpg", ".mpeg", ".3gp", ".ogv", ".mxf", ".y4m")
LIST_EXTENSIONS = (".txt", ".list", ".lst")
GLOB_CHARS = "*?["


def is_video_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def is_list_file(spec: str) -> bool:
    """A text file naming one input per line."""
    return os.path.splitext(spec)[1].lower() in LIST_EXTENSIONS and os.path.isfile(spec)


def is_glob(spec: str) -> bool:
    return any(c in spec for c in GLOB_CHARS) and not os.path.exists(spec)


def folder_has_videos(folder: str, recursive: bool) -> bool:
    return any(is_video_path(p) for p in list_files(folder, recursive))


@dataclass
class FileResult:
    """One input of a many-input job. ``status``: done, failed, skipped (done by an earlier run),
    interrupted, or not started (after an interruption)."""

    input: str
    output: str
    status: str = "not started"
    frames: int = 0  # frames in the output
    new_frames: int = 0  # derained by this run (fewer after a resume)
    seconds: float = 0.0
    error: str | None = None

    @property
    def fps(self) -> float:
        return self.new_frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BatchSummary:
    """What a many-input job did, file by file."""

    output: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    interrupted: bool = False

    @property
    def frames(self) -> int:
        return sum(f.frames for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def new_frames(self) -> int:
        return sum(f.new_frames for f in self.files)

    @property
    def fps(self) -> float:
        return self.new_frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        states = ", ".join(f"{n} {s}" for s, n in counts.items())
        return (f"{len(self.files)} file(s): {states}; {self.new_frames} frames in {self.seconds:.1f} s "
                f"({self.fps:.2f} fps, {self.workers} worker(s)) -> {self.output}")

    def table(self) -> str:
        rows = [("file", "frames", "fps", "status")]
        for f in self.files:
            status = f.status if f.error is None else f"{f.status}: {f.error.splitlines()[0]}"
            rows.append((f.input, str(f.frames), f"{f.fps:.2f}" if f.seconds else "-", status))
        width = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}  {r[3]}" for r in rows)

    def to_dict(self) -> dict:
        return {"output": self.output, "seconds": round(self.seconds, 3), "workers": self.workers,
                "frames": self.frames, "new_frames": self.new_frames, "interrupted": self.interrupted,
                "files": [{**dataclasses.asdict(f), "fps": round(f.fps, 3)} for f in self.files]}


def expand_inputs(inputs: list[str], recursive: bool) -> list[tuple[str, str]]:
    """``(input path, output name relative to the output folder)`` for every file the inputs name:
    a folder gives its videos and images (sub-folders with ``recursive``), a glob its matches, a
    text file its lines (relative paths are relative to the text file; # starts a comment)."""
    found: list[tuple[str, str]] = []
    for spec in inputs:
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            files = [p for p in list_files(spec, recursive) if is_video_path(p) or is_image_path(p)]
            if not recursive and subfolders(spec):
                logger.info(f"{len(subfolders(spec))} sub-folder(s) of {spec} not entered "
                            "(set `recursive` to walk them)")
            found += [(p, os.path.relpath(p, spec)) for p in files]
        elif is_list_file(spec):
            base = os.path.dirname(os.path.abspath(spec))
            with open(spec, encoding="utf-8") as fh:
                lines = [line.strip() for line in fh]
            paths = [os.path.join(base, line) for line in lines if line and not line.startswith("#")]
            found += expand_inputs(paths, recursive)
        elif is_glob(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise RainstreamError(f"no file matches {spec}")
            found += expand_inputs(matches, recursive)
        else:
            found.append((spec, os.path.basename(spec)))
    return found


def output_name(relative: str, format: str | None) -> str:
    """``relative`` with the extension ``format`` when it applies to this kind of file (an image
    extension to images, any other to videos)."""
    if not format:
        return relative
    image_format = is_image_path("x." + format)
    if image_format != is_image_path(relative):
        return relative
    return os.path.splitext(relative)[0] + "." + format


def is_done(output: str) -> bool:
    """Finished by an earlier run: the output exists and no work folder is left beside it."""
    return os.path.isfile(output) and not os.path.isdir(work_dir_for(output))


class BatchJob(Job):
    """Many inputs into the folder ``output``; see the module docstring."""

    kind = "many"

    def __init__(self, input, output, config: RunConfig, open_job):
        """``open_job(input, output, config)``: the job of one file (``dispatch.open_job``)."""
        self.open_job = open_job
        inputs = [input] if isinstance(input, (str, os.PathLike)) else list(input)
        super().__init__(inputs, output, config)
        config.validate()
        if any(not isinstance(i, (str, os.PathLike)) for i in inputs):
            raise RainstreamError("many inputs must all be paths (files, folders, globs or text files)")
        if os.path.exists(self.output) and not os.path.isdir(self.output):
            raise RainstreamError(f"with many inputs the output must be a folder, not a file: {self.output}")
        p = config.pipeline
        pairs = expand_inputs(inputs, p.recursive)
        if not pairs:
            raise RainstreamError(f"no videos or images in {', '.join(map(os.fspath, inputs))}")
        self.results: list[FileResult] = []
        seen: dict[str, str] = {}
        named: set[str] = set()
        for path, rel in pairs:
            if os.path.abspath(path) in named:  # the same file named twice (a folder and a list)
                continue
            named.add(os.path.abspath(path))
            out = os.path.join(self.output, output_name(rel, p.format))
            if out in seen:
                raise RainstreamError(f"{seen[out]} and {path} would both be written to {out}")
            seen[out] = path
            if os.path.abspath(out) == os.path.abspath(path):
                raise RainstreamError(f"output {out} would overwrite its input")
            self.results.append(FileResult(input=path, output=out))
        try:
            for r in self.results:
                os.makedirs(os.path.dirname(os.path.abspath(r.output)), exist_ok=True)
        except OSError as exc:
            raise RainstreamError(f"cannot create the output folder {self.output}: {exc.strerror or exc}") from None
        # each file runs as its own job, with the batch's settings and its bar instead of one each
        self.file_config = dataclasses.replace(config, pipeline=dataclasses.replace(p, progress=False))
        self.jobs: dict[int, Job] = {}
        for i, r in enumerate(self.results):
            if p.resume and is_done(r.output):
                r.status = "skipped"
                continue
            self.jobs[i] = self._open(r)
        self.loads_model = bool(config.ray.address)  # Ray workers load it, not this process

    def _open(self, result: FileResult) -> Job | None:
        """The file's job, validated now; a file that fails validation is recorded as failed."""
        try:
            if os.path.isdir(result.input):
                raise RainstreamError(f"{result.input} is a folder inside a list of files")
            return self.open_job(result.input, result.output, self.file_config)
        except RainstreamError as exc:
            result.status, result.error = "failed", str(exc)
            logger.warning(f"failed: {exc}")
            return None

    def total_frames(self) -> int | None:
        """Frames of every file still to do, for the one progress bar (None when unknown)."""
        total = 0
        for job in self.jobs.values():
            if job is None:
                continue
            info = getattr(job, "info", None)
            count = 1 if job.kind == "image" else getattr(info, "frame_count", None)
            if count is None:
                return None
            total += count
        return total

    def run(self, derainer) -> BatchSummary:
        if self.config.ray.address:
            from rainstream.pipeline.ray_backend import run_on_ray

            summary = run_on_ray(self)
        else:
            summary = self._run_here(derainer)
        return self.finish(summary)

    def new_summary(self) -> BatchSummary:
        return BatchSummary(output=self.output, files=self.results)

    def _run_here(self, derainer) -> BatchSummary:
        from rainstream.progress import progress_bar

        summary = self.new_summary()
        bar = progress_bar(self.total_frames(), "derain", "frame", enabled=self.config.pipeline.progress)
        t0 = time.perf_counter()
        between_files = threading.Event()  # Ctrl-C while no file's runner holds the signal
        signals = StopOnSignal(between_files, "stopping after this file; finished files stay in place")
        try:
            signals.__enter__()
            for i, job in self.jobs.items():
                if between_files.is_set():
                    summary.interrupted = True
                    break
                if job is None:
                    continue
                result = self.results[i]
                job.progress_bar = bar
                t = time.perf_counter()
                try:
                    done = job.run(derainer)
                    if getattr(done, "interrupted", False):  # a job that stops without raising
                        raise Interrupted("interrupted")
                    result.status, result.frames, result.new_frames = "done", done.frames, done.new_frames
                except (Interrupted, KeyboardInterrupt):
                    result.status = "interrupted"
                    summary.interrupted = True
                    break
                except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the others
                    result.status, result.error = "failed", _message(exc)
                    logger.warning(f"failed: {result.input}: {result.error}")
                finally:
                    result.seconds = time.perf_counter() - t
                    job.close()
        finally:
            signals.__exit__(None, None, None)
            bar.close()
        summary.seconds = time.perf_counter() - t0
        summary.interrupted = summary.interrupted or between_files.is_set()
        return summary

    def finish(self, summary: BatchSummary) -> BatchSummary:
        """Log the table, write the report, and raise when interrupted or when some files failed."""
        logger.info("summary:\n" + summary.table())
        logger.info(summary.line())
        report = self.config.pipeline.report
        if report:
            try:
                tmp = report + ".tmp"
                with open(tmp, "w") as fh:
                    json.dump(summary.to_dict(), fh, indent=1)
                os.replace(tmp, report)
            except OSError as exc:
                raise RainstreamError(f"cannot write the report {report}: {exc.strerror or exc}") from None
        if summary.interrupted:
            done = sum(f.status in ("done", "skipped") for f in summary.files)
            raise Interrupted(f"interrupted: {done} of {len(summary.files)} files are finished in {self.output}; "
                              "run the same command with `resume` to do the rest")
        failed = summary.failed
        if failed:
            lines = "\n".join(f"  {f.input}: {f.error}" for f in failed)
            raise SomeFailed(f"{len(failed)} of {len(summary.files)} files failed; the others are in "
                             f"{self.output}:\n{lines}", summary)
        return summary

    def close(self) -> None:
        for job in self.jobs.values():
            if job is not None:
                job.close()


def _message(exc: BaseException) -> str:
    if isinstance(exc, RainstreamError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
