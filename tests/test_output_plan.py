"""The output is decided and tried before any frame is derained: containers, codecs, odd sizes, 10-bit.

Every case writes a real clip with PyAV and reads the real output back; refusals are one line, exit 2,
no traceback, no leftover work folder, and the engine never ran.
"""
from __future__ import annotations

import os

import av
import numpy as np
import pytest
from conftest import FailingEngine, InvertEngine, luma_psnr, make_clip, read_video, run_cli

import rainstream
from rainstream.errors import RainstreamError
from rainstream.io.images import read_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hidden(folder) -> list[str]:
    """Work folders, trial folders and temp files left next to the output."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def stream_of(path) -> tuple[str, str, int, int, int]:
    """(codec, pix_fmt, width, height, decoded frames) of a file's video stream."""
    with av.open(os.fspath(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        return v.codec_context.name, v.codec_context.pix_fmt, v.width, v.height, frames


@pytest.fixture
def odd_clip(tmp_path):
    """333x187 with audio: an odd size a phone editor's crop gives (4:4:4, since 4:2:0 cannot be odd)."""
    return make_clip(tmp_path / "odd.mp4", width=333, height=187, frames=4, audio=True, pix_fmt="yuv444p")


def test_odd_size_video_keeps_its_size_and_every_pixel(tmp_path, odd_clip, tiny_weights, capsys):
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, "run", odd_clip, "-o", out, "--model", "nerd_rain_tiny", "--weights", tiny_weights,
                        "--device", "cpu", "--frames", "2", "--no-progress")
    assert code == 0, err
    assert "Traceback" not in err and "is odd, so libx264 writes 4:4:4 (yuv444p)" in err
    assert stream_of(out) == ("h264", "yuv444p", 333, 187, 2)
    assert hidden(tmp_path) == []


def test_odd_size_pixels_follow_the_engine(tmp_path, odd_clip):
    out = tmp_path / "out.mp4"
    rainstream.derain(odd_clip, out, derainer=InvertEngine(), progress=False)
    src, got = read_video(odd_clip), read_video(out)
    assert len(got["frames"]) == 4 and got["audio"] == src["audio"]
    for x, y in zip(src["frames"], got["frames"]):
        assert y.shape == (187, 333, 3) and luma_psnr(255 - x, y) >= 35.0


@pytest.mark.parametrize("name, codec, settings, expected", [
    ("out.webm", "vp9", {}, ("vp9", "yuv420p")),
    ("out.avi", "mpeg4", {}, ("mpeg4", "yuv420p")),
    ("out.gif", "gif", {}, ("gif", None)),
    ("out.mkv", "ffv1", {"codec": "ffv1"}, ("ffv1", "bgr0")),
])
def test_containers_get_a_codec_they_take(tmp_path, odd_clip, name, codec, settings, expected):
    out = tmp_path / name
    engine = InvertEngine()
    summary = rainstream.derain(odd_clip, out, derainer=engine, progress=False, **settings)
    assert summary.frames == 4 and engine.calls == 4
    got_codec, pix_fmt, w, h, frames = stream_of(out)
    assert (got_codec, w, h, frames) == (expected[0], 333, 187, 4)
    if expected[1]:
        assert pix_fmt == expected[1]
    assert hidden(tmp_path) == []


def test_ffv1_is_lossless_after_the_derain(tmp_path, odd_clip):
    out = tmp_path / "out.mkv"
    rainstream.derain(odd_clip, out, derainer=InvertEngine(), codec="ffv1", progress=False)
    src = read_video(odd_clip)
    with av.open(os.fspath(out)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert all(np.array_equal(255 - x, y) for x, y in zip(src["frames"], got))


def test_video_to_numbered_stills(tmp_path, odd_clip):
    (tmp_path / "frames").mkdir()
    rainstream.derain(odd_clip, tmp_path / "frames" / "f_%03d.png", derainer=InvertEngine(), progress=False)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["f_001.png", "f_002.png", "f_003.png", "f_004.png"]
    src = read_video(odd_clip)
    assert np.array_equal(read_image(str(tmp_path / "frames" / "f_002.png")), 255 - src["frames"][1])
    assert hidden(tmp_path) == [] and hidden(tmp_path / "frames") == []


@pytest.mark.parametrize("output, settings, message", [
    ("out.webm", ["--codec", "libx264"], "'webm' format does not support 'libx264' codec"),
    ("out.mp4", ["--pix-fmt", "yuv420p"], "the size 333x187 is odd and 4:2:0 needs even sizes"),
    ("out.png", [], "a video gives many pictures: name the output as a numbered sequence"),
    ("out.mp4", ["--codec", "gif"], "GIF is its own container"),
])
def test_refused_outputs_fail_at_once_in_one_line(tmp_path, odd_clip, capsys, output, settings, message):
    code, err = run_cli(capsys, "run", odd_clip, "-o", tmp_path / output, "--model", "nerd_rain_tiny",
                        "--device", "cpu", *settings)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], err
    assert "Traceback" not in err and "UNTRAINED" not in err  # refused before the model was built
    assert not (tmp_path / output).exists() and hidden(tmp_path) == []


def test_refused_output_never_runs_the_engine(tmp_path, odd_clip):
    engine = InvertEngine()
    with pytest.raises(RainstreamError, match="cannot write .*out.webm as libx264"):
        rainstream.derain(odd_clip, tmp_path / "out.webm", derainer=engine, codec="libx264")
    assert engine.calls == 0 and hidden(tmp_path) == []


def test_ten_bit_input_gets_hevc_main10_and_h264_stays_8_bit(tmp_path):
    src = make_clip(tmp_path / "in10.mp4", frames=3, pix_fmt="yuv420p10le", codec="libx265")
    rainstream.derain(src, tmp_path / "auto.mp4", derainer=InvertEngine(), progress=False)
    assert stream_of(tmp_path / "auto.mp4")[:2] == ("hevc", "yuv420p10le")
    rainstream.derain(src, tmp_path / "h264.mp4", derainer=InvertEngine(), codec="libx264", progress=False)
    assert stream_of(tmp_path / "h264.mp4")[:2] == ("h264", "yuv420p")
    with av.open(os.fspath(tmp_path / "h264.mp4")) as c:
        assert c.streams.video[0].codec_context.profile == "High"  # not High 10
    plain = make_clip(tmp_path / "in8.mp4", frames=3)
    rainstream.derain(plain, tmp_path / "eight.mp4", derainer=InvertEngine(), progress=False)
    assert stream_of(tmp_path / "eight.mp4")[:2] == ("h264", "yuv420p")


def test_a_failed_job_leaves_no_work_folder(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6)
    with pytest.raises(RainstreamError, match="gave up"):
        rainstream.derain(src, tmp_path / "out.mp4", derainer=FailingEngine(RainstreamError("the engine gave up")), segment_frames=1, progress=False)
    assert hidden(tmp_path) == [] and not (tmp_path / "out.mp4").exists()


def test_one_frame_hevc_segments_mux(tmp_path):
    """libx265 gives one- and two-frame segments garbage decode times (MP4 refused about half of them)."""
    src = make_clip(tmp_path / "in10.mp4", frames=3, pix_fmt="yuv420p10le")
    for attempt in range(3):
        out = tmp_path / f"out{attempt}.mp4"
        rainstream.derain(src, out, derainer=InvertEngine(), segment_frames=1, progress=False)
        assert read_video(out)["pts"] == read_video(src)["pts"]
