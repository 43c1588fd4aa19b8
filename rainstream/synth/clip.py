"""Rainy clips for demos and tests: a still photo with camera motion, or an existing video, plus rain.

Writes H.264 (yuv420p, plays everywhere) through PyAV to a temporary name and renames it only
when the encoder has been flushed, so a crash never leaves a truncated clip under the real name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.synth.camera import CameraPath, camera_frames
from rainstream.synth.images import is_image_path, read_image, to_uint8
from rainstream.synth.render import RainVideoRenderer
from rainstream.synth.settings import RainSettings


@dataclass(frozen=True)
class ClipSpec:
    """How to make a clip. ``size`` None keeps a video's size (a photo then becomes 640x360);
    ``seconds``/``fps`` None mean 4 s at 25 fps for a photo, the whole video at its own rate."""

    size: tuple[int, int] | None = None  # (width, height)
    seconds: float | None = None
    fps: float | None = None
    seed: int = 0
    settings: RainSettings = RainSettings()
    crf: int = 23
    preset: str = "medium"
    codec: str = "libx264"


@dataclass(frozen=True)
class ClipResult:
    frames: int
    width: int
    height: int
    fps: Fraction


def parse_size(text: str) -> tuple[int, int]:
    """``640x360`` -> (640, 360); both even, because yuv420p halves the chroma planes."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise RainstreamError(f"size must look like 640x360, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise RainstreamError(f"size must be even and at least 16x16, got {text!r}")
    return width, height


class _ClipWriter:
    """One H.264 output; ``close()`` flushes the encoder then renames the temporary file."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, spec: ClipSpec):
        self.path = path
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        try:
            self.container = av.open(str(self.tmp), mode="w")
            self.stream = self.container.add_stream(spec.codec, rate=fps)
        except (OSError, av.FFmpegError, ValueError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise RainstreamError(f"cannot write {path}: {exc}") from None
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(spec.crf), "preset": spec.preset}

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):  # flush delayed frames
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the partial file is removed below
            pass
        self.tmp.unlink(missing_ok=True)


def _photo_frames(source: Path, spec: ClipSpec) -> tuple[Iterator[np.ndarray], int, int, Fraction, int]:
    width, height = spec.size or (640, 360)
    fps = Fraction(spec.fps or 25).limit_denominator(1001)
    count = max(1, round((spec.seconds or 4.0) * fps))
    photo = read_image(source)
    path = CameraPath.random(np.random.default_rng([spec.seed, 1]))
    return camera_frames(photo, height, width, count, path), width, height, fps, count


def _video_frames(source: Path, spec: ClipSpec) -> tuple[Iterator[np.ndarray], int, int, Fraction, int | None]:
    try:
        container = av.open(str(source))
        stream = container.streams.video[0]
    except (av.FFmpegError, IndexError) as exc:
        raise RainstreamError(f"cannot read video {source}: {exc}") from None
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    fps = Fraction(spec.fps).limit_denominator(1001) if spec.fps else Fraction(rate)
    width, height = spec.size or (stream.width - stream.width % 2, stream.height - stream.height % 2)
    limit = round(spec.seconds * fps) if spec.seconds else None

    def frames() -> Iterator[np.ndarray]:
        with container:
            stream.thread_type = "AUTO"
            try:
                for index, frame in enumerate(container.decode(stream)):
                    if limit is not None and index >= limit:
                        break
                    rgb = frame.to_ndarray(format="rgb24")
                    if rgb.shape[:2] != (height, width):
                        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                    yield rgb.astype(np.float32) / np.float32(255.0)
            except av.FFmpegError as exc:
                raise RainstreamError(f"cannot decode {source}: {exc}") from None

    return frames(), width, height, fps, limit


def make_clip(source: Path, output: Path, clean_output: Path | None = None,
              spec: ClipSpec = ClipSpec()) -> ClipResult:
    """Render ``source`` (photo or video) with coherent rain into ``output`` (and the clean frames
    into ``clean_output``). The same spec and source always give the same frames."""
    source, output = Path(source), Path(output)
    if not source.is_file():
        raise RainstreamError(f"no such file: {source}")
    for target in (output, clean_output):
        if target is not None and not Path(target).parent.is_dir():
            raise RainstreamError(f"output folder does not exist: {Path(target).parent}")
    if is_image_path(source):
        frames, width, height, fps, _ = _photo_frames(source, spec)
    else:
        frames, width, height, fps, _ = _video_frames(source, spec)
    renderer = RainVideoRenderer(height, width, spec.settings, seed=spec.seed)
    writers = [_ClipWriter(output, width, height, fps, spec)]
    if clean_output is not None:
        writers.append(_ClipWriter(Path(clean_output), width, height, fps, spec))
    count = 0
    try:
        for t, clean in enumerate(frames):
            writers[0].write(to_uint8(renderer.render(clean, t)))
            if len(writers) > 1:
                writers[1].write(to_uint8(clean))
            count += 1
        if count == 0:
            raise RainstreamError(f"{source} has no video frames")
        for writer in writers:
            writer.close()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    logger.info(f"wrote {output} ({count} frames, {width}x{height} @ {float(fps):.3g} fps)")
    return ClipResult(frames=count, width=width, height=height, fps=fps)
