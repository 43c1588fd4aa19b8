"""Many inputs spread over Ray workers: on this machine, on its GPUs, or on a cluster, same code.

Imported only when a run asks for Ray (``pip install 'rainstream[ray]'``). Each worker is an actor
that loads the model once. A short file is one task (the same job a single-process run uses); a
video longer than ``ray.part_frames`` frames is cut at keyframes into parts (``parts.py``) that
workers derain independently into their own segments and journals, and this process joins them
with the input's audio and subtitles once every part is done. A worker that dies is restarted by
Ray and its task retried (``max_restarts`` / ``max_task_retries``); a retried part keeps the
segments it had finished. Workers read the inputs and write the outputs themselves, so both must be
on a filesystem every node mounts at the same path; that is checked on every worker first.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
import time
from collections import deque

from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.output_plan import VIDEO
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.video import work_dir_for
from rainstream.progress import progress_bar
from rainstream.signals import StopOnSignal

MAX_RESTARTS = 3  # a worker that dies is restarted this many times, its task retried as often
POLL_S = 0.5


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RainstreamError("Ray is not installed: pip install 'rainstream[ray]'") from None
    return ray


class FrameCounter:
    """A tiny actor the workers add their derained frames to; the driver takes them for its bar."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, n: int) -> None:
        self.frames += n

    def take(self) -> int:
        n, self.frames = self.frames, 0
        return n


class RemoteBar:
    """The progress bar's ``update``/``close`` in a worker: frames sent to the counter twice a second."""

    def __init__(self, counter, every: float = POLL_S):
        self.counter, self.every = counter, every
        self.pending, self.last = 0, time.monotonic()

    def update(self, n: int = 1) -> None:
        self.pending += n
        if time.monotonic() - self.last >= self.every:
            self.close()

    def close(self) -> None:
        if self.pending:
            self.counter.add.remote(self.pending)
            self.pending, self.last = 0, time.monotonic()


class DerainWorker:
    """One Ray actor: loads the model once, then derains whole files or parts of files."""

    def __init__(self, config: RunConfig, open_job):
        import sys

        logger.remove()
        logger.add(sys.stderr, level="WARNING")  # the driver prints the summary; workers only warn
        from rainstream.pipeline.loading import build_derainer

        self.config = config
        self.open_job = open_job  # dispatch.open_job, handed over by the batch job
        self.derainer = build_derainer(config)

    def pid(self) -> int:
        return os.getpid()

    def check_paths(self, inputs: list[str], output_dir: str) -> tuple[str, list[str], bool]:
        """(host, inputs this worker cannot see, can it write the output folder?)"""
        missing = [p for p in inputs if not os.path.exists(p)]
        return socket.gethostname(), missing, os.path.isdir(output_dir) and os.access(output_dir, os.W_OK)

    def run_file(self, input: str, output: str, counter) -> tuple[int, int]:
        """(frames in the output, frames derained now); ``counter`` counts frames as they are done."""
        bar = RemoteBar(counter)
        with self.open_job(input, output, self.config) as job:
            job.progress_bar = bar
            try:
                done = job.run(self.derainer)
            finally:
                bar.close()
            return done.frames, done.new_frames

    def run_part(self, input: str, output: str, work_dir: str, part, counter) -> tuple[int, int]:
        from rainstream.pipeline.parts import run_part

        bar = RemoteBar(counter)
        try:
            return run_part(input, output, work_dir, part, self.config, self.derainer, bar=bar)
        finally:
            bar.close()


def _absolute(config: RunConfig) -> RunConfig:
    """Paths in the config as absolute paths: workers do not run in this process's folder."""
    weights = config.model.weights
    if weights and os.path.exists(weights):
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, weights=os.path.abspath(weights)))
    return config


