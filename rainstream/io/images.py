"""Still images in and out (PNG/JPEG/TIFF/...), 8- or 16-bit, written atomically; as a source and a sink.

The model sees upright RGB; alpha, a single grey channel, the ICC profile and EXIF travel beside it
(``ImageExtras``) and are written back, so a derained photo differs from its input only in the picture."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.image_metadata import apply_orientation, exif_orientation, upright_exif
from rainstream.io.sink import Sink

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_ALPHA_EXTENSIONS = (".png", ".tif", ".tiff", ".webp")
_METADATA_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")  # OpenCV writes EXIF and ICC into these


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


@dataclass(frozen=True)
class ImageExtras:
    """What a still carries besides the RGB the model sees, to be written back with the result.

    ``alpha``: the alpha plane, passed through untouched; ``grey``: the file had one channel (it is
    derained as three equal ones and written back as one); ``icc``: the colour profile; ``exif``:
    the EXIF block with orientation 1 (the pixels were turned upright on read)."""

    alpha: np.ndarray | None = None
    grey: bool = False
    icc: bytes | None = None
    exif: bytes | None = None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """H x W x 3 RGB, uint8 or uint16 (16-bit PNG/TIFF keep their precision), upright (EXIF
    orientation applied); grey is replicated to RGB and alpha left out (``read_image_with_extras``)."""
    return read_image_with_extras(path)[0]


def read_image_with_extras(path: str | os.PathLike) -> tuple[np.ndarray, ImageExtras]:
    """The upright RGB picture and what ``write_image`` needs to give the file back its alpha,
    channel count, colour profile and EXIF."""
    if not os.path.isfile(path):
        raise RainstreamError(f"input not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # imdecode: works with any path encoding
    image, blocks = None, {}
    if data.size:
        image, types, values = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED)
        blocks = {int(t): np.asarray(v, np.uint8).tobytes() for t, v in zip(types, values)}
    if image is None or image.size == 0:
        raise RainstreamError(f"cannot read {path} as an image")
    if image.dtype not in (np.uint8, np.uint16):
        raise RainstreamError(f"{path}: unsupported sample type {image.dtype}")
    exif = blocks.get(cv2.IMAGE_METADATA_EXIF)
    image = apply_orientation(image, exif_orientation(exif))
    alpha = None
    grey = image.ndim == 2 or image.shape[2] == 1
    if grey:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        alpha = np.ascontiguousarray(image[..., 3])
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    extras = ImageExtras(alpha=alpha, grey=grey, icc=blocks.get(cv2.IMAGE_METADATA_ICCP),
                         exif=upright_exif(exif) if exif else None)
    return np.ascontiguousarray(image), extras


def _to_8_bit(image: np.ndarray) -> np.ndarray:
    return (image // 257).astype(np.uint8) if image.dtype == np.uint16 else image


def write_image(path: str, image: np.ndarray, extras: ImageExtras | None = None) -> None:
    """Encode by the path's extension to a temp name, then rename: never a half-written image.
    ``extras`` (from ``read_image_with_extras``) puts back alpha, one channel, ICC profile and EXIF
    where the format holds them (alpha: PNG, TIFF, WebP; ICC and EXIF: JPEG, PNG, WebP)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise RainstreamError(f"unknown image extension {ext!r} for {path} "
                              f"(use one of {', '.join(IMAGE_EXTENSIONS)})")
    extras = extras or ImageExtras()
    eight_bit_only = ext in (".jpg", ".jpeg", ".bmp", ".webp")
    if eight_bit_only:
        image = _to_8_bit(image)  # these formats are 8-bit only
    if extras.grey:
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif extras.alpha is not None and ext in _ALPHA_EXTENSIONS:
        alpha = _to_8_bit(extras.alpha) if eight_bit_only else extras.alpha
        if alpha.dtype != image.dtype:  # an 8-bit alpha next to 16-bit colour, or the reverse
            alpha = alpha.astype(np.uint16) * 257 if image.dtype == np.uint16 else _to_8_bit(alpha)
        pixels = np.dstack([cv2.cvtColor(image, cv2.COLOR_RGB2BGR), alpha])
    else:
        if extras.alpha is not None:
            logger.warning(f"{ext} holds no alpha: {path} is written without its transparency")
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    blocks = {}
    if ext in _METADATA_EXTENSIONS:
        blocks = {t: v for t, v in ((cv2.IMAGE_METADATA_EXIF, extras.exif), (cv2.IMAGE_METADATA_ICCP, extras.icc))
                  if v}
    if blocks:
        ok, buf = cv2.imencodeWithMetadata(ext, pixels, list(blocks),
                                           [np.frombuffer(v, np.uint8) for v in blocks.values()])
    else:
        ok, buf = cv2.imencode(ext, pixels)
    if not ok:
        raise RainstreamError(f"cannot encode {path}")
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.rainstream-tmp{ext}")
    try:
        np.asarray(buf, np.uint8).tofile(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise RainstreamError(f"cannot write {path}: {exc.strerror or exc}") from None


class ImageSource:
    """Still images as frames, in order; ``meta["path"]`` names each file, ``meta["extras"]`` holds
    its ``ImageExtras``. Read lazily, one at a time.

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
                image, extras = read_image_with_extras(path)
            except RainstreamError as exc:
                if self.failures is None:
                    raise
                logger.warning(f"skipped: {exc}")
                self.failures.append((path, str(exc)))
                continue
            yield Frame(image=image, index=index, captured_at=time.monotonic(), meta={"path": path, "extras": extras})
            index += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSink(Sink):
    """Writes each frame to ``output_for(frame)`` (atomically, by extension, with its extras). With a
    ``failures`` list an image that cannot be written is recorded there (input path, message) instead
    of raising."""

    def __init__(self, output_for: Callable[[Frame], str], failures: list[tuple[str, str]] | None = None):
        self.output_for = output_for
        self.failures = failures
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        try:
            write_image(self.output_for(frame), frame.image, frame.meta.get("extras"))
        except RainstreamError as exc:
            if self.failures is None:
                raise
            logger.warning(f"skipped: {exc}")
            self.failures.append((frame.meta.get("path", f"frame {frame.index}"), str(exc)))
            return
        self.frames_written += 1
        self.last_pts = frame.pts
