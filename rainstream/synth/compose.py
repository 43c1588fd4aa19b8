"""Put the rain layer S over the background B: veil first, streaks and splashes in front, lens drops last."""
from __future__ import annotations

import numpy as np

from rainstream.synth.lens import LensDrops
from rainstream.synth.settings import RainSettings


def add_haze(clean: np.ndarray, haze: float, light: float) -> np.ndarray:
    """Atmospheric scattering O = B*t + A*(1-t) with t = 1 - haze.

    The veil is slightly denser at the top of the frame (farther scene, more air), which is the
    heavy-rain look the NeRD-Rain paper lists as its failure case.
    """
    if haze <= 0:
        return clean
    height = clean.shape[0]
    rows = np.linspace(1.15, 0.85, height, dtype=np.float32)[:, None, None]
    veil = np.clip(haze * rows, 0.0, 0.99)
    return clean * (1.0 - veil) + np.float32(light) * veil


def rain_colour(clean: np.ndarray) -> np.ndarray:
    """Streak colour: mostly white, slightly tinted by the scene a drop refracts (Garg & Nayar)."""
    mean = clean.reshape(-1, 3).mean(axis=0)
    tint = mean / max(float(mean.max()), 1e-3)
    return (0.8 + 0.2 * tint).astype(np.float32)


def composite(clean: np.ndarray, rain: np.ndarray, settings: RainSettings,
              splashes: np.ndarray | None = None, drops: LensDrops | None = None) -> np.ndarray:
    """Rainy image from clean HxWx3 float32 [0,1] and rain layer HxW (>= 0): float32 in [0,1].

    Order of the light path: veil over the scene, streaks (and ``splashes``, HxW) in front of it,
    then the ``drops`` on the lens, which see all of that.
    """
    background = add_haze(clean, settings.haze, settings.haze_light)
    colour = rain_colour(clean)
    streaks = np.clip(rain, 0.0, 1.0)[:, :, None] * colour
    if settings.blend == "screen":
        out = 1.0 - (1.0 - background) * (1.0 - streaks)
    elif settings.blend == "darken":
        out = background * (1.0 - streaks)
    else:
        out = background + streaks
    if splashes is not None:
        out = 1.0 - (1.0 - out) * (1.0 - np.clip(splashes, 0.0, 1.0)[:, :, None] * colour)
    out = np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
    if drops is not None:
        out = drops.apply(out)
    return out
