"""Bad input and damaged files: one clear line, non-zero exit, nothing at the output path."""
from __future__ import annotations

import os

import av
import numpy as np
import pytest
from conftest import InvertEngine, make_clip, read_video
from conftest import run_cli as run_rainstream

import rainstream
from rainstream.errors import RainstreamError
from rainstream.pipeline import RunConfig


def run_cli(capsys, *argv):
    return run_rainstream(capsys, "run", *argv, "--model", "nerd_rain_tiny", "--allow-untrained", "--no-progress")


def audio_only(path) -> str:
    with av.open(str(path), "w") as out:
        st = out.add_stream("aac", rate=48000, layout="mono")
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            out.mux(st.encode(f))
        out.mux(st.encode(None))
    return str(path)


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "no_video", "empty"])
def test_bad_input_is_one_clear_line(tmp_path, capsys, kind):
    src = tmp_path / "in.mp4"
    if kind == "garbage":
        src.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        make_clip(tmp_path / "whole.mp4", frames=10)
        data = (tmp_path / "whole.mp4").read_bytes()
        src.write_bytes(data[: len(data) // 2])
    elif kind == "no_video":
        src = tmp_path / "in.m4a"
        audio_only(src)
    elif kind == "empty":
        src.write_bytes(b"")
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, "-o", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    expected = {"missing": "not found", "no_video": "no video stream"}.get(kind, "cannot read")
    assert expected in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_folder_missing_or_unwritable(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    code, err = run_cli(capsys, src, "-o", tmp_path / "nope" / "out.mp4")
    assert code == 2 and err.strip() == f"error: output folder does not exist: {tmp_path / 'nope'}"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions do not apply
            target = "/proc/out.mp4"
        else:
            target = locked / "out.mp4"
        code, err = run_cli(capsys, src, "-o", target)
        assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1, err
        assert not os.path.exists(target)
    finally:
        locked.chmod(0o700)


def test_unknown_output_extension(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    code, err = run_cli(capsys, src, "-o", tmp_path / "out.xyz")
    assert code == 2 and "cannot write" in err and "Traceback" not in err
    assert not (tmp_path / "out.xyz").exists()


def _corrupt_packet(src: str, dst: str, index: int) -> None:
    with av.open(src) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(open(src, "rb").read())
    pos, size = packets[index]
    data[pos:pos + size] = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    open(dst, "wb").write(data)


def test_corrupt_packet_is_skipped_reported_and_never_silent(tmp_path):
    good = make_clip(tmp_path / "good.mp4", frames=20, gop=5)
    bad = str(tmp_path / "bad.mp4")
    _corrupt_packet(good, bad, 10)  # a keyframe: its GOP cannot be decoded cleanly
    out = tmp_path / "out.mp4"
    opts = RunConfig.load(progress=False, segment_frames=8)
    with pytest.raises(RainstreamError, match=r"input frame\(s\) could not be decoded \(at 0\.400s"):
        rainstream.derain(bad, out, derainer=InvertEngine(), config=opts)
    assert not out.exists()
    # Asked to keep going, it writes every frame that did decode, in order, and says so.
    summary = rainstream.derain(bad, out, derainer=InvertEngine(), progress=False, allow_missing_frames=True,
                                resume=True, segment_frames=8)
    got = read_video(out)
    assert 0 < len(got["pts"]) < 20 and got["pts"] == sorted(got["pts"])
    assert summary.frames == len(got["pts"])
