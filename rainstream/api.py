"""Python API for downstream detectors: derained frames, in Python, with their timing and latency.

    import rainstream
    for f in rainstream.stream("rtsp://cam/stream", weights="models/spa.safetensors", color="bgr"):
        boxes = detector(f.image)          # numpy BGR uint8, ready for OpenCV
        print(f.index, f.time, f.latency)

Live sources (URLs, webcams) run in live mode: the newest frames win, older ones are dropped when the
engine is behind, so ``latency`` stays bounded. Files are derained frame by frame without drops
(``live=True`` plays a file as a camera at its frame rate instead). For single images use
``rainstream.engine.Derainer(model)(image)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.live_stats import LatencyStats, LatencySummary

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


def _is_live_spec(spec: str) -> bool:
    from rainstream.io import is_live_spec

    return is_live_spec(spec)


class Stream:
    """Iterable of ``DerainedFrame``; also a context manager. ``stats`` has latency/drop numbers.

    Iterate it once. Leaving the loop early (``break``) stops the source; ``close()`` does too.
    """

    def __init__(self, source, derainer, *, live: bool | None = None, color: str = "rgb",
                 as_tensor: bool = False, queue_frames: int = 2, live_options=None):
        if color not in COLORS:
            raise RainstreamError(f"color must be 'rgb' or 'bgr', not {color!r}")
        self.derainer = derainer
        self.color = color
        self.as_tensor = as_tensor
        self.queue_frames = queue_frames
        self._stats = LatencyStats()
        self.source, self.live = _open(source, live, live_options)
        self._iterating = False

    @property
    def stats(self) -> LatencySummary:
        return self._stats.summary()

    @property
    def info(self):
        return self.source.info

    def _derain(self, frame: Frame):
        if not self.as_tensor:
            image = self.derainer.derain_images([frame.image])[0]
            return np.ascontiguousarray(image[..., ::-1]) if self.color == "bgr" else image
        import torch

        scale = 65535.0 if frame.image.dtype == np.uint16 else 255.0
        x = torch.from_numpy(frame.image.astype(np.float32) / scale).permute(2, 0, 1)[None]
        y = self.derainer.derain_tensor(x.to(self.derainer.device))[0]
        return y.flip(0) if self.color == "bgr" else y

    def __iter__(self) -> Iterator[DerainedFrame]:
        if self._iterating:
            raise RainstreamError("a rainstream.stream can be iterated only once")
        self._iterating = True
        from rainstream.io.live_loop import derained_frames

        try:
            for frame, image, latency in derained_frames(self.source, self._derain, live=self.live,
                                                         queue_frames=self.queue_frames,
                                                         stats=self._stats):
                yield DerainedFrame(image=image, pts=frame.pts, time_base=frame.time_base,
                                    time=frame.time, latency=latency, index=frame.index,
                                    captured_at=frame.captured_at)
        finally:
            self.close()

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open(source, live: bool | None, live_options):
    """(source object, live?) for a spec string, a webcam index, or an object with ``info``."""
    from rainstream.io import FileSource
    from rainstream.io.live import LiveOptions, LiveSource

    if isinstance(source, int):
        source = f"webcam:{source}"
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        if not hasattr(source, "info") or not hasattr(source, "__iter__"):
            raise RainstreamError("source must be a URL, a path, a webcam index or a source object")
        return source, bool(live)
    options = live_options or LiveOptions()
    if _is_live_spec(source):
        return LiveSource(source, options), (True if live is None else live)
    if live:
        return LiveSource(source, options), True  # a file played at its frame rate, as a camera
    return FileSource(source), False


def stream(source, weights: str | None = None, variant: str | None = None, device: str = "auto",
           live: bool | None = None, color: str = "rgb", as_tensor: bool = False, *,
           queue_frames: int = 2, transport: str = "tcp", max_retries: int = 20,
           stall_timeout: float = 5.0, derainer=None, **engine_options) -> Stream:
    """Derained frames of ``source`` (URL, file path, webcam index / ``webcam:N``, or source object).

    ``live``: None = automatic (on for URLs/webcams); True drops the oldest frames when behind.
    ``color``: channel order of numpy images. ``as_tensor``: (3, H, W) float tensors on ``device``.
    ``engine_options`` go to ``EngineConfig`` (tile, overlap, max_tiles, precision, backend).
    ``derainer``: an existing ``Derainer`` (or anything with ``derain_images``) instead of loading one.
    """
    from rainstream.io.live import LiveOptions

    live_options = LiveOptions(transport=transport, max_retries=max_retries, stall_timeout=stall_timeout)
    if derainer is None:
        from rainstream.engine import Derainer, EngineConfig
        from rainstream.model import load_model

        config = EngineConfig(device=device, **engine_options)  # validate before connecting
        try:
            model = load_model(variant, weights=weights, device="cpu")
        except ValueError as exc:
            raise RainstreamError(str(exc)) from None
        derainer = Derainer(model, config)
    elif as_tensor and not hasattr(derainer, "derain_tensor"):
        raise RainstreamError("as_tensor=True needs a derainer with derain_tensor")
    return Stream(source, derainer, live=live, color=color, as_tensor=as_tensor,
                  queue_frames=queue_frames, live_options=live_options)
