"""Live latency benchmark: capture -> derained latency (median, p95) and drop rate for a camera.

    python -m rainstream.io.live_bench rtsp://127.0.0.1:8554/cam --variant nerd_rain_tiny --seconds 20
    python -m rainstream.io.live_bench rainy.mp4 --live --variant pointwise   # file played at its fps

``--variant pointwise`` runs the real engine (tiling, conversion, queues) around a trivial model, to
show the pipeline's own latency when the engine keeps up. Numbers belong here, not in tests.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from rainstream.errors import RainstreamError


def _derainer(variant: str, weights, device: str, tile: int, overlap: int):
    import torch

    from rainstream.engine import Derainer, EngineConfig

    config = EngineConfig(tile=tile, overlap=overlap, device=device)
    if variant == "pointwise":
        class Pointwise(torch.nn.Module):
            def forward(self, x):
                return x * 0.9
        return Derainer(Pointwise(), config)
    from rainstream.model import load_model

    return Derainer(load_model(variant, weights=weights), config)


def run(source: str, derainer, seconds: float, queue_frames: int, warmup: int = 3) -> dict:
    import rainstream

    with rainstream.stream(source, derainer=derainer, live=True, queue_frames=queue_frames) as frames:
        start = time.monotonic()
        size = None
        for f in frames:
            size = f.image.shape[1::-1]
            if time.monotonic() - start >= seconds:
                break
        s = frames.stats
        rate = frames.info.rate
    return {"source_fps": float(rate) if rate else None, "size": size, "frames_in": s.frames_in,
            "frames_out": s.frames_out, "dropped": s.dropped, "drop_rate": round(s.drop_rate, 3),
            "latency_median_ms": None if s.median_s is None else round(s.median_s * 1000, 1),
            "latency_p95_ms": None if s.p95_s is None else round(s.p95_s * 1000, 1),
            "latency_max_ms": None if s.max_s is None else round(s.max_s * 1000, 1),
            "seconds": seconds, "queue_frames": queue_frames}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="rtsp://..., http(s)://..., webcam:N, or a file (played as a camera)")
    p.add_argument("--variant", default="nerd_rain_tiny", help="model variant, or 'pointwise'")
    p.add_argument("--weights")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--queue-frames", type=int, default=2)
    args = p.parse_args(argv)
    from rainstream.log import setup_logging

    setup_logging()
    try:
        derainer = _derainer(args.variant, args.weights, args.device, args.tile, args.overlap)
        result = run(args.source, derainer, args.seconds, args.queue_frames)
    except RainstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    result.update(variant=args.variant, device=str(derainer.device), tile=args.tile)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
