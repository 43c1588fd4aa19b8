"""Lost input frames are reported the same way however the job ran (issue 17.1, 17.9; issue 16.11):
an uninterrupted run, a run killed and resumed, a damaged keyframe, an MKV cut off without its index.
Real files made here, real `rainstream run` processes for the interruption."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from conftest import InvertEngine, make_clip, read_video

import rainstream
from rainstream.errors import RainstreamError
from rainstream.pipeline import RunConfig, work_dir_for


def _damage_packets(src: str, dst: str, indices) -> None:
    """Overwrite whole packets with noise (what lost or mangled data does to a file)."""
    with av.open(src) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(open(src, "rb").read())
    rng = np.random.default_rng(1)
    for i in indices:
        pos, size = packets[i]
        data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    open(dst, "wb").write(data)


def test_damaged_keyframe_counts_every_frame_it_takes_down(tmp_path):
    good = make_clip(tmp_path / "good.mp4", frames=50, gop=25)
    bad = str(tmp_path / "bad.mp4")
    _damage_packets(good, bad, [25])  # the second GOP's keyframe: its 24 P-frames decode as garbage
    out = tmp_path / "out.mp4"
    with pytest.raises(RainstreamError, match=r"^25 input frame\(s\) could not be decoded \(at 1\.000s"):
        rainstream.derain(bad, out, derainer=InvertEngine(), progress=False)
    assert not out.exists() and not os.path.exists(work_dir_for(str(out)))


def _truncated_mkv(tmp_path) -> str:
    whole = make_clip(tmp_path / "whole.mkv", frames=25)
    data = open(whole, "rb").read()
    cut = str(tmp_path / "cut.mkv")
    open(cut, "wb").write(data[:len(data) * 6 // 10])  # no cues (index), no tail
    return cut


def test_truncated_mkv_is_reported_like_missing_frames(tmp_path, capsys):
    from conftest import run_cli

    cut = _truncated_mkv(tmp_path)
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, "run", cut, "-o", out, "--model", "nerd_rain_tiny", "--allow-untrained", "--device", "cpu",
                        "--tile", "32", "--overlap", "0", "--no-progress")
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err, err
    assert last.startswith("error: the input's frames end at") and "announced duration of 1.00s" in last
    assert "truncated" in last and "--allow-missing-frames" in last
    assert not out.exists()
    code, err = run_cli(capsys, "run", cut, "-o", out, "--model", "nerd_rain_tiny", "--allow-untrained", "--device", "cpu",
                        "--tile", "32", "--overlap", "0", "--no-progress", "--allow-missing-frames")
    assert code == 0 and "WARNING" in err and "truncated" in err
    assert 0 < len(read_video(out)["pts"]) < 25


def test_limit_on_a_truncated_file_is_not_reported(tmp_path):
    """A preview that stops before the cut sees nothing wrong: the rule is about the output's frames."""
    cut = _truncated_mkv(tmp_path)
    rainstream.derain(cut, tmp_path / "o.mp4", derainer=InvertEngine(), progress=False, frames=5)


FRAMES = 40
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(src, out, weights, *extra):
    return [sys.executable, "-m", "rainstream.cli.main", "run", str(src), "-o", str(out),
            "--model", "nerd_rain_tiny", "--weights", weights, "--device", "cpu", "--tile", "32",
            "--overlap", "0", "--segment-frames", "4", "--no-progress", *extra]


