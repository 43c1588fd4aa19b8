"""Read photos as float RGB and write PNGs atomically (a crash never leaves a half-written file)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rainstream.errors import RainstreamError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """H x W x 3 float32 RGB in [0,1]; 8- and 16-bit files keep their full precision."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise RainstreamError(f"cannot read image {path}")
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / np.float32(scale)


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
