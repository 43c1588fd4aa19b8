"""Pipeline efficiency: end-to-end fps of the video job divided by engine-only fps on the same frames.

Engine-only = ``derain_images`` on pre-decoded frames (nothing else running). End-to-end = the real
video job (decode thread -> batcher + engine with a batch in flight -> encode thread -> segment mux ->
final remux). The ratio says how much decode, muxing and thread hand-offs cost on top of inference.
The goal is >= 0.9: the stages overlap, so only the engine should set the pace.
Wired to ``rainstream bench --pipeline CLIP``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

from rainstream.io.file_source import FileSource
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.dispatch import open_job


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


def run_pipeline_bench(clip: str, derainer, batch: int = 1, max_frames: int | None = None,
                       config: RunConfig | None = None, warmup: int = 1) -> PipelineBench:
    """Time the engine on the clip's decoded frames (pre-decoded batches), then the whole video job.

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

    config = RunConfig.load(config, batch=batch, progress=False, frames=len(frames))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench" + (os.path.splitext(clip)[1] or ".mp4"))
        t0 = time.perf_counter()
        with open_job(clip, out, config) as job:
            job.run(derainer)
        pipeline_s = time.perf_counter() - t0
    n = len(frames)
    return PipelineBench(frames=n, end_to_end_fps=n / pipeline_s, engine_fps=n / engine_s)
