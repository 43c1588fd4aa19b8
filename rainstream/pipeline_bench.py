"""Pipeline efficiency: end-to-end fps of ``derain_video`` vs the engine alone on the same frames.

The ratio says how much decode, colour conversion, encode, muxing and thread hand-offs cost on top
of inference. The goal is >= 0.9: the stages overlap, so only the engine should set the pace.
Wired to ``rainstream bench --pipeline CLIP``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

from rainstream.io import FileSource
from rainstream.pipeline import ImageDerainer, PipelineOptions, derain_video


@dataclass
class PipelineBench:
    frames: int
    end_to_end_fps: float
    engine_fps: float

    @property
    def efficiency(self) -> float:
        return self.end_to_end_fps / self.engine_fps if self.engine_fps else 0.0

    def line(self) -> str:
        return (f"pipeline: {self.frames} frames, end-to-end {self.end_to_end_fps:.2f} fps, engine-only "
                f"{self.engine_fps:.2f} fps, efficiency {self.efficiency:.2f}")


def run_pipeline_bench(clip: str, derainer: ImageDerainer, batch: int = 1, max_frames: int | None = None,
                       options: PipelineOptions | None = None, warmup: int = 1) -> PipelineBench:
    """Time the engine on the clip's decoded frames (pre-decoded batches), then the whole pipeline.

    ``warmup`` batches run first so lazy initialisation (allocator, compile) is not charged to
    either side. Both sides process exactly the same frames.
    """
    with FileSource(clip) as src:
        frames = [f.image for _, f in zip(range(max_frames or 10**9), src)]
    batches = [frames[i:i + batch] for i in range(0, len(frames), batch)]
    for b in batches[:warmup]:
        derainer.derain_images(b)
    t0 = time.perf_counter()
    for b in batches:
        derainer.derain_images(b)
    engine_s = time.perf_counter() - t0

    options = options or PipelineOptions(batch=batch, progress=False)
    source = _Limited(FileSource(clip), len(frames))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench" + os.path.splitext(clip)[1] or ".mp4")
        t0 = time.perf_counter()
        derain_video(source, out, derainer, options)
        pipeline_s = time.perf_counter() - t0
    n = len(frames)
    return PipelineBench(frames=n, end_to_end_fps=n / pipeline_s, engine_fps=n / engine_s)


class _Limited:
    """The first ``n`` frames of a source (so both timings cover the same frames)."""

    def __init__(self, inner: FileSource, n: int):
        self.inner, self.n, self.info = inner, n, inner.info

    def __iter__(self):
        for i, frame in enumerate(self.inner):
            if i >= self.n:
                return
            yield frame

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()
