"""Read photos as float RGB and write PNGs atomically (a crash never leaves a half-written file)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rainstream.errors import RainstreamError

from rainstream.io.images import is_image_path, read_image as read_native, to_float  # noqa: F401


def read_image(path: Path) -> np.ndarray:
    """H x W x 3 float32 RGB in [0,1]; 8- and 16-bit files keep their full precision."""
    return to_float(read_native(path))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0,1] RGB -> uint8 with rounding (not truncation, which darkens by half a level)."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write float [0,1] or uint8 RGB to ``path`` via a temporary name, renamed when complete."""
    pixels = image if image.dtype == np.uint8 else to_uint8(image)
    tmp = path.with_name(f".{path.stem}.partial.png")
    try:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)):
            raise OSError("encoder refused the file")
        os.replace(tmp, path)
    except (OSError, cv2.error) as exc:
        tmp.unlink(missing_ok=True)
        raise RainstreamError(f"cannot write {path}: {exc}") from None
