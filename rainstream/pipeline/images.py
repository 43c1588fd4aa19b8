"""Still-image jobs: one image to one image, a folder of images to a folder (same names).

They run through the same runner as video, so frames of one size are batched and the engine keeps a
batch in flight; reading and writing overlap the engine in the runner's threads.
"""
from __future__ import annotations

import dataclasses
import os

import cv2
from loguru import logger

from rainstream.errors import RainstreamError, SomeFailed
from rainstream.io.images import IMAGE_EXTENSIONS, ImageSink, ImageSource, list_images, subfolders
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.job import Job
from rainstream.pipeline.runner import RunSummary


def _check_readable(path: str) -> None:
    if not os.path.isfile(path):
        raise RainstreamError(f"input not found: {path}")
    if not cv2.haveImageReader(path):  # looks at the file's signature; decodes nothing
        raise RainstreamError(f"cannot read {path} as an image")


def _finished(summary: RunSummary, output: str) -> RunSummary:
    summary = dataclasses.replace(summary, output=output)
    logger.info(summary.line())
    return summary


class ImageJob(Job):
    """One image; ``output`` is a file (format by extension) or an existing folder (same name)."""

    kind = "image"

    def __init__(self, input, output, config: RunConfig):
        super().__init__(input, output, config)
        _check_readable(self.input)
        if os.path.isdir(self.output):
            self.output = os.path.join(self.output, os.path.basename(self.input))
        if os.path.abspath(self.input) == os.path.abspath(self.output):
            raise RainstreamError("output must not overwrite the input")
        folder = os.path.dirname(os.path.abspath(self.output))
        if not os.path.isdir(folder):
            raise RainstreamError(f"output folder does not exist: {folder}")
        if os.path.splitext(self.output)[1].lower() not in IMAGE_EXTENSIONS:
            raise RainstreamError(f"unknown image extension for {self.output} "
                                  f"(use one of {', '.join(IMAGE_EXTENSIONS)})")

    def run(self, derainer) -> RunSummary:
        summary = self.runner(derainer).run(ImageSource([self.input]), ImageSink(lambda frame: self.output), total=1)
        return _finished(summary, self.output)


def skipped_subfolders_line(folder: str) -> str | None:
    """The one line that says how many sub-folders a walk without `recursive` did not enter."""
    n = len(subfolders(folder))
    if not n:
        return None
    return f"{n} sub-folder(s) of {folder} not entered (set `recursive` to walk them)"


class FolderJob(Job):
    """Every image inside ``input`` (and its sub-folders with ``recursive``, mirrored) to the same
    name in ``output`` (created if needed). An image that cannot be read or written is reported and
    skipped; the others are written, then ``SomeFailed`` names the failures."""

    kind = "folder"

    def __init__(self, input, output, config: RunConfig):
        super().__init__(input, output, config)
        recursive = config.pipeline.recursive
        self.paths = list_images(self.input, recursive)
        skipped = None if recursive else skipped_subfolders_line(self.input)
        if not self.paths:
            raise RainstreamError(f"no images in folder {self.input}" + (f" ({skipped})" if skipped else ""))
        if skipped:
            logger.info(skipped)
        if os.path.abspath(self.input) == os.path.abspath(self.output):
            raise RainstreamError("output folder must differ from the input folder")
        if os.path.exists(self.output) and not os.path.isdir(self.output):
            raise RainstreamError(f"input is a folder, so the output must be a folder: {self.output}")

    def output_for(self, path: str) -> str:
        """The input's path relative to the input folder, under the output folder."""
        out = os.path.join(self.output, os.path.relpath(path, self.input))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        return out

    def run(self, derainer) -> RunSummary:
        try:
            os.makedirs(self.output, exist_ok=True)
        except OSError as exc:
            raise RainstreamError(f"cannot create output folder {self.output}: {exc.strerror or exc}") from None
        failures: list[tuple[str, str]] = []
        sink = ImageSink(lambda frame: self.output_for(frame.meta["path"]), failures)
        summary = self.runner(derainer).run(ImageSource(self.paths, failures), sink, total=len(self.paths))
        summary = _finished(summary, self.output)
        if failures and not summary.interrupted:
            lines = "\n".join(f"  {path}: {message}" for path, message in failures)
            raise SomeFailed(f"{len(failures)} of {len(self.paths)} images failed, {summary.frames} written "
                             f"to {self.output}:\n{lines}", summary)
        return summary