def _connect(ray, address: str) -> bool:
    """Join the cluster at ``address`` or start a local one; True when this call started Ray."""
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(include_dashboard=False, configure_logging=False, log_to_driver=True)
        else:
            ray.init(address=address, configure_logging=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RainstreamError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return True


def _pool(ray, config: RunConfig, open_job) -> tuple[list, float, int]:
    """(actors, GPUs per worker, workers): sized from the settings and the cluster's resources."""
    rs = config.ray
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    gpw = rs.gpus_per_worker if rs.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
    if gpw:
        workers = rs.workers or max(1, int(gpus / gpw))
        if workers * gpw > gpus + 1e-9:
            raise RainstreamError(f"{workers} worker(s) x {gpw} GPU need {workers * gpw:g} GPUs; the Ray cluster "
                                  f"has {gpus:g} (lower `workers` or `gpus_per_worker`)")
    else:
        workers = rs.workers or max(1, int(cpus))
    if workers > cpus:
        raise RainstreamError(f"{workers} worker(s) need a CPU each; the Ray cluster has {cpus:g} "
                              "(lower `workers`)")
    cls = ray.remote(num_cpus=1, num_gpus=gpw, max_restarts=MAX_RESTARTS,
                     max_task_retries=MAX_RESTARTS)(DerainWorker)
    return [cls.remote(config, open_job) for _ in range(workers)], gpw, workers


def check_visible(ray, actors, inputs: list[str], output_dir: str) -> None:
    """One clear error when a worker cannot see an input or cannot write the output folder."""
    for host, missing, writable in ray.get([a.check_paths.remote(inputs, output_dir) for a in actors]):
        problem = None
        if missing:
            problem = f"cannot see {len(missing)} input(s), e.g. {missing[0]}"
        elif not writable:
            problem = f"cannot write the output folder {output_dir}"
        if problem:
            raise RainstreamError(f"a Ray worker on {host} {problem}: the inputs and the output folder must be on a "
                                  "filesystem every Ray node mounts at the same path")


def _error_text(ray, exc: BaseException) -> str:
    """The user's words of a task's failure: our message, or the exception's type and text."""
    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    if isinstance(cause, RainstreamError):
        return str(cause)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    if isinstance(exc, ray.exceptions.RayActorError):
        return f"a Ray worker died {MAX_RESTARTS + 1} times on this file"
    return f"{type(exc).__name__}: {exc}"


@dataclasses.dataclass
class _FileWork:
    """One file in flight: its result row, absolute paths, its parts (None: one task) and what is left."""

    result: "FileResult"  # batch.FileResult
    input: str
    output: str
    parts: list | None = None
    work_dir: str | None = None
    left: int = 1
    started: float | None = None
    failed: bool = False

    def fail(self, message: str) -> None:
        if not self.failed:
            self.failed = True
            self.result.status, self.result.error = "failed", message
            self.result.seconds = time.perf_counter() - (self.started or time.perf_counter())
            logger.warning(f"failed: {self.result.input}: {message}")


def _plan(batch, config: RunConfig) -> tuple[list[_FileWork], deque]:
    """Every file still to do, and the queue of tasks: whole files, or the parts of long videos."""
    from rainstream.pipeline.parts import plan_parts

    p, rs = config.pipeline, config.ray
    work, tasks = [], deque()
    for i, job in batch.jobs.items():
        if job is None:
            continue
        w = _FileWork(batch.results[i], os.path.abspath(batch.results[i].input),
                      os.path.abspath(batch.results[i].output))
        work.append(w)
        count = getattr(getattr(job, "info", None), "frame_count", None) or 0
        job.close()
        # only a plain video output is cut into parts (a GIF or numbered stills run whole)
        if job.kind == "video" and job.plan.kind == VIDEO and p.frames is None and p.duration is None and count >= 2 * rs.part_frames:
            try:
                parts = plan_parts(w.input, rs.part_frames, align=config.encode.segment_frames)
            except RainstreamError as exc:
                w.fail(str(exc))
                continue
            if len(parts) > 1:
                w.parts, w.work_dir, w.left = parts, work_dir_for(w.output), len(parts)
                if not p.resume:
                    shutil.rmtree(w.work_dir, ignore_errors=True)
                os.makedirs(w.work_dir, exist_ok=True)
                tasks.extend((w, part) for part in parts)
                continue
        tasks.append((w, None))
    return work, tasks


def run_on_ray(batch):
    """Run the files of ``batch`` (a ``batch.BatchJob``) on Ray workers; returns its ``BatchSummary``."""
    ray = _import_ray()
    from rainstream.pipeline.parts import join_parts

    config = _absolute(batch.file_config)
    summary = batch.new_summary()
    work, tasks = _plan(batch, config)
    if not tasks:
        return summary
    started_ray = _connect(ray, config.ray.address)
    actors: list = []  # and the frame counter: everything this job started, killed at its end
    try:
        counter = ray.remote(num_cpus=0)(FrameCounter).remote()
        actors.append(counter)
        workers, gpw, summary.workers = _pool(ray, config, batch.open_job)
        actors += workers
        logger.info(f"{len(work)} file(s), {len(tasks)} task(s) on {summary.workers} Ray worker(s) "
                    f"({f'{gpw:g} GPU' if gpw else '1 CPU'} each)")
        try:
            check_visible(ray, workers, [w.input for w in work], os.path.abspath(batch.output))
        except ray.exceptions.RayActorError as exc:
            raise RainstreamError(f"the Ray workers could not start: {exc}") from None
        bar = progress_bar(batch.total_frames(), "derain", "frame", enabled=batch.config.pipeline.progress)
        stop = threading.Event()
        idle, pending = list(workers), {}
        t0 = time.perf_counter()
        try:
            with StopOnSignal(stop, "stopping the Ray workers; finished files stay in place"):
                while (tasks or pending) and not stop.is_set():
                    while idle and tasks:
                        w, part = tasks.popleft()
                        if w.failed:
                            continue
                        actor = idle.pop()
                        w.started = w.started or time.perf_counter()
                        w.result.status = "running"
                        if part is None:
                            ref = actor.run_file.remote(w.input, w.output, counter)
                        else:
                            ref = actor.run_part.remote(w.input, w.output, w.work_dir, part, counter)
                        pending[ref] = (actor, w)
                    if not pending:
                        if tasks:  # every worker is gone
                            for w, _ in tasks:
                                w.fail("no Ray worker left")
                            tasks.clear()
                        break
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                    bar.update(ray.get(counter.take.remote()))
                    for ref in ready:
                        actor, w = pending.pop(ref)
                        try:
                            frames, new = ray.get(ref)
                        except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the others
                            if not isinstance(exc, ray.exceptions.RayActorError):
                                idle.append(actor)
                            w.fail(_error_text(ray, exc))
                            continue
                        idle.append(actor)
                        w.result.new_frames += new
                        w.left -= 1
                        if w.left or w.failed:
                            continue
                        try:
                            if w.parts is not None:
                                t = time.perf_counter()
                                frames = join_parts(w.input, w.output, w.work_dir, w.parts)
                                logger.info(f"joined {len(w.parts)} parts ({frames} frames) into {w.result.output} "
                                            f"in {time.perf_counter() - t:.2f} s")
                        except RainstreamError as exc:
                            w.fail(str(exc))
                            continue
                        w.result.status, w.result.frames = "done", frames
                        w.result.seconds = time.perf_counter() - w.started
        finally:
            bar.update(ray.get(counter.take.remote()))
            bar.close()
        summary.seconds = time.perf_counter() - t0
        if stop.is_set():
            summary.interrupted = True
            for w in work:
                if w.result.status == "running":
                    w.result.status = "interrupted"
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_ray:
            ray.shutdown()
    return summary
