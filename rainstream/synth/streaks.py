"""The rain layer S: streaks as persistent particles, drawn by splatting + a streak-shaped kernel.

Why this way: a streak is the motion-blurred image of a falling drop (Garg & Nayar), so drawing
impulses at drop centres and convolving them with a line kernel (the Rain100/Rain200 recipe)
gives the right look, is fully vectorised (one ``np.bincount`` and one ``cv2.filter2D`` per
streak group) and, because the impulses sit at sub-pixel particle positions, the same drawing
serves stills and temporally coherent video.

Particle positions are an analytic function of the frame index (fall along the streak direction,
wrap at the bottom of a padded canvas with a fresh horizontal offset), so any frame can be drawn
directly and the same seed always gives the same rain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from rainstream.synth.settings import RainSettings

GROUPS_PER_LAYER = 2  # streak lengths/angles vary inside a depth layer too
_GOLDEN = 0.6180339887  # re-randomises a drop's brightness each time it wraps, without state


@dataclass(frozen=True)
class StreakGroup:
    """Drops sharing one look: one depth layer's share of the rain, one kernel."""

    depth: float  # 0 = farthest layer, 1 = nearest
    length: float
    width: float
    angle: float  # degrees from vertical, positive leans right going down
    brightness: float
    blur: float
    speed: float  # pixels per frame along the fall direction
    count: int


def plan_groups(settings: RainSettings, height: int, width: int,
                rng: np.random.Generator) -> list[StreakGroup]:
    """Split the rain into depth layers and groups: far = thin, short, dim, dense, slow."""
    layers = settings.layers
    depths = [1.0] if layers == 1 else [i / (layers - 1) for i in range(layers)]
    shares = np.array([1.0 + 1.5 * (1.0 - d) for d in depths])  # far layers hold more drops
    shares /= shares.sum()
    total = settings.density * height * width / 1000.0
    groups = []
    for depth, share in zip(depths, shares):
        scale = 0.3 + 0.7 * depth
        for _ in range(GROUPS_PER_LAYER):
            length = settings.length * scale * (1.0 + settings.length_jitter * rng.uniform(-1, 1))
            length = max(length, 2.0)
            groups.append(StreakGroup(
                depth=depth,
                length=length,
                width=max(settings.width * (0.45 + 0.55 * depth), 0.8),
                angle=float(settings.angle + rng.normal(0.0, settings.angle_jitter)),
                brightness=settings.brightness * (0.4 + 0.6 * depth),
                blur=settings.blur * depth,
                speed=length / settings.exposure,
                count=int(rng.poisson(total * share / GROUPS_PER_LAYER)),
            ))
    return groups


def streak_kernel(length: float, width: float, angle: float, blur: float = 0.0) -> np.ndarray:
    """A soft-ended line of the given length/width/angle with peak 1 (before defocus).

    Across the streak the profile is Gaussian (FWHM = width); along it a box with smooth ends.
    Defocus widens the Gaussian and lowers its peak so the streak keeps its energy.
    """
    sigma_w = max(width / 2.355, 0.45)
    sigma = math.hypot(sigma_w, blur)
    half = length / 2.0
    radius = int(math.ceil(half + 3.0 * sigma)) + 1
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
    dx, dy = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    along = xx * dx + yy * dy
    across = yy * dx - xx * dy
    soft = max(1.0, 2.0 * sigma)
    ends = np.clip((half - np.abs(along)) / soft + 0.5, 0.0, 1.0)
    ends = ends * ends * (3.0 - 2.0 * ends)
    kernel = ends * np.exp(-(across**2) / (2.0 * sigma**2)) * (sigma_w / sigma)
    return kernel.astype(np.float32)


def canvas_padding(groups: list[StreakGroup]) -> int:
    """Margin around the frame where drops can hide while they enter and leave."""
    reach = max((g.length / 2.0 + 3.0 * math.hypot(g.width, g.blur) for g in groups), default=0.0)
    return int(math.ceil(reach)) + 2


class RainField:
    """Persistent drops for a frame size; ``layer(t)`` draws the rain layer S at frame t."""

    def __init__(self, height: int, width: int, settings: RainSettings, rng: np.random.Generator):
        self.height, self.width = height, width
        self.groups = plan_groups(settings, height, width, rng)
        self.pad = canvas_padding(self.groups)
        self.canvas_shape = (height + 2 * self.pad, width + 2 * self.pad)
        ch, cw = self.canvas_shape
        area_ratio = ch * cw / float(height * width)  # keep the on-screen density as asked
        self._kernels, self._drops = [], []
        for group in self.groups:
            n = int(round(group.count * area_ratio))
            self._kernels.append(streak_kernel(group.length, group.width, group.angle, group.blur))
            self._drops.append((
                rng.uniform(0, cw, n).astype(np.float64),  # x at t = 0
                rng.uniform(0, ch, n).astype(np.float64),  # y at t = 0
                rng.uniform(0, cw, n).astype(np.float64),  # horizontal jump at each wrap
                rng.uniform(0, 1, n).astype(np.float64),   # brightness phase
            ))

    def positions(self, group_index: int, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Drop centres (x, y) on the padded canvas and their brightness at frame t."""
        group = self.groups[group_index]
        x0, y0, jump, phase = self._drops[group_index]
        ch, cw = self.canvas_shape
        rad = math.radians(group.angle)
        fall = y0 + group.speed * math.cos(rad) * t
        wraps = np.floor(fall / ch)
        y = fall - wraps * ch
        x = np.mod(x0 + group.speed * math.sin(rad) * t + wraps * jump, cw)
        weight = group.brightness * (0.55 + 0.45 * np.mod(phase + wraps * _GOLDEN, 1.0))
        return x, y, weight

    def layer(self, t: float = 0.0) -> np.ndarray:
        """The rain layer S at frame t: H x W float32, >= 0 (may exceed 1 where streaks cross)."""
        ch, cw = self.canvas_shape
        total = np.zeros(self.canvas_shape, np.float32)
        for index, kernel in enumerate(self._kernels):
            x, y, weight = self.positions(index, t)
            if x.size == 0:
                continue
            impulses = _splat(x, y, weight, ch, cw)
            total += cv2.filter2D(impulses, cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT)
        p = self.pad
        return np.maximum(total[p:p + self.height, p:p + self.width], 0.0)


def _splat(x: np.ndarray, y: np.ndarray, weight: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear splat of weighted points, so sub-pixel motion moves streaks smoothly."""
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    image = np.zeros(height * width, np.float64)
    for ox, oy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + ox, y0 + oy
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        image += np.bincount(yi[inside] * width + xi[inside], weights=(weight * w)[inside],
                             minlength=height * width)
    return image.reshape(height, width).astype(np.float32)
