"""Turn an eval-mode model into the callable the engine runs on tile batches: eager, compile, tensorrt.

Compiled backends want one static shape, so the engine pads a short last chunk up to the chunk size for
them (``STATIC_SHAPE_BACKENDS``); eager runs whatever it is given.
"""
from __future__ import annotations

from typing import Callable

import torch
from loguru import logger
from torch import nn

from rainstream.engine.config import AUTOCAST_DTYPES, EngineConfig
from rainstream.errors import RainstreamError

TileFn = Callable[[torch.Tensor], torch.Tensor]

STATIC_SHAPE_BACKENDS = ("compile", "tensorrt")

TENSORRT_MISSING = "the tensorrt backend needs torch-tensorrt; install the extra: pip install 'rainstream[tensorrt]'"


def build_backend(model: nn.Module, config: EngineConfig, device: torch.device) -> TileFn:
    """The function ``(k, 3, th, tw) float -> (k, 3, th, tw)`` for ``config.backend``."""
    if config.backend == "eager":
        return model
    if config.backend == "compile":
        # fullgraph=True: a graph break would silently fall back to eager for part of the model;
        # dynamic=False: tile batches have a fixed shape (the engine pads short chunks).
        return torch.compile(model, fullgraph=True, dynamic=False)
    if config.backend == "tensorrt":
        return TensorRTTiles(model, config, device)
    raise RainstreamError(f"unknown backend {config.backend!r}")


class TensorRTTiles:
    """One TensorRT engine per static tile-batch shape, built on first use of that shape.

    Precision is TensorRT's own (``enabled_precisions``), so the engine does not wrap it in autocast.
    """

    def __init__(self, model: nn.Module, config: EngineConfig, device: torch.device):
        try:
            import torch_tensorrt  # noqa: F401
        except ImportError:
            raise RainstreamError(TENSORRT_MISSING) from None
        if device.type != "cuda":
            raise RainstreamError("the tensorrt backend needs a CUDA GPU (`device` cuda)")
        self._trt = torch_tensorrt
        self._model = model
        self._precisions = {torch.float32} | ({AUTOCAST_DTYPES[config.precision]}
                                              if config.precision in AUTOCAST_DTYPES else set())
        self._engines: dict[tuple[int, ...], Callable] = {}

    def __call__(self, tiles: torch.Tensor) -> torch.Tensor:
        shape = tuple(tiles.shape)
        engine = self._engines.get(shape)
        if engine is None:
            logger.info(f"building a TensorRT engine for tile batch {shape} ({', '.join(map(str, self._precisions))})")
            engine = self._trt.compile(
                self._model,
                ir="dynamo",
                inputs=[self._trt.Input(shape, dtype=torch.float32)],
                enabled_precisions=self._precisions,
            )
            self._engines[shape] = engine
        return engine(tiles.float())
