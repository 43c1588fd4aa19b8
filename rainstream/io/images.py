"""Still images in and out (PNG/JPEG/TIFF/...), 8- or 16-bit, written atomically; as a source and a sink."""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import cv2
import numpy as np

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.sink import Sink

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str) -> list[str]:
    """Image files directly inside ``folder``, sorted by name (sub-folders are not walked)."""
    names = sorted(n for n in os.listdir(folder) if is_image_path(n) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names]


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
    """Still images as frames, in order; ``meta["path"]`` names each file. Read lazily, one at a time."""

    info = None  # no stream description: every image stands alone

    def __init__(self, paths: list[str]):
        self.paths = list(paths)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            yield Frame(image=read_image(path), index=index, captured_at=time.monotonic(), meta={"path": path})

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSink(Sink):
    """Writes each frame to ``output_for(frame)`` (atomically, by extension)."""

    def __init__(self, output_for: Callable[[Frame], str]):
        self.output_for = output_for
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        write_image(self.output_for(frame), frame.image)
        self.frames_written += 1
