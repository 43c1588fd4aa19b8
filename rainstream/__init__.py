"""rainstream: real-time video deraining with NeRD-Rain / NeRD-Rain-S.

    import rainstream
    rainstream.derain("rainy.mp4", "derained.mp4", precision="bf16")     # what `rainstream run` does
    rainstream.derain(["a.mp4", "clips/"], "out/", ray="local", workers=2)  # many files, on Ray workers
    for f in rainstream.stream("rtsp://cam/stream", color="bgr"):       # frames for a detector
        boxes = detector(f.image)
    model = rainstream.load_model("nerd_rain_s", device="cuda")        # the network itself
    derainer = rainstream.Derainer(model, rainstream.EngineConfig(precision="fp16"))

Everything here is imported on first use, so ``import rainstream`` (and the CLI's start-up) does not
import torch, PyAV or OpenCV.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rainstream.errors import RainstreamError, SomeFailed
from rainstream.huge_pages import ask_for_huge_pages

ask_for_huge_pages()  # before torch's first large buffer: see rainstream/huge_pages.py

if TYPE_CHECKING:
    from rainstream.api import derain
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.model import list_models, load_model
    from rainstream.pipeline import Interrupted, RunConfig, RunSummary
    from rainstream.pipeline.batch import BatchSummary
    from rainstream.pipeline.stream import DerainedFrame, Stream, stream

# public name -> module that defines it
_LAZY = {
    "derain": "rainstream.api",
    "stream": "rainstream.pipeline.stream",
    "Stream": "rainstream.pipeline.stream",
    "DerainedFrame": "rainstream.pipeline.stream",
    "load_model": "rainstream.model",
    "list_models": "rainstream.model",
    "Derainer": "rainstream.engine",
    "EngineConfig": "rainstream.engine",
    "RunConfig": "rainstream.pipeline",
    "RunSummary": "rainstream.pipeline",
    "Interrupted": "rainstream.pipeline",
    "BatchSummary": "rainstream.pipeline.batch",
}

__all__ = ["BatchSummary", "DerainedFrame", "Derainer", "EngineConfig", "Interrupted", "RainstreamError", "RunConfig",
           "RunSummary", "SomeFailed", "Stream", "derain", "list_models", "load_model", "stream"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rainstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
