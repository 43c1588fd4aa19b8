"""What rain to draw: one frozen record per rain condition, plus presets and random sampling.

Lengths and widths are in output pixels because training crops are taken at the photos' native
scale; the sample clip and training pairs are rendered at similar scales, so the model sees the
streak sizes it will meet.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rainstream.errors import RainstreamError

BLEND_MODES = ("screen", "add", "darken")
COMPRESSIONS = ("none", "jpeg", "h264")


@dataclass(frozen=True)
class RainSettings:
    """One rain condition (defaults: moderate rain, nearly vertical, no haze).

    ``density``    streaks per 1000 pixels of frame area, all depth layers together
                   (~0.5 light drizzle, ~2 moderate, ~8 downpour).
    ``angle``      mean fall direction in degrees from vertical; positive leans right going down.
    ``angle_jitter`` per-group spread of the angle in degrees (wind is never perfectly uniform).
    ``length``     streak length in pixels of the nearest layer (far layers are shorter).
    ``length_jitter`` relative spread of lengths between streak groups of one layer.
    ``width``      streak full width at half maximum, pixels, nearest layer.
    ``brightness`` peak streak intensity (0-1) of the nearest layer; far layers are dimmer.
    ``layers``     depth layers: far = thin, short, dim, dense; near = long, wide, bright, sparse.
    ``blur``       extra Gaussian defocus sigma (pixels) of the nearest layer; far layers are sharp.
    ``haze``       veil strength 1 - t of the scattering model A*(1-t) + B*t (0 = none).
    ``haze_light`` atmospheric light A (grey level of the veil).
    ``exposure``   shutter time as a fraction of the frame interval: a streak is the distance a
                   drop falls while the shutter is open, so per-frame travel = length / exposure.
    ``blend``      "screen" (1-(1-B)(1-S), never saturates abruptly), "add" (clip(B+S)) or "darken"
                   (B(1-S): streaks that block a bright sky look darker than the scene behind them).
    ``layer_angle_spread`` degrees: each depth layer leans by its own U(-spread, spread) on top of
                   ``angle`` (gusts: several layers falling at several angles; 0 = one direction).
    ``drops``      lens drops per 100 000 pixels: refracting, blurred discs sitting on the glass.
    ``drop_radius`` mean drop radius in pixels (drops vary 0.4x-1.8x around it).
    ``splashes``   splash specks per 1000 pixels: small bright dots where drops burst.
    ``compression`` how the rainy picture was stored: "none", "jpeg" or "h264" (a single intra frame),
                   at ``quality`` (JPEG quality 1-100, or the x264 CRF 0-51). Stills only: a rendered
                   clip is compressed by its own encoder.
    ``style``      the named style or preset that drew these settings (for reports; no effect on pixels).
    """

    density: float = 2.0
    angle: float = 0.0
    angle_jitter: float = 3.0
    length: float = 32.0
    length_jitter: float = 0.25
    width: float = 1.6
    brightness: float = 0.6
    layers: int = 3
    blur: float = 0.6
    haze: float = 0.0
    haze_light: float = 0.85
    exposure: float = 0.6
    blend: str = "screen"
    layer_angle_spread: float = 0.0
    drops: float = 0.0
    drop_radius: float = 6.0
    splashes: float = 0.0
    compression: str = "none"
    quality: int = 90
    style: str = ""

    def __post_init__(self) -> None:
        checks = [
            (self.density >= 0, "density must be >= 0"),
            (-80 <= self.angle <= 80, "angle must be within [-80, 80] degrees"),
            (self.angle_jitter >= 0, "angle_jitter must be >= 0"),
            (self.length >= 1, "length must be >= 1 pixel"),
            (0 <= self.length_jitter < 1, "length_jitter must be in [0, 1)"),
            (self.width > 0, "width must be > 0"),
            (0 <= self.brightness <= 1, "brightness must be in [0, 1]"),
            (1 <= self.layers <= 8, "layers must be in [1, 8]"),
            (self.blur >= 0, "blur must be >= 0"),
            (0 <= self.haze < 1, "haze must be in [0, 1)"),
            (0 <= self.haze_light <= 1, "haze_light must be in [0, 1]"),
            (0 < self.exposure <= 1, "exposure must be in (0, 1]"),
            (self.blend in BLEND_MODES, f"blend must be one of {BLEND_MODES}"),
            (0 <= self.layer_angle_spread <= 60, "layer_angle_spread must be within [0, 60] degrees"),
            (self.drops >= 0, "drops must be >= 0"),
            (1 <= self.drop_radius <= 64, "drop_radius must be within [1, 64] pixels"),
            (self.splashes >= 0, "splashes must be >= 0"),
            (self.compression in COMPRESSIONS, f"compression must be one of {COMPRESSIONS}"),
            (self.compression != "jpeg" or 1 <= self.quality <= 100, "quality must be 1..100 for jpeg"),
            (self.compression != "h264" or 0 <= self.quality <= 51, "quality must be a CRF 0..51 for h264"),
        ]
        for ok, message in checks:
            if not ok:
                raise RainstreamError(f"rain settings: {message}")

    @classmethod
    def random(cls, rng: np.random.Generator, haze: bool | float = False) -> "RainSettings":
        """Sample a rain condition from drizzle to downpour (the training distribution).

        ``haze``: False = never, True = half of the samples get a veil, a float = that probability.
        Heavier rain gets more, longer, brighter streaks and (when hazy) a denser veil, as in
        real storms; the angle is mostly near vertical with occasional strong wind.
        """
        heaviness = float(rng.uniform(0.0, 1.0))
        haze_probability = 0.5 if haze is True else float(haze or 0.0)
        hazy = rng.uniform() < haze_probability
        return cls(
            density=0.4 + 7.6 * heaviness**1.5,
            angle=float(np.clip(rng.normal(0.0, 14.0), -40.0, 40.0)),
            angle_jitter=float(rng.uniform(0.0, 6.0)),
            length=float(rng.uniform(12.0, 28.0) + 30.0 * heaviness),
            length_jitter=float(rng.uniform(0.1, 0.4)),
            width=float(rng.uniform(1.0, 2.6)),
            brightness=float(rng.uniform(0.3, 0.6) + 0.25 * heaviness),
            layers=int(rng.integers(2, 5)),
            blur=float(rng.uniform(0.0, 1.2)),
            haze=float(rng.uniform(0.1, 0.25) + 0.25 * heaviness) if hazy else 0.0,
            haze_light=float(rng.uniform(0.7, 0.95)),
            exposure=float(rng.uniform(0.4, 0.9)),
            blend="screen" if rng.uniform() < 0.7 else "add",
        )

    @classmethod
    def from_dict(cls, values: dict) -> "RainSettings":
        """Settings from a mapping (a YAML settings file); unknown keys are one-line errors."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise RainstreamError(f"rain settings: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise RainstreamError(f"rain settings: {exc}") from None

    def with_haze(self, haze: float) -> "RainSettings":
        """The same rain seen through a veil of the given strength."""
        return replace(self, haze=haze)


PRESETS: dict[str, RainSettings] = {
    "light": RainSettings(density=0.6, length=20.0, width=1.2, brightness=0.45, layers=2, blur=0.3),
    "medium": RainSettings(),
    "heavy": RainSettings(density=7.0, angle=8.0, length=48.0, width=2.0, brightness=0.7,
                          layers=4, blur=0.9),
}


def preset(name: str) -> RainSettings:
    """Look a preset up by name (``light``, ``medium``, ``heavy``) with a one-line error otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise RainstreamError(f"unknown rain preset {name!r}; choose from {', '.join(PRESETS)}") from None
