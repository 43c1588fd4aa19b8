"""Synthetic rain (O = B + S and variants) for training pairs, sample clips and tests.

Training code uses ``render_rain(clean, rng, RainSettings.random(rng))``; video uses
``RainVideoRenderer``; the ``rainstream synth`` CLI uses ``make_pairs`` and ``make_clip``.
"""
from rainstream.synth.render import RainVideoRenderer, render_rain
from rainstream.synth.settings import PRESETS, RainSettings, preset

__all__ = ["PRESETS", "RainSettings", "RainVideoRenderer", "preset", "render_rain"]
