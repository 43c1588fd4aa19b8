"""Live latency: capture -> derained latency (median, p95) and drop rate for a camera or stream.

    rainstream bench --live rtsp://127.0.0.1:8554/cam --variant nerd_rain_tiny --seconds 20
    rainstream bench --live rainy.mp4 --variant pointwise    # a file played as a camera at its fps

``--variant pointwise`` runs the real engine (tiling, conversion, queues) around a trivial model, to
show the pipeline's own latency when the engine keeps up.
"""
from __future__ import annotations

import time

from rainstream.engine import Derainer, EngineConfig


def pointwise_derainer(config: EngineConfig) -> Derainer:
    """The real engine around x -> 0.9 x: what the pipeline costs when the model is free."""
    import torch

    class Pointwise(torch.nn.Module):
        def forward(self, x):
            return x * 0.9

    return Derainer(Pointwise(), config)


def run_live_bench(source: str, derainer, seconds: float, queue_frames: int = 2) -> dict:
    """Derain ``source`` in live mode for ``seconds``; latency and drop numbers as a dict."""
    from rainstream.pipeline.stream import Stream
    from rainstream.pipeline.config import RunConfig

    config = RunConfig.load(queue_frames=queue_frames)
    with Stream(source, derainer, live=True, config=config) as frames:
        start = time.monotonic()
        size = None
        for f in frames:
            size = f.image.shape[1::-1]
            if time.monotonic() - start >= seconds:
                break
        s = frames.stats
        rate = frames.info.rate
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    return {"source_fps": float(rate) if rate else None, "size": size, "frames_in": s.frames_in,
            "frames_out": s.frames_out, "dropped": s.dropped, "drop_rate": round(s.drop_rate, 3),
            "latency_median_ms": ms(s.median_s), "latency_p95_ms": ms(s.p95_s), "latency_max_ms": ms(s.max_s),
            "seconds": seconds, "queue_frames": queue_frames}
