"""The rain a model meets is wider than one renderer's look: named styles, and the mix ``random`` draws from.

Each style is a sampler ``rng -> RainSettings`` for one family of rain seen in the deraining literature
and on real cameras. ``sample_rain`` picks a style by weight, then how the picture was stored (raw,
JPEG or one H.264 frame), so a training set or a held-out set is one seed away:

- ``classic``: thin bright streaks of one dominant angle, one layer, added (Rain100L/H, Rain200 style);
- ``layered``: streaks in 2-4 depth layers, screen or add (``RainSettings.random``);
- ``storm``: long motion-blurred streaks behind a dense accumulated veil;
- ``gusts``: several layers falling at several angles;
- ``dark``: streaks darker than a bright sky behind them;
- ``drops``: streaks plus drops on the lens and splash specks.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from rainstream.errors import RainstreamError
from rainstream.synth.settings import PRESETS, RainSettings

Sampler = Callable[[np.random.Generator], RainSettings]


def classic(rng: np.random.Generator) -> RainSettings:
    return RainSettings(
        density=float(rng.uniform(1.0, 9.0)), angle=float(rng.uniform(-35.0, 35.0)),
        angle_jitter=float(rng.uniform(0.0, 1.5)), length=float(rng.uniform(10.0, 45.0)),
        length_jitter=float(rng.uniform(0.1, 0.5)), width=float(rng.uniform(0.8, 1.6)),
        brightness=float(rng.uniform(0.45, 0.95)), layers=1, blur=0.0, blend="add",
    )


def layered(rng: np.random.Generator) -> RainSettings:
    return RainSettings.random(rng, haze=0.2)


def storm(rng: np.random.Generator) -> RainSettings:
    return RainSettings(
        density=float(rng.uniform(2.0, 9.0)), angle=float(np.clip(rng.normal(0.0, 15.0), -45.0, 45.0)),
        angle_jitter=float(rng.uniform(1.0, 6.0)), length=float(rng.uniform(50.0, 120.0)),
        length_jitter=float(rng.uniform(0.2, 0.5)), width=float(rng.uniform(1.5, 3.2)),
        brightness=float(rng.uniform(0.2, 0.45)), layers=int(rng.integers(2, 5)),
        blur=float(rng.uniform(0.5, 2.0)), haze=float(rng.uniform(0.2, 0.55)),
        haze_light=float(rng.uniform(0.65, 0.95)), exposure=float(rng.uniform(0.7, 1.0)), blend="screen",
    )


def gusts(rng: np.random.Generator) -> RainSettings:
    base = RainSettings.random(rng)
    return replace(base, layers=int(rng.integers(2, 5)), layer_angle_spread=float(rng.uniform(12.0, 35.0)))


def dark(rng: np.random.Generator) -> RainSettings:
    return RainSettings(
        density=float(rng.uniform(0.8, 6.0)), angle=float(np.clip(rng.normal(0.0, 12.0), -35.0, 35.0)),
        angle_jitter=float(rng.uniform(0.0, 4.0)), length=float(rng.uniform(15.0, 60.0)),
        width=float(rng.uniform(1.0, 2.6)), brightness=float(rng.uniform(0.2, 0.55)),
        layers=int(rng.integers(1, 4)), blur=float(rng.uniform(0.0, 1.2)), blend="darken",
    )


def drops(rng: np.random.Generator) -> RainSettings:
    base = RainSettings.random(rng)
    return replace(base, density=base.density * float(rng.uniform(0.3, 1.0)),
                   drops=float(rng.uniform(2.0, 25.0)), drop_radius=float(rng.uniform(3.0, 14.0)),
                   splashes=float(rng.uniform(0.0, 1.5)))


STYLES: dict[str, Sampler] = {"classic": classic, "layered": layered, "storm": storm, "gusts": gusts,
                              "dark": dark, "drops": drops}
# How often ``random`` draws each style: streaks of every kind dominate, the rarer looks still recur.
STYLE_WEIGHTS: dict[str, float] = {"classic": 0.2, "layered": 0.25, "storm": 0.15, "gusts": 0.15,
                                   "dark": 0.1, "drops": 0.15}
# How ``random`` stores the rainy picture: raw half the time, else as a camera or phone would.
COMPRESSION_ODDS = (("none", 0.5), ("jpeg", 0.3), ("h264", 0.2))


def sample_compression(rng: np.random.Generator, settings: RainSettings) -> RainSettings:
    kinds, odds = zip(*COMPRESSION_ODDS)
    kind = str(rng.choice(kinds, p=odds))
    if kind == "jpeg":
        return replace(settings, compression="jpeg", quality=int(rng.integers(35, 96)))
    if kind == "h264":
        return replace(settings, compression="h264", quality=int(rng.integers(18, 37)))
    return replace(settings, compression="none")


def sample_rain(rng: np.random.Generator, style: str | None = None,
                weights: dict[str, float] | None = None) -> RainSettings:
    """One rain condition of ``style`` (None: a style drawn by ``weights``, default ``STYLE_WEIGHTS``),
    then its storage."""
    if style is None:
        odds = weights or STYLE_WEIGHTS
        names = list(odds)
        p = np.array([odds[n] for n in names], dtype=float)
        style = names[int(rng.choice(len(names), p=p / p.sum()))]
    return replace(sample_compression(rng, STYLES[style](rng)), style=style)


KINDS = ("random", *STYLES, *PRESETS)


def parse_style_mix(kind: str) -> dict[str, float]:
    """``storm:2,dark:1`` -> {storm: 2.0, dark: 1.0}: a mix of styles by relative weight, so a training
    stage or a held-out set can lean on the styles a model still misses."""
    weights: dict[str, float] = {}
    for part in kind.split(","):
        name, sep, value = part.strip().partition(":")
        if not sep or name not in STYLES:
            raise RainstreamError(f"unknown rain {kind!r}: a mix is style:weight pairs of {', '.join(STYLES)}")
        if name in weights:
            raise RainstreamError(f"rain mix {kind!r}: {name} is named twice")
        try:
            weights[name] = float(value)
        except ValueError:
            raise RainstreamError(f"rain mix {kind!r}: weight of {name} is not a number: {value!r}") from None
        if not np.isfinite(weights[name]) or weights[name] < 0:
            raise RainstreamError(f"rain mix {kind!r}: weight of {name} must be a number >= 0")
    if sum(weights.values()) <= 0:
        raise RainstreamError(f"rain mix {kind!r}: at least one weight must be above 0")
    return weights


def rain_sampler(kind: str) -> Callable[[np.random.Generator], RainSettings]:
    """What ``--rain KIND`` means: ``random`` (the mix), a style, a weighted mix of styles
    (``storm:2,dark:1,classic:1``), a fixed preset, or a YAML settings file."""
    if kind == "random":
        return sample_rain
    if kind in STYLES:
        return lambda rng: sample_rain(rng, kind)
    if ":" in kind and Path(kind).suffix.lower() not in (".yaml", ".yml"):
        mix = parse_style_mix(kind)
        return lambda rng: sample_rain(rng, weights=mix)
    if kind in PRESETS:
        fixed = replace(PRESETS[kind], style=kind)
        return lambda rng: fixed
    path = Path(kind)
    if path.suffix.lower() in (".yaml", ".yml"):
        settings = load_settings_file(path)
        if not settings.style:
            settings = replace(settings, style=path.stem)
        return lambda rng: settings
    raise RainstreamError(f"unknown rain {kind!r}: use one of {', '.join(KINDS)}, a mix such as "
                         f"storm:2,dark:1, or a .yaml settings file")


def load_settings_file(path: Path) -> RainSettings:
    """A YAML mapping of ``RainSettings`` fields (``yaml.safe_load``), e.g. ``{density: 4, blend: add}``."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise RainstreamError(f"cannot read rain settings {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RainstreamError(f"rain settings {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise RainstreamError(f"rain settings {path} must be a mapping of RainSettings fields")
    return RainSettings.from_dict(values)
