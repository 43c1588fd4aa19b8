"""Derained frames for downstream detectors, in Python, with their timing and latency.

    import rainstream
    for f in rainstream.stream("rtsp://cam/stream", weights="spa.safetensors", color="bgr"):
        boxes = detector(f.image)          # numpy BGR uint8, ready for OpenCV
        print(f.index, f.time, f.latency)

Live sources (URLs, webcams) run in live mode: the newest frames win, older ones are dropped when the
engine is behind, so ``latency`` stays bounded. Files are derained frame by frame without drops
(``live=True`` plays a file as a camera at its frame rate instead). The frames come out of the same
runner as every other job (one reader thread, one batch in flight), in the caller's thread.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from rainstream.errors import RainstreamError
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.dispatch import open_source
from rainstream.pipeline.runner import ReadyBatch, Runner
from rainstream.pipeline.stats import LatencySummary

COLORS = ("rgb", "bgr")


@dataclass
class DerainedFrame:
    """One derained frame.

    ``image``: H x W x 3 numpy (uint8, or uint16 for >8-bit sources) in the requested channel order,
    or with ``as_tensor=True`` a (3, H, W) float tensor in [0, 1] on the engine's device.
    ``latency``: seconds from capture (frame left the decoder) to derained.
    """

    image: Any
    pts: int | None
    time_base: Fraction | None
    time: float | None  # seconds on the stream's timeline
    latency: float
    index: int  # source frame number; gaps mean frames were dropped to keep up
    captured_at: float  # time.monotonic() at capture


class Stream:
    """Iterable of ``DerainedFrame``; also a context manager. ``stats`` has latency/drop numbers.

    Iterate it once. Leaving the loop early (``break``) stops the source; ``close()`` does too.
    """

    def __init__(self, source, derainer, *, live: bool | None = None, color: str = "rgb",
                 as_tensor: bool = False, config: RunConfig | None = None):
        if color not in COLORS:
            raise RainstreamError(f"color must be 'rgb' or 'bgr', not {color!r}")
        if as_tensor and not hasattr(derainer, "derain_tensor"):
            raise RainstreamError("`as_tensor` needs a derainer with derain_tensor")
        self.config = config or RunConfig()
        self.derainer = derainer
        self.color = color
        self.as_tensor = as_tensor
        self.source, self.live = open_source(source, self.config, live)
        p = self.config.pipeline
        self._runner = Runner(derainer, batch=p.batch, queue_frames=p.queue_frames or 2, live=self.live,
                              submit=self._submit_tensors if as_tensor else None)
        self._iterating = False

    @property
    def stats(self) -> LatencySummary:
        return self._runner.stats.summary()

    @property
    def info(self):
        return self.source.info

    def _submit_tensors(self, images: list[np.ndarray]) -> ReadyBatch:
        import torch

        scale = 65535.0 if images[0].dtype == np.uint16 else 255.0
        x = torch.from_numpy(np.stack(images).astype(np.float32) / scale).permute(0, 3, 1, 2)
        return ReadyBatch(list(self.derainer.derain_tensor(x.to(self.derainer.device))))

    def _present(self, image):
        if self.color == "rgb":
            return image
        if self.as_tensor:
            return image.flip(0)
        return np.ascontiguousarray(image[..., ::-1])

    def __iter__(self) -> Iterator[DerainedFrame]:
        if self._iterating:
            raise RainstreamError("a rainstream.stream can be iterated only once")
        self._iterating = True
        try:
            for frame, image in self._runner.frames(self.source):
                yield DerainedFrame(image=self._present(image), pts=frame.pts, time_base=frame.time_base,
                                    time=frame.time, latency=time.monotonic() - frame.captured_at,
                                    index=frame.index, captured_at=frame.captured_at)
        finally:
            self.close()

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream(source, weights: str | None = None, model: str | None = None, device: str = "auto",
           live: bool | None = None, color: str = "rgb", as_tensor: bool = False, *,
           derainer=None, config: str | None = None, **settings) -> Stream:
    """Derained frames of ``source`` (URL, file path, webcam index / ``webcam:N``, or source object).

    ``live``: None = automatic (on for URLs/webcams); True drops the oldest frames when behind.
    ``color``: channel order of numpy images. ``as_tensor``: (3, H, W) float tensors on ``device``.
    ``settings``: any run setting (``tile``, ``precision``, ``queue_frames``, ``transport``,
    ``max_retries``, ...; see ``rainstream.derain``), ``config`` a YAML file or bundled config name.
    ``derainer``: an existing ``Derainer`` (or anything with ``derain_images``) instead of loading one.
    """
    settings.setdefault("queue_frames", 2)
    cfg = RunConfig.load(config, model=model or settings.pop("variant", None), weights=weights, device=device,
                         **settings)
    if derainer is None:
        from rainstream.pipeline.loading import build_derainer

        derainer = build_derainer(cfg)
    return Stream(source, derainer, live=live, color=color, as_tensor=as_tensor, config=cfg)
