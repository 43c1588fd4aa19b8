"""How a rainy picture was stored: JPEG, or one H.264 intra frame (what cameras and phones hand over).

Real rainy footage reaches a derainer compressed; blocks and ringing around streaks are part of what it
must cope with. The clean target stays uncompressed, so the model learns to remove rain without
copying (or inventing) compression artefacts.
"""
from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from rainstream.errors import RainstreamError


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Float RGB in [0, 1] through a JPEG of ``quality`` (1-100) and back."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(_to_uint8(image), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RainstreamError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / np.float32(255.0)


def h264(image: np.ndarray, crf: int) -> np.ndarray:
    """Float RGB in [0, 1] through one x264 intra frame (yuv420p, CRF ``crf``) and back."""
    height, width = image.shape[:2]
    # yuv420p needs even sides: mirror one row/column in, crop it off after decoding
    padded = np.pad(_to_uint8(image), ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = padded.shape[1], padded.shape[0]
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"crf": str(int(crf)), "preset": "veryfast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    if not decoded:
        raise RainstreamError("H.264 round trip produced no frame")
    rgb = decoded[0].to_ndarray(format="rgb24")[:height, :width]
    return rgb.astype(np.float32) / np.float32(255.0)


def compress(image: np.ndarray, kind: str, quality: int) -> np.ndarray:
    """``image`` as stored by ``kind`` ("none", "jpeg", "h264") at ``quality``."""
    if kind == "none":
        return image
    if kind == "jpeg":
        return jpeg(image, quality)
    if kind == "h264":
        return h264(image, quality)
    raise RainstreamError(f"unknown compression {kind!r}")
