"""What sits on the glass and what bursts on the ground: refracting lens drops and splash specks.

A drop on the lens is a tiny fish-eye lens: it shows a flipped, gathered, defocused view of the scene
around it, with a darker rim where light leaves it sideways. Drops stay put for a clip (they sit on
the glass); splashes are short-lived bright specks, new in every frame.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from rainstream.synth.settings import RainSettings


class LensDrops:
    """The drops on the lens for one frame size; ``apply(image)`` draws them over a rainy picture."""

    def __init__(self, height: int, width: int, settings: RainSettings, rng: np.random.Generator):
        count = int(rng.poisson(settings.drops * height * width / 100_000.0))
        self.centres = np.stack([rng.uniform(0, width, count), rng.uniform(0, height, count)], axis=1)
        self.radii = settings.drop_radius * rng.uniform(0.4, 1.8, count)
        self.aspect = rng.uniform(0.75, 1.1, count)  # vertical / horizontal radius: drops sag
        self.zoom = rng.uniform(0.6, 1.4, count)  # how far around itself a drop gathers the scene
        self.gain = rng.uniform(0.95, 1.15, count)  # drops gather light and look a little brighter
        # the refracted view is out of focus: the lens focuses on the street, not on its own glass
        self.defocus = 0.5 + settings.drop_radius / 6.0

    def __len__(self) -> int:
        return len(self.radii)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` (H x W x 3 float32 in [0, 1]) with the drops over it; the input is not changed."""
        if not len(self):
            return image
        height, width = image.shape[:2]
        blurred = cv2.GaussianBlur(image, (0, 0), self.defocus, borderType=cv2.BORDER_REFLECT)
        out = image.copy()
        for (cx, cy), r, aspect, zoom, gain in zip(self.centres, self.radii, self.aspect, self.zoom, self.gain):
            ry = r * aspect
            x0, x1 = max(0, int(cx - r) - 2), min(width, int(math.ceil(cx + r)) + 2)
            y0, y1 = max(0, int(cy - ry) - 2), min(height, int(math.ceil(cy + ry)) + 2)
            if x0 >= x1 or y0 >= y1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            u, v = (xx - cx) / r, (yy - cy) / ry
            d = np.sqrt(u * u + v * v)
            mask = np.clip((1.0 - d) * r / 1.5, 0.0, 1.0)[..., None]  # ~1.5 px soft edge
            # inverted view: the top of the drop shows what lies below it, and the other way round;
            # the bulge gathers more of the surroundings towards the rim
            bulge = zoom * (1.0 + 0.6 * d * d)
            src_x = (cx - (xx - cx) * bulge).astype(np.float32)
            src_y = (cy - (yy - cy) * bulge).astype(np.float32)
            seen = cv2.remap(blurred, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            rim = (0.25 * np.exp(-(((d - 0.88) / 0.12) ** 2)))[..., None]
            inside = np.clip(seen * gain * (1.0 - rim), 0.0, 1.0)
            patch = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = patch * (1.0 - mask) + inside * mask
        return out


def splash_layer(height: int, width: int, settings: RainSettings, rng: np.random.Generator) -> np.ndarray:
    """Splash specks: H x W float32 >= 0, small Gaussian dots of two sizes (peak = their brightness)."""
    layer = np.zeros((height, width), np.float32)
    count = int(rng.poisson(settings.splashes * height * width / 1000.0))
    if not count:
        return layer
    ys = rng.integers(0, height, count)
    xs = rng.integers(0, width, count)
    brightness = rng.uniform(0.3, 0.9, count).astype(np.float32)
    big = rng.uniform(size=count) < 0.4
    for sigma, chosen in ((0.6, ~big), (1.3, big)):
        impulses = np.zeros((height, width), np.float32)
        np.add.at(impulses, (ys[chosen], xs[chosen]), brightness[chosen])
        # a unit impulse blurred by a Gaussian peaks at 1 / (2 pi sigma^2): scale the peak back to 1
        layer += cv2.GaussianBlur(impulses, (0, 0), sigma) * np.float32(2.0 * math.pi * sigma * sigma)
    return layer
