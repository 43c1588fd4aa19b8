"""``rainstream.stream``: derained frames for detectors, from files (and, in test_rtsp_live.py, RTSP)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_clip

import rainstream
from rainstream.engine import Derainer, EngineConfig
from rainstream.errors import RainstreamError
from rainstream.io import FileSource


class Half(torch.nn.Module):
    def forward(self, x):
        return x * 0.5


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "rainy.mp4", width=48, height=32, frames=6)


@pytest.fixture
def half():
    return Derainer(Half(), EngineConfig(tile=32, overlap=4, device="cpu"))


def decoded(path):
    with FileSource(path) as src:
        return list(src)


def test_file_stream_yields_every_frame_derained_with_timing(clip, half):
    originals = decoded(clip)
    with rainstream.stream(clip, derainer=half) as frames:
        assert not frames.live  # a file is not dropped from
        got = list(frames)
    assert len(got) == len(originals) == 6
    for f, o in zip(got, originals):
        assert isinstance(f, rainstream.DerainedFrame)
        assert f.image.dtype == np.uint8 and f.image.shape == (32, 48, 3)
        assert np.abs(f.image.astype(int) - np.round(o.image * 0.5).astype(int)).max() <= 1
        assert (f.pts, f.index) == (o.pts, o.index)
        assert f.latency >= 0
    assert [round(f.time, 3) for f in got] == [round(i / 25, 3) for i in range(6)]
    assert frames.stats.dropped == 0 and frames.stats.frames_out == 6


def test_bgr_and_tensor_outputs_match_rgb(clip, half):
    rgb = [f.image for f in rainstream.stream(clip, derainer=half)]
    bgr = [f.image for f in rainstream.stream(clip, derainer=half, color="bgr")]
    tensors = [f.image for f in rainstream.stream(clip, derainer=half, as_tensor=True)]
    for a, b, t in zip(rgb, bgr, tensors):
        assert np.array_equal(a[..., ::-1], b) and b.flags["C_CONTIGUOUS"]  # ready for OpenCV
        assert isinstance(t, torch.Tensor) and t.shape == (3, 32, 48) and t.dtype == torch.float32
        assert t.device == half.device
        assert np.abs(t.permute(1, 2, 0).numpy() * 255 - a).max() <= 1


def test_live_file_is_paced_and_breaking_out_stops_the_source(clip, half):
    frames = rainstream.stream(clip, derainer=half, live=True)
    assert frames.live
    got = []
    for f in frames:
        got.append(f)
        if len(got) == 3:
            break
    assert frames.source._closed.is_set()  # leaving the loop closed the camera
    assert [f.index for f in got] == [0, 1, 2]


@pytest.mark.slow
def test_real_tiny_model_matches_a_direct_engine_call(tmp_path):
    clip = make_clip(tmp_path / "tiny.mp4", frames=1, width=32, height=32)
    torch.manual_seed(0)
    frames = list(rainstream.stream(clip, model="nerd_rain_tiny", device="cpu", tile=32, overlap=0,
                                   allow_untrained=True))
    torch.manual_seed(0)
    from rainstream.model import load_model

    engine = Derainer(load_model("nerd_rain_tiny"), EngineConfig(tile=32, overlap=0, device="cpu"))
    assert len(frames) == 1
    for f, o in zip(frames, decoded(clip)):
        assert np.array_equal(f.image, engine(o.image))
        assert not np.array_equal(f.image, o.image)  # the model changed the picture


def test_bad_arguments_are_one_line_errors(clip, half, tmp_path):
    with pytest.raises(RainstreamError, match="color must be"):
        rainstream.stream(clip, derainer=half, color="hsv")
    with pytest.raises(RainstreamError, match="input not found"):
        rainstream.stream(str(tmp_path / "missing.mp4"), derainer=half)
    with pytest.raises(RainstreamError, match="webcam not found"):
        rainstream.stream(97, derainer=half)
    with pytest.raises(RainstreamError, match="`tile` must be at least 16"):
        rainstream.stream(clip, model="nerd_rain_tiny", device="cpu", tile=4, allow_untrained=True)
    once = rainstream.stream(clip, derainer=half)
    list(once)
    with pytest.raises(RainstreamError, match="only once"):
        list(once)


def test_detector_sample_runs_on_a_clip(tmp_path, capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "samples", "detector_consumer.py")
    spec = importlib.util.spec_from_file_location("detector_consumer", path)
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    clip = make_clip(tmp_path / "c.mp4", frames=4, width=32, height=32)
    # --no-derain: the detector plumbing without the model (its cost is covered above)
    assert sample.main([clip, "--no-derain", "--max-frames", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["0", "1", "2"]
    assert all("objects=" in line for line in lines[:3]) and "latency median" in lines[3]
    assert sample.main([str(tmp_path / "none.mp4"), "--no-derain"]) == 2
