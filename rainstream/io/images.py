"""Still images in and out (PNG/JPEG/TIFF/...), 8- or 16-bit, written atomically; as a source and a sink."""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import cv2
import numpy as np
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.sink import Sink

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str, recursive: bool = False) -> list[str]:
    """Image files inside ``folder`` sorted by path: directly inside it, or in every sub-folder too
    (``recursive``). Hidden files and folders are left out."""
    return [p for p in list_files(folder, recursive) if is_image_path(p)]


def list_files(folder: str, recursive: bool = False) -> list[str]:
    """Files (not hidden) inside ``folder``, sorted by path; sub-folders walked when ``recursive``."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [os.path.join(root, n) for n in files if not n.startswith(".")]
    return sorted(found)


def subfolders(folder: str) -> list[str]:
    """The folders directly inside ``folder`` (not hidden): what a walk without ``recursive`` skips."""
    return sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 RGB -> float32 in [0, 1] at the sample type's full scale."""
    return image.astype(np.float32) / np.float32(65535.0 if image.dtype == np.uint16 else 255.0)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """H x W x 3 RGB, uint8 or uint16 (16-bit PNG/TIFF keep their precision); grey/alpha dropped to RGB."""
    if not os.path.isfile(path):
        raise RainstreamError(f"input not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # imdecode: works with any path encoding
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise RainstreamError(f"cannot read {path} as an image")
    if image.dtype not in (np.uint8, np.uint16):
        raise RainstreamError(f"{path}: unsupported sample type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def write_image(path: str, image: np.ndarray) -> None:
    """Encode by the path's extension to a temp name, then rename: never a half-written image."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise RainstreamError(f"unknown image extension {ext!r} for {path} "
                              f"(use one of {', '.join(IMAGE_EXTENSIONS)})")
    if image.dtype == np.uint16 and ext in (".jpg", ".jpeg", ".bmp", ".webp"):
        image = (image // 257).astype(np.uint8)  # these formats are 8-bit only
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RainstreamError(f"cannot encode {path}")
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.rainstream-tmp{ext}")
    try:
        buf.tofile(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise RainstreamError(f"cannot write {path}: {exc.strerror or exc}") from None


class ImageSource:
    """Still images as frames, in order; ``meta["path"]`` names each file. Read lazily, one at a time.

    With a ``failures`` list an unreadable image is logged, recorded there as ``(path, message)``
    and skipped, so one bad file does not stop a folder; without one it raises."""

    info = None  # no stream description: every image stands alone

    def __init__(self, paths: list[str], failures: list[tuple[str, str]] | None = None):
        self.paths = list(paths)
        self.failures = failures

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            try:
                image = read_image(path)
            except RainstreamError as exc:
                if self.failures is None:
                    raise
                logger.warning(f"skipped: {exc}")
                self.failures.append((path, str(exc)))
                continue
            yield Frame(image=image, index=index, captured_at=time.monotonic(), meta={"path": path})
            index += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSink(Sink):
    """Writes each frame to ``output_for(frame)`` (atomically, by extension). With a ``failures``
    list an image that cannot be written is recorded there (input path, message) instead of raising."""

    def __init__(self, output_for: Callable[[Frame], str], failures: list[tuple[str, str]] | None = None):
        self.output_for = output_for
        self.failures = failures
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        try:
            write_image(self.output_for(frame), frame.image)
        except RainstreamError as exc:
            if self.failures is None:
                raise
            logger.warning(f"skipped: {exc}")
            self.failures.append((frame.meta.get("path", f"frame {frame.index}"), str(exc)))
            return
        self.frames_written += 1
