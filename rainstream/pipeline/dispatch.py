"""The one place that decides what an input is, and which job (or source) serves it.

``open_job(input, output, config)`` classifies the input with the first matching entry of
``INPUT_KINDS`` and returns that kind's job, which validates input and output once, before any model
is loaded. ``open_source`` does the same for ``rainstream.stream``. A new kind of input is one more
``InputKind`` in the table, ahead of the ones it must win over (as "many" is: lists, globs, text
files of inputs and folders of videos go to ``batch.BatchJob``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from rainstream.errors import RainstreamError
from rainstream.io.images import is_image_path
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.job import Job

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "udp://", "tcp://",
                 "srt://", "rtp://", "webcam:", "/dev/video")


def is_live_spec(spec: Any) -> bool:
    """A stream URL or a webcam (``webcam:N``, ``/dev/videoN``)."""
    return isinstance(spec, str) and spec.lower().startswith(LIVE_PREFIXES)


def is_source_object(value: Any) -> bool:
    """Anything that iterates frames and describes itself (``FileSource``, ``LiveSource``, your own)."""
    return not isinstance(value, (str, os.PathLike)) and hasattr(value, "info") and hasattr(value, "__iter__")


def _plays_file_as_camera(spec: Any, config: RunConfig) -> bool:
    return bool(config.pipeline.live) and isinstance(spec, str) and os.path.isfile(spec) and not is_image_path(spec)


@dataclass(frozen=True)
class InputKind:
    """One row of the dispatch table: a name, a test on (input, config), and the job that serves it."""

    name: str
    matches: Callable[[Any, RunConfig], bool]
    job: Callable[[Any, str, RunConfig], Job]


def is_many(input: Any, config: RunConfig) -> bool:
    """Several inputs, a glob, a text file of inputs, a folder holding videos (or any folder, on Ray)."""
    from rainstream.pipeline.batch import folder_has_videos, is_glob, is_list_file

    if isinstance(input, (list, tuple)):
        return True
    if not isinstance(input, str) or is_live_spec(input):
        return False
    if os.path.isdir(input):
        return bool(config.ray.address) or folder_has_videos(input, config.pipeline.recursive)
    return is_list_file(input) or is_glob(input)


def _batch_job(input, output, config):
    from rainstream.pipeline.batch import BatchJob

    return BatchJob(input, output, config, open_job)


def _live_job(input, output, config):
    from rainstream.pipeline.live import LiveJob

    return LiveJob(input, output, config)


def _folder_job(input, output, config):
    from rainstream.pipeline.images import FolderJob

    return FolderJob(input, output, config)


def _image_job(input, output, config):
    from rainstream.pipeline.images import ImageJob

    return ImageJob(input, output, config)


def _video_job(input, output, config):
    from rainstream.pipeline.video import VideoJob

    return VideoJob(input, output, config)


INPUT_KINDS: tuple[InputKind, ...] = (
    InputKind("source", lambda x, c: is_source_object(x), _video_job),
    InputKind("many", is_many, _batch_job),
    InputKind("live", lambda x, c: is_live_spec(x) or _plays_file_as_camera(x, c), _live_job),
    InputKind("folder", lambda x, c: os.path.isdir(x), _folder_job),
    InputKind("image", lambda x, c: is_image_path(x), _image_job),
    InputKind("video", lambda x, c: True, _video_job),  # anything else: FFmpeg decides
)


def classify(input: Any, config: RunConfig | None = None) -> InputKind:
    """The first kind of ``INPUT_KINDS`` that matches ``input``."""
    config = config or RunConfig()
    if isinstance(input, os.PathLike):
        input = os.fspath(input)
    if not isinstance(input, (str, list, tuple)) and not is_source_object(input):
        raise RainstreamError(f"input must be a path, a URL, a list of paths or a source object, "
                              f"not {type(input).__name__}")
    return next(kind for kind in INPUT_KINDS if kind.matches(input, config))


def open_job(input: Any, output: str | os.PathLike, config: RunConfig | None = None) -> Job:
    """The validated job for ``input`` -> ``output``: ``with open_job(...) as job: job.run(derainer)``."""
    config = config or RunConfig()
    if isinstance(input, os.PathLike):
        input = os.fspath(input)
    return classify(input, config).job(input, os.fspath(output), config)


def open_source(input: Any, config: RunConfig | None = None, live: bool | None = None):
    """``(source, live?)`` for ``rainstream.stream``: a URL/webcam (index or ``webcam:N``), a file path,
    or a source object (used as it is). ``live`` None: on for URLs and webcams; True plays a file
    at its frame rate, as a camera."""
    from rainstream.io.file_source import FileSource
    from rainstream.io.live_source import LiveSource

    config = config or RunConfig()
    if isinstance(input, int) and not isinstance(input, bool):
        input = f"webcam:{input}"
    if isinstance(input, os.PathLike):
        input = os.fspath(input)
    if is_source_object(input):
        return input, bool(live)
    if not isinstance(input, str):
        raise RainstreamError("source must be a URL, a path, a webcam index or a source object")
    if is_live_spec(input):
        return LiveSource(input, config.live), (True if live is None else live)
    if live:
        return LiveSource(input, config.live), True
    return FileSource(input), False
