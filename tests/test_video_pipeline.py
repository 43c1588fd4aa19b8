"""The video pipeline on real clips: timing, audio, colour tags, rotation and pixels survive."""
from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from conftest import FailingEngine, InvertEngine, luma_psnr, make_clip, pattern, read_video

import rainstream
from rainstream.errors import RainstreamError
from rainstream.io import FileSource
from rainstream.io.colour import frame_to_rgb
from rainstream.pipeline import Batcher, RunConfig
from rainstream.pipeline.queues import END


def derain_video(input, output, engine, config: RunConfig):
    return rainstream.derain(input, output, derainer=engine, config=config)


def assert_engine_output(src: dict, out: dict) -> None:
    """Each output frame is the engine's output for the same input frame, and not the input."""
    assert len(out["frames"]) == len(src["frames"])
    for x, y in zip(src["frames"], out["frames"]):
        expected = np.iinfo(x.dtype).max - x
        assert y.dtype == x.dtype and y.shape == x.shape
        assert luma_psnr(expected, y) >= 30.0
        assert luma_psnr(x, y) < 15.0  # visibly changed


def opts(**kw) -> RunConfig:
    return RunConfig.load(progress=False, segment_frames=kw.pop("segment_frames", 4), **kw)


def test_odd_size_ntsc_rate_audio_colour_rotation_survive(tmp_path):
    src_path = make_clip(tmp_path / "in.mp4", width=100, height=60, frames=14,
                         rate=Fraction(30000, 1001), audio=True, colorspace=1, color_primaries=1,
                         color_trc=1, rotation=90)
    out_path = tmp_path / "out.mp4"
    summary = derain_video(src_path, out_path, InvertEngine(), opts(batch=3))
    src, out = read_video(src_path), read_video(out_path)
    assert summary.frames == 14 and summary.new_frames == 14
    assert out["pts"] == src["pts"]
    assert out["info"].time_base == src["info"].time_base
    assert out["duration"] == pytest.approx(src["duration"], abs=1e-6)
    assert out["info"].rate == Fraction(30000, 1001)
    assert len(src["audio"]) > 10 and out["audio"] == src["audio"]  # copied, not re-encoded
    si, oi = src["info"], out["info"]
    assert (oi.colorspace, oi.color_primaries, oi.color_trc, oi.color_range) == (1, 1, 1, 1)
    assert (oi.width, oi.height) == (100, 60)
    assert oi.rotation == 90 and oi.display_matrix == si.display_matrix
    assert_engine_output(src, out)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # work dir and temp files removed


def test_25fps_into_matroska(tmp_path):
    src_path = make_clip(tmp_path / "in.mp4", frames=10, rate=Fraction(25))
    out_path = tmp_path / "out.mkv"
    derain_video(src_path, out_path, InvertEngine(), opts(batch=2))
    src, out = read_video(src_path), read_video(out_path)
    assert out["info"].codec == "h264"
    assert out["times"] == pytest.approx(src["times"], abs=1e-3)  # Matroska stores milliseconds
    assert_engine_output(src, out)


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    pts = [0, 512, 1536, 1792, 3584, 3840, 4096, 6400, 6912, 7168, 9000, 9600]
    src_path = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 12800))
    out_path = tmp_path / "out.mp4"
    derain_video(src_path, out_path, InvertEngine(), opts(batch=4, segment_frames=5))
    src, out = read_video(src_path), read_video(out_path)
    assert src["pts"] == pts
    assert out["pts"] == pts
    assert_engine_output(src, out)


def test_ten_bit_input_stays_ten_bit(tmp_path):
    src_path = make_clip(tmp_path / "in10.mp4", frames=6, pix_fmt="yuv420p10le", colorspace=9,
                         color_primaries=9, color_trc=14)
    out_path = tmp_path / "out.mp4"
    derain_video(src_path, out_path, InvertEngine(), opts())
    src, out = read_video(src_path), read_video(out_path)
    assert src["frames"][0].dtype == np.uint16
    assert out["info"].pix_fmt == "yuv420p10le" and out["info"].high_bit_depth
    assert (out["info"].colorspace, out["info"].color_primaries, out["info"].color_trc) == (9, 9, 14)
    assert_engine_output(src, out)


def test_full_range_input_stays_full_range(tmp_path):
    src_path = make_clip(tmp_path / "full.mp4", frames=6, color_range=2, colorspace=1)
    out_path = tmp_path / "out.mp4"
    derain_video(src_path, out_path, InvertEngine(), opts())
    src, out = read_video(src_path), read_video(out_path)
    assert src["info"].color_range == 2 and out["info"].color_range == 2
    assert_engine_output(src, out)


