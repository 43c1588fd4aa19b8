"""Rain over one image (training pairs) and over a sequence of frames (coherent video rain)."""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from rainstream.errors import RainstreamError
from rainstream.synth.capture import compress
from rainstream.synth.compose import composite
from rainstream.synth.lens import LensDrops, splash_layer
from rainstream.synth.settings import RainSettings
from rainstream.synth.streaks import RainField


def _check_clean(clean: np.ndarray) -> np.ndarray:
    if clean.ndim != 3 or clean.shape[2] != 3:
        raise RainstreamError(f"expected an H x W x 3 RGB image, got shape {clean.shape}")
    return np.asarray(clean, dtype=np.float32)


def render_rain(clean: np.ndarray, rng: np.random.Generator,
                settings: RainSettings | None = None) -> np.ndarray:
    """Rainy version of ``clean`` (H x W x 3 float32 RGB in [0,1]) -> float32 in [0,1], same shape.

    ``settings`` None means the default moderate rain (``RainSettings()``); for a training set
    sample one per image (``rainstream.synth.styles.sample_rain``). Everything random comes from
    ``rng``, so the same generator state gives a bit-identical result. The picture is stored as
    ``settings.compression`` says (JPEG or one H.264 frame) as the last step.
    """
    clean = _check_clean(clean)
    settings = settings or RainSettings()
    height, width = clean.shape[:2]
    field = RainField(height, width, settings, rng)
    # drawn only when asked for, so settings without them keep their exact rain
    splashes = splash_layer(height, width, settings, rng) if settings.splashes else None
    drops = LensDrops(height, width, settings, rng) if settings.drops else None
    rainy = composite(clean, field.layer(0.0), settings, splashes, drops)
    return compress(rainy, settings.compression, settings.quality)


class RainVideoRenderer:
    """Temporally coherent rain for a clip: the same drops fall from frame to frame.

    Each drop advances ``length / exposure`` pixels per frame along its streak direction and
    re-enters at the top (with a new horizontal position) after leaving the bottom, so
    consecutive frames are correlated like real rain. Lens drops stay where they are; splashes are
    new every frame; ``compression`` is left to the clip's own encoder. ``render(frame, t)`` may be called for
    any t in any order; the result depends only on (seed, settings, size, t, frame).
    """

    def __init__(self, height: int, width: int, settings: RainSettings | None = None, seed: int = 0):
        if height < 1 or width < 1:
            raise RainstreamError(f"frame size must be positive, got {width}x{height}")
        self.height, self.width = height, width
        self.settings = settings or RainSettings()
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._field = RainField(height, width, self.settings, rng)
        self._drops = LensDrops(height, width, self.settings, rng) if self.settings.drops else None

    def rain_layer(self, t: int) -> np.ndarray:
        """The rain layer S (H x W float32, >= 0) of frame t, before blending."""
        return self._field.layer(float(t))

    def render(self, clean_frame: np.ndarray, t: int) -> np.ndarray:
        """Frame t with rain: H x W x 3 float32 [0,1] in, same out."""
        clean = _check_clean(clean_frame)
        if clean.shape[:2] != (self.height, self.width):
            raise RainstreamError(
                f"frame is {clean.shape[1]}x{clean.shape[0]}, renderer was made for "
                f"{self.width}x{self.height}")
        splashes = None
        if self.settings.splashes:  # a burst lasts one frame: new specks every frame
            splashes = splash_layer(self.height, self.width, self.settings,
                                    np.random.default_rng([self.seed, 1, t]))
        return composite(clean, self.rain_layer(t), self.settings, splashes, self._drops)

    def frames(self, clean_frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Rain over a stream of clean frames, numbering them from 0."""
        for t, frame in enumerate(clean_frames):
            yield self.render(frame, t)
