"""Synthetic camera motion over a still photo: a slow eased pan + zoom, so a photo becomes a clip.

Derainers must cope with a moving background (rain and scene both move); a static photo would
let a video model cheat by averaging frames, so the sample clip pans and zooms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraPath:
    """Zoom (1 = widest crop of the output's aspect) and crop centre, start and end.

    Centres are fractions of the free travel at that zoom (0 = left/top edge, 1 = right/bottom),
    so every path stays inside the photo.
    """

    zoom: tuple[float, float] = (1.05, 1.3)
    centre: tuple[tuple[float, float], tuple[float, float]] = ((0.3, 0.5), (0.7, 0.6))

    @classmethod
    def random(cls, rng: np.random.Generator) -> "CameraPath":
        zooms = (float(rng.uniform(1.0, 1.15)), float(rng.uniform(1.2, 1.4)))
        if rng.uniform() < 0.5:
            zooms = zooms[::-1]
        start = (float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.3, 0.7)))
        end = (float(rng.uniform(0.6, 0.9)), float(rng.uniform(0.3, 0.7)))
        if rng.uniform() < 0.5:
            start, end = end, start
        return cls(zoom=zooms, centre=(start, end))


def _ease(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def camera_frames(photo: np.ndarray, height: int, width: int, count: int,
                  path: CameraPath) -> Iterator[np.ndarray]:
    """``count`` frames (H x W x 3, photo's dtype) moving along ``path`` over ``photo``."""
    src_h, src_w = photo.shape[:2]
    aspect = width / height
    base_h = min(src_h, src_w / aspect)  # widest crop with the output's aspect
    # Pre-shrink (area filter, no aliasing) so the tightest crop maps about 1:1 to the output;
    # the per-frame bilinear warp then never minifies by much.
    shrink = min(1.0, max(path.zoom) * height / base_h)
    if shrink < 1.0:
        photo = cv2.resize(photo, (max(1, round(src_w * shrink)), max(1, round(src_h * shrink))),
                           interpolation=cv2.INTER_AREA)
    src_h, src_w = photo.shape[:2]
    base_h = min(src_h, src_w / aspect)
    for i in range(count):
        u = _ease(i / (count - 1)) if count > 1 else 0.0
        zoom = path.zoom[0] + (path.zoom[1] - path.zoom[0]) * u
        fx = path.centre[0][0] + (path.centre[1][0] - path.centre[0][0]) * u
        fy = path.centre[0][1] + (path.centre[1][1] - path.centre[0][1]) * u
        crop_h = base_h / zoom
        crop_w = crop_h * aspect
        left = (src_w - crop_w) * fx
        top = (src_h - crop_h) * fy
        scale = crop_w / width  # source pixels per output pixel
        # output pixel centre (u + 0.5) maps to source left + (u + 0.5) * scale - 0.5
        matrix = np.array([[scale, 0.0, left + 0.5 * scale - 0.5],
                           [0.0, scale, top + 0.5 * scale - 0.5]], np.float64)
        yield cv2.warpAffine(photo, matrix, (width, height),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
