"""Synthetic rain (O = B + S and its many looks) for training pairs, sample clips and tests.

Training and held-out sets draw ``sample_rain(rng)`` (a mix of styles and of JPEG/H.264 storage) and
render it with ``render_rain``; video uses ``RainVideoRenderer``; the ``rainstream synth`` CLI uses
``make_pairs`` and ``make_clip``. Names are imported lazily, so reading the settings (CLI help, configs)
does not load OpenCV or PyAV.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "PRESETS": "settings", "RainSettings": "settings", "preset": "settings",
    "RainVideoRenderer": "render", "render_rain": "render",
    "STYLES": "styles", "sample_rain": "styles", "rain_sampler": "styles",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from rainstream.synth.render import RainVideoRenderer, render_rain
    from rainstream.synth.settings import PRESETS, RainSettings, preset
    from rainstream.synth.styles import STYLES, rain_sampler, sample_rain


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"rainstream.synth.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'rainstream.synth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
