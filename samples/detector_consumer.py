"""Feed derained frames to an OpenCV detector: moving-object detection by background subtraction.

Stands in for any downstream detector (YOLO, a tracker...): it takes BGR numpy frames straight from
``rainstream.stream`` and prints one line per frame; no window is opened.

    python samples/detector_consumer.py samples/rainy_path.mp4 --max-frames 20
    python samples/detector_consumer.py rtsp://user:pass@10.0.0.5/stream --weights spa.safetensors

Rain streaks are exactly what background subtraction mistakes for motion, so compare
``--no-derain`` with the default: the derained stream should report fewer, larger blobs.
"""
from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

import rainstream
from rainstream.errors import RainstreamError


class MotionDetector:
    """MOG2 background subtraction + contours: boxes of moving regions larger than ``min_area``."""

    def __init__(self, min_area: int = 30):
        self.min_area = min_area
        self.subtractor = cv2.createBackgroundSubtractorMOG2(history=100, varThreshold=25,
                                                             detectShadows=False)

    def __call__(self, bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        mask = self.subtractor.apply(bgr)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= self.min_area]


class _Passthrough:
    """--no-derain: the same loop without the model, for comparison."""

    def derain_images(self, images):
        return list(images)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="video file, rtsp:// or http(s):// URL, or webcam:N")
    p.add_argument("--weights", help="model weights (.pth or .safetensors)")
    p.add_argument("--model", default="nerd_rain_s", help="model name (rainstream.list_models())")
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    p.add_argument("--min-area", type=int, default=30, help="smallest blob reported, in pixels")
    p.add_argument("--no-derain", action="store_true", help="detect on the rainy frames instead")
    args = p.parse_args(argv)

    detector = MotionDetector(args.min_area)
    try:
        frames = rainstream.stream(args.source, weights=args.weights, model=args.model,
                                   device=args.device, color="bgr", tile=args.tile,
                                   overlap=args.overlap,
                                   derainer=_Passthrough() if args.no_derain else None)
        with frames:
            for n, f in enumerate(frames, 1):
                boxes = detector(f.image)
                when = "n/a" if f.time is None else f"{f.time:7.3f} s"
                print(f"frame {f.index:5d}  t={when}  latency={f.latency * 1000:6.0f} ms  "
                      f"objects={len(boxes):3d}  {boxes[:3]}", flush=True)
                if args.max_frames and n >= args.max_frames:
                    break
            print(frames.stats.line())
    except RainstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