@pytest.mark.slow
def test_resume_keeps_the_missing_frames_rule(tmp_path, tiny_weights):
    good = make_clip(tmp_path / "good.mp4", frames=FRAMES, gop=10)
    bad = str(tmp_path / "bad.mp4")
    _damage_packets(good, bad, [5, 6])  # early, so the interrupted run has already passed them
    plain = subprocess.run(_cli(bad, tmp_path / "plain.mp4", tiny_weights), env=ENV, capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 2, plain.stderr
    expected = plain.stderr.strip().splitlines()[-1]
    assert "could not be decoded" in expected

    out = tmp_path / "resumed.mp4"
    proc = subprocess.Popen(_cli(bad, out, tiny_weights), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    journal = os.path.join(work_dir_for(str(out)), "journal.json")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with open(journal) as fh:
                segments = json.load(fh)["segments"]
            if len(segments) >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(s["lost_pts"] for s in segments)  # the journal knows what the killed run lost

    resumed = subprocess.run(_cli(bad, out, tiny_weights, "--resume"), env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 2 and "resuming:" in resumed.stderr
    assert resumed.stderr.strip().splitlines()[-1] == expected  # same line as the uninterrupted run
    assert not out.exists() and not os.path.exists(work_dir_for(str(out)))  # a refusal leaves no work folder

    allowed = subprocess.run(_cli(bad, out, tiny_weights, "--resume", "--allow-missing-frames"), env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    assert "could not be decoded" in allowed.stderr and "WARNING" in allowed.stderr


@pytest.mark.parametrize("damaged,refused", [(5, True), (30, False)], ids=["before-the-limit", "after-the-limit"])
def test_gif_cut_short_by_a_limit_checks_the_frames_it_wrote(tmp_path, damaged, refused):
    good = make_clip(tmp_path / "good.mp4", frames=50, gop=25)
    bad = str(tmp_path / "bad.mp4")
    _damage_packets(good, bad, [damaged])  # a P-frame: it and the rest of its GOP are lost (frame 5: the
    # 10 frames written run to 0.400 s, five of them decoded from a lost reference)
    out = tmp_path / "out.gif"
    if refused:
        with pytest.raises(RainstreamError, match=r"^6 input frame\(s\) could not be decoded \(at 0\.200s, .*, 0\.400s\)"):
            rainstream.derain(bad, out, derainer=InvertEngine(), progress=False, frames=10)
        assert not out.exists()
    else:
        rainstream.derain(bad, out, derainer=InvertEngine(), progress=False, frames=10)
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 10


def test_a_part_derained_on_its_own_applies_the_whole_file_rule(tmp_path):
    """Ray workers derain parts with `run_part`: the part holding the damage fails with the same line
    a whole-file run gives (naming the part), the others complete; allowed, it is written with a warning."""
    from loguru import logger

    from rainstream.pipeline.parts import plan_parts, run_part

    good = make_clip(tmp_path / "good.mp4", frames=75, gop=25)
    bad = str(tmp_path / "bad.mp4")
    _damage_packets(good, bad, [26])  # in the second part: it and the P-frames after it are lost
    parts = plan_parts(bad, 25)
    assert [p.frames for p in parts] == [25, 25, 25]
    out = str(tmp_path / "out.mp4")
    strict = RunConfig.load(allow_missing_frames=False)
    assert run_part(bad, out, str(tmp_path / "strict"), parts[0], strict, InvertEngine()) == (25, 25)
    with pytest.raises(RainstreamError) as whole:
        rainstream.derain(bad, tmp_path / "whole.mp4", derainer=InvertEngine(), progress=False)
    with pytest.raises(RainstreamError) as in_part:
        run_part(bad, out, str(tmp_path / "strict"), parts[1], strict, InvertEngine())
    assert str(in_part.value).startswith("23 input frame(s) could not be decoded in part 1 (at 1.080s, ")
    assert str(in_part.value).replace(" in part 1", "") == str(whole.value)

    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    try:
        allowed = RunConfig.load(allow_missing_frames=True)
        done = [run_part(bad, out, str(tmp_path / "allowed"), part, allowed, InvertEngine()) for part in parts]
    finally:
        logger.remove(sink)
    whole_allowed = rainstream.derain(bad, tmp_path / "whole.mp4", derainer=InvertEngine(), progress=False,
                                      allow_missing_frames=True)
    assert [d[0] for d in done] == [25, 24, 25] and whole_allowed.frames == 74  # the one packet with no frame
    about_lost = [w for w in warnings if "could not be decoded" in w]
    assert len(about_lost) == 1 and about_lost[0].startswith("23 input frame(s) could not be decoded in part 1")
    assert about_lost[0].endswith("the output misses them")
