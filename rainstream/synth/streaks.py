"""The rain layer S: streaks as persistent particles, drawn by splatting + a streak-shaped kernel.

Why this way: a streak is the motion-blurred image of a falling drop (Garg & Nayar), so drawing
a line kernel at every drop centre (the impulses-convolved-with-a-line recipe of Rain100/Rain200)
gives the right look. Kernels are added sparsely (one ``np.bincount`` per streak group, cost
proportional to the rain, not the frame) and at quarter-pixel drop positions, so the same
drawing serves stills and smoothly moving, temporally coherent video.

Particle positions are an analytic function of the frame index (fall along the streak direction,
wrap at the bottom of a padded canvas with a fresh horizontal offset), so any frame can be drawn
directly and the same seed always gives the same rain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
        # gusts: a layer of its own angle (drawn only when asked, so other settings keep their rain)
        lean = float(rng.uniform(-1, 1)) * settings.layer_angle_spread if settings.layer_angle_spread else 0.0
        for _ in range(GROUPS_PER_LAYER):
            length = settings.length * scale * (1.0 + settings.length_jitter * rng.uniform(-1, 1))
            length = max(length, 2.0)
            groups.append(StreakGroup(
                depth=depth,
                length=length,
                width=max(settings.width * (0.45 + 0.55 * depth), 0.8),
                angle=float(np.clip(settings.angle + lean + rng.normal(0.0, settings.angle_jitter), -85.0, 85.0)),
                brightness=settings.brightness * (0.4 + 0.6 * depth),
                blur=settings.blur * depth,
                speed=length / settings.exposure,
                count=int(rng.poisson(total * share / GROUPS_PER_LAYER)),
            ))
    return groups


def streak_kernel(length: float, width: float, angle: float, blur: float = 0.0,
                  shifts: np.ndarray | None = None, radius: int | None = None) -> np.ndarray:
    """A soft-ended line of the given length/width/angle with peak 1 (before defocus).

    Across the streak the profile is Gaussian (FWHM = width); along it a box with smooth ends.
    Defocus widens the Gaussian and lowers its peak so the streak keeps its energy. ``shifts``
    (V x 2 array of x, y) gives V kernels whose centres sit off the middle pixel by that much,
    for drops at sub-pixel positions; without it, one centred (2r+1) x (2r+1) kernel.
    """
    sigma_w = max(width / 2.355, 0.45)
    sigma = math.hypot(sigma_w, blur)
    half = length / 2.0
    if radius is None:
        radius = kernel_radius(length, width, blur)
    single = shifts is None
    shifts = np.zeros((1, 2), np.float32) if single else np.asarray(shifts, np.float32)
    grid = np.arange(-radius, radius + 1, dtype=np.float32)
    xx = grid[None, None, :] - shifts[:, 0, None, None]
    yy = grid[None, :, None] - shifts[:, 1, None, None]
    dx, dy = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    along = xx * dx + yy * dy
    across = yy * dx - xx * dy
    soft = max(1.0, 2.0 * sigma)
    ends = np.clip((half - np.abs(along)) / soft + 0.5, 0.0, 1.0)
    ends = ends * ends * (3.0 - 2.0 * ends)
    kernel = (ends * np.exp(-(across**2) / (2.0 * sigma**2)) * (sigma_w / sigma)).astype(np.float32)
    return kernel[0] if single else kernel


def kernel_radius(length: float, width: float, blur: float) -> int:
    """Half-size of a streak kernel: half the length plus three sigmas, plus a sub-pixel margin."""
    sigma = math.hypot(max(width / 2.355, 0.45), blur)
    return int(math.ceil(length / 2.0 + 3.0 * sigma)) + 1


class _Stamp:
    """A group's streak kernel at SUBPIXEL x SUBPIXEL sub-pixel offsets, kept sparse.

    Rain covers a small part of the frame, so adding each drop's non-zero kernel pixels
    (one ``np.bincount``) is several times cheaper than convolving the whole frame.
    """

    def __init__(self, group: StreakGroup, stride: int):
        radius = kernel_radius(group.length, group.width, group.blur)
        steps = np.arange(SUBPIXEL) / SUBPIXEL
        shifts = np.stack(np.meshgrid(steps, steps), axis=-1).reshape(-1, 2)  # variant = qy*S + qx
        kernels = streak_kernel(group.length, group.width, group.angle, group.blur,
                                shifts=shifts, radius=radius)
        support = (kernels > 2e-4).any(axis=0)  # below half an 8-bit level: invisible
        dy, dx = np.nonzero(support)
        self.offsets = (dy - radius) * stride + (dx - radius)
        self.values = kernels[:, support]
        self.radius = radius


SUBPIXEL = 4  # drop positions are drawn to 1/4 pixel: smooth motion, 16 kernels per group
_SPARSE_CHUNK = 4_000_000  # kernel pixels per bincount, bounds temporary memory


def canvas_padding(groups: list[StreakGroup]) -> int:
    """Margin around the frame where drops can hide while they enter and leave."""
    return max((kernel_radius(g.length, g.width, g.blur) for g in groups), default=0) + 1


class RainField:
    """Persistent drops for a frame size; ``layer(t)`` draws the rain layer S at frame t."""

    def __init__(self, height: int, width: int, settings: RainSettings, rng: np.random.Generator):
        self.height, self.width = height, width
        self.groups = plan_groups(settings, height, width, rng)
        self.pad = canvas_padding(self.groups)
        self.canvas_shape = (height + 2 * self.pad, width + 2 * self.pad)
        ch, cw = self.canvas_shape
        # drops live on the canvas; their kernels may reach one more pad beyond it
        self._draw_shape = (ch + 2 * self.pad, cw + 2 * self.pad)
        area_ratio = ch * cw / float(height * width)  # keep the on-screen density as asked
        self._stamps, self._drops = [], []
        for group in self.groups:
            n = int(round(group.count * area_ratio))
            self._stamps.append(_Stamp(group, self._draw_shape[1]))
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
        dh, dw = self._draw_shape
        total = np.zeros(dh * dw, np.float64)
        for index, stamp in enumerate(self._stamps):
            x, y, weight = self.positions(index, t)
            if x.size == 0:
                continue
            xq = np.round(x * SUBPIXEL) / SUBPIXEL
            yq = np.round(y * SUBPIXEL) / SUBPIXEL
            xi, yi = np.floor(xq), np.floor(yq)
            qx = ((xq - xi) * SUBPIXEL).astype(np.int64)  # quarter-pixel offsets are exact floats
            qy = ((yq - yi) * SUBPIXEL).astype(np.int64)
            variant = qy * SUBPIXEL + qx
            centre = (yi.astype(np.int64) + self.pad) * dw + xi.astype(np.int64) + self.pad
            per_chunk = max(1, _SPARSE_CHUNK // max(1, stamp.offsets.size))
            for lo in range(0, x.size, per_chunk):
                sl = slice(lo, lo + per_chunk)
                pixels = centre[sl, None] + stamp.offsets[None, :]
                values = weight[sl, None] * stamp.values[variant[sl]]
                total += np.bincount(pixels.ravel(), weights=values.ravel(), minlength=dh * dw)
        p = 2 * self.pad
        image = total.reshape(dh, dw)[p:p + self.height, p:p + self.width]
        return image.astype(np.float32)
