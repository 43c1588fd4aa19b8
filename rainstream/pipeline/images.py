"""Still-image jobs: one image to one image, a folder of images to a folder (same names).

They run through the same runner as video, so frames of one size are batched and the engine keeps a
batch in flight; reading and writing overlap the engine in the runner's threads.
"""
from __future__ import annotations

import dataclasses
import os

import cv2
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.images import IMAGE_EXTENSIONS, ImageSink, ImageSource, list_images
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


class FolderJob(Job):
    """Every image directly inside ``input`` to the same name in ``output`` (created if needed)."""

    kind = "folder"

    def __init__(self, input, output, config: RunConfig):
        super().__init__(input, output, config)
        self.paths = list_images(self.input)
        if not self.paths:
            raise RainstreamError(f"no images in folder {self.input}")
        if os.path.abspath(self.input) == os.path.abspath(self.output):
            raise RainstreamError("output folder must differ from the input folder")
        if os.path.exists(self.output) and not os.path.isdir(self.output):
            raise RainstreamError(f"input is a folder, so the output must be a folder: {self.output}")

    def run(self, derainer) -> RunSummary:
        try:
            os.makedirs(self.output, exist_ok=True)
        except OSError as exc:
            raise RainstreamError(f"cannot create output folder {self.output}: {exc.strerror or exc}") from None
        sink = ImageSink(lambda frame: os.path.join(self.output, os.path.basename(frame.meta["path"])))
        summary = self.runner(derainer).run(ImageSource(self.paths), sink, total=len(self.paths))
        return _finished(summary, self.output)
