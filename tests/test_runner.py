"""The one runner and the dispatch, with the real engine (tiny model, CPU) and real files."""
from __future__ import annotations

import os
import sys

import av
import numpy as np
import pytest
from conftest import InvertEngine, make_clip, pattern, read_video

import rainstream
from rainstream.engine import Derainer, EngineConfig
from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.pipeline import RunConfig, Runner, classify, open_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def instrumented(derainer: Derainer) -> list:
    """Record ("submit", k) when batch k is handed to the engine and ("result", k) when collected."""
    events: list = []
    real_submit = derainer.submit

    def submit(images):
        k = sum(1 for e in events if e[0] == "submit")
        pending = real_submit(images)
        events.append(("submit", k))
        real_result = pending.result

        def result():
            events.append(("result", k))
            return real_result()

        pending.result = result
        return pending

    derainer.submit = submit
    return events


IN_FLIGHT = [("submit", 0), ("submit", 1), ("result", 0), ("submit", 2), ("result", 1), ("result", 2)]


def test_runner_submits_batch_k_plus_1_before_collecting_batch_k(tiny):
    derainer = Derainer(tiny, EngineConfig(tile=32, overlap=0, device="cpu"))
    frames = [Frame(image=pattern(i, 32, 32), index=i) for i in range(6)]
    expected = derainer.derain_images([f.image for f in frames])
    events = instrumented(derainer)
    got = list(Runner(derainer, batch=2).frames(frames))
    assert events == IN_FLIGHT
    assert [f.index for f, _ in got] == list(range(6))
    for (_, image), e in zip(got, expected):
        assert np.array_equal(image, e)  # the real model's output, in order


def test_video_job_keeps_a_batch_in_flight(tmp_path, tiny):
    src = make_clip(tmp_path / "in.mp4", width=32, height=32, frames=6)
    derainer = Derainer(tiny, EngineConfig(tile=32, overlap=0, device="cpu"))
    events = instrumented(derainer)
    summary = rainstream.derain(src, tmp_path / "out.mp4", derainer=derainer, batch=2, progress=False)
    assert events == IN_FLIGHT and summary.frames == 6
    assert len(read_video(tmp_path / "out.mp4")["frames"]) == 6


def test_live_mode_never_holds_a_finished_batch(tiny):
    """On the CPU a submitted batch is already done: live mode hands it out before reading on."""
    derainer = Derainer(tiny, EngineConfig(tile=32, overlap=0, device="cpu"))
    events = instrumented(derainer)
    frames = [Frame(image=pattern(i, 32, 32), index=i) for i in range(3)]
    assert len(list(Runner(derainer, live=True, queue_frames=8).frames(frames))) == 3
    assert events == [("submit", 0), ("result", 0), ("submit", 1), ("result", 1), ("submit", 2), ("result", 2)]


def test_video_job_opens_its_input_to_probe_then_to_decode(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=True)
    opened: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(src):
            opened.append(sys._getframe(1).f_globals["__name__"])
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    job = open_job(src, tmp_path / "out.mp4", RunConfig.load(progress=False))
    assert opened == ["rainstream.io.file_source"]  # probed once, before any model is loaded
    job.run(InvertEngine())
    # decoded once; the final remux opens it once more for its audio
    assert opened == ["rainstream.io.file_source", "rainstream.io.file_source", "rainstream.io.assemble"]
    assert read_video(tmp_path / "out.mp4")["audio"] == read_video(src)["audio"]


def test_dispatch_classifies_each_kind_of_input(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    (tmp_path / "shots").mkdir()
    assert classify(clip).name == "video"
    assert classify(str(tmp_path / "a.png")).name == "image"
    assert classify(str(tmp_path / "shots")).name == "folder"
    assert classify("rtsp://cam/stream").name == "live" and classify("webcam:0").name == "live"
    assert classify(clip, RunConfig.load(live=True)).name == "live"  # a file played as a camera
    with pytest.raises(RainstreamError, match="input must be"):
        classify(42)


def test_frames_and_duration_limit_a_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10, audio=True)
    summary = rainstream.derain(src, tmp_path / "five.mp4", derainer=InvertEngine(), frames=5, progress=False)
    got = read_video(tmp_path / "five.mp4")
    assert summary.frames == 5 and len(got["frames"]) == 5 and got["pts"] == read_video(src)["pts"][:5]
    assert max(p for p, _ in got["audio"]) / 48000 < 5 / 25  # audio trimmed to the video
    rainstream.derain(src, tmp_path / "short.mp4", derainer=InvertEngine(), duration=0.2, progress=False)
    assert len(read_video(tmp_path / "short.mp4")["frames"]) == 5  # 0.2 s at 25 fps


def test_settings_are_type_checked_and_misspellings_named(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    with pytest.raises(RainstreamError, match=r"config key 'engine.tile' expects int or null, got 'big'"):
        rainstream.derain(clip, tmp_path / "o.mp4", tile="big")
    with pytest.raises(RainstreamError, match="did you mean crf"):
        rainstream.derain(clip, tmp_path / "o.mp4", crff=3)
    with pytest.raises(RainstreamError, match=r"expects int, got \[1, 2\]"):
        RunConfig.load(overrides=["pipeline.batch=[1, 2]"])
    assert not (tmp_path / "o.mp4").exists()


def test_cli_shows_settings_as_flags(tmp_path, capsys):
    from conftest import run_cli

    clip = make_clip(tmp_path / "in.mp4", frames=2)
    code, err = run_cli(capsys, "run", clip, "-o", tmp_path / "o.mp4", "--tile", "4")
    assert code == 2 and err.strip() == "error: --tile must be at least 16, not 4"
    code, err = run_cli(capsys, "run", clip, "-o", tmp_path / "o.mp4", "engine.tile=4")
    assert code == 2 and err.strip() == "error: --tile must be at least 16, not 4"