@pytest.mark.parametrize("color_range", [1, 2])
def test_source_converts_with_the_streams_own_matrix_and_range(tmp_path, color_range):
    """BT.709 clip decodes back to the pattern it was made from; a BT.601 guess would not."""
    path = make_clip(tmp_path / "c.mp4", frames=3, colorspace=1, color_range=color_range)
    with FileSource(path) as src:
        frames = list(src)
        info = src.info
    errors = [np.abs(f.image.astype(int) - pattern(i, 48, 64)).mean() for i, f in enumerate(frames)]
    assert max(errors) < 3.5  # compression noise only
    import av
    from av.video.reformatter import ColorRange, Colorspace

    with av.open(path) as c:
        first = next(c.decode(video=0))
        rng = ColorRange.JPEG if color_range == 2 else ColorRange.MPEG
        wrong = frame_to_rgb(first, Colorspace.ITU601, rng, False)  # FFmpeg's usual guess
    assert np.abs(wrong.astype(int) - pattern(0, 48, 64)).mean() > 2 * max(errors)
    assert info.colorspace == 1


def test_batcher_groups_same_size_frames():
    from rainstream.frames import Frame

    shapes = [(4, 4)] * 5 + [(2, 2)] * 2 + [(4, 4)]
    frames = iter([Frame(image=np.zeros((*s, 3), np.uint8), index=i) for i, s in enumerate(shapes)])
    batcher = Batcher(lambda block: next(frames, END), 3)
    got = []
    while (batch := batcher.next()) is not END:
        got.append([f.index for f in batch])
    assert got == [[0, 1, 2], [3, 4], [5, 6], [7]]


class _CountingSource:
    """Wraps a source and records how far decoding runs ahead of the engine."""

    def __init__(self, inner, engine):
        self.inner, self.engine, self.info = inner, engine, inner.info
        self.max_ahead = 0

    def __iter__(self):
        for n, frame in enumerate(self.inner):
            self.max_ahead = max(self.max_ahead, n - self.engine.done)
            yield frame

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()


class _SlowEngine(InvertEngine):
    def __init__(self):
        super().__init__(delay_s=0.01)
        self.done = 0

    def derain_images(self, images):
        out = super().derain_images(images)
        self.done += len(images)
        return out


def test_queues_are_bounded_so_memory_stays_flat(tmp_path):
    path = make_clip(tmp_path / "long.mp4", frames=40)
    engine = _SlowEngine()
    source = _CountingSource(FileSource(path), engine)
    derain_video(source, tmp_path / "out.mp4", engine, opts(batch=2, queue_frames=4, segment_frames=50))
    # queue (4) + the batch being assembled (2) + one frame blocked in put + one in flight
    assert source.max_ahead <= 4 + 2 + 2
    assert len(read_video(tmp_path / "out.mp4")["frames"]) == 40


def test_engine_error_stops_all_stages_and_reaches_the_caller(tmp_path):
    path = make_clip(tmp_path / "in.mp4", frames=30)
    out = tmp_path / "out.mp4"
    before = threading.active_count()
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="engine exploded"):
        derain_video(path, out, FailingEngine(ValueError("engine exploded")), opts(queue_frames=2))
    assert time.monotonic() - t0 < 20
    assert not out.exists()
    assert threading.active_count() == before  # source and sink threads ended


class _WrongSizeEngine(InvertEngine):
    def derain_images(self, images):
        return [im[:-2] for im in images]


def test_sink_error_reaches_the_caller(tmp_path):
    path = make_clip(tmp_path / "in.mp4", frames=8)
    with pytest.raises(RainstreamError, match="size changes are not supported"):
        derain_video(path, tmp_path / "out.mp4", _WrongSizeEngine(), opts())
    assert not (tmp_path / "out.mp4").exists()


def test_pipeline_bench_times_the_same_frames(tmp_path):
    from rainstream.bench.pipeline import run_pipeline_bench

    clip = make_clip(tmp_path / "b.mp4", frames=9)
    engine = InvertEngine(delay_s=0.01)
    result = run_pipeline_bench(clip, engine, batch=2)
    assert result.frames == 9
    assert engine.calls == 1 + 5 + 5  # warm-up, engine-only pass, pipeline pass
    assert result.end_to_end_fps > 0 and result.engine_fps > 0
    assert "efficiency" in result.line()


def test_large_frames_get_shorter_queues_in_jobs_and_ray_parts_alike(tmp_path):
    from types import SimpleNamespace

    from rainstream.pipeline.config import PipelineSettings
    from rainstream.pipeline.job import make_runner

    def video(w, h, deep=False):
        return SimpleNamespace(width=w, height=h, high_bit_depth=deep)

    engine = InvertEngine()
    assert make_runner(engine, PipelineSettings(), info=video(1920, 1080)).queue_frames == 8  # 6 MB frames
    assert make_runner(engine, PipelineSettings(), info=video(3840, 2160)).queue_frames == 4  # 96 MiB / 24.9 MB
    assert make_runner(engine, PipelineSettings(), info=video(7680, 4320, deep=True)).queue_frames == 2  # floor
    assert make_runner(engine, PipelineSettings(queue_frames=6), info=video(3840, 2160)).queue_frames == 6
    assert make_runner(engine, PipelineSettings(batch=4), info=video(3840, 2160)).queue_frames == 4  # a batch fits

