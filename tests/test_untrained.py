"""No untrained model derains silently: run, derain and stream refuse a model without weights."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import make_clip, run_cli

import rainstream
from rainstream.errors import RainstreamError
from rainstream.io.images import write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def photo(tmp_path) -> str:
    path = str(tmp_path / "in.png")
    write_image(path, (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8))
    return path


def test_bundled_config_without_weights_is_refused(tmp_path, photo, capsys):
    out = tmp_path / "out.png"
    code, err = run_cli(capsys, "run", photo, "-o", out, "--config", "nerd_rain", "--device", "cpu")
    assert code == 2 and not out.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0] == ("error: model nerd_rain has no bundled weights, so it would derain with random weights: "
                        "give --weights (an official checkpoint or a .safetensors file), or set --allow-untrained "
                        "(tests, speed benchmarks)")


def test_allow_untrained_derains_with_the_warning(tmp_path, photo, capsys):
    out = tmp_path / "out.png"
    code, err = run_cli(capsys, "run", photo, "-o", out, "--model", "nerd_rain_tiny", "--allow-untrained",
                        "--device", "cpu", "--no-progress")
    assert code == 0 and out.is_file()
    assert "the model is UNTRAINED (random weights)" in err


def test_default_model_with_bundled_weights_needs_no_flag(tmp_path, photo):
    from rainstream.pipeline.loading import refuse_untrained

    refuse_untrained(None)  # nerd_rain_s ships weights: nothing refused
    refuse_untrained("nerd_rain_s")


def test_derain_and_stream_refuse_too(tmp_path, photo):
    with pytest.raises(RainstreamError, match="model nerd_rain_tiny has no bundled weights"):
        rainstream.derain(photo, tmp_path / "o.png", model="nerd_rain_tiny")
    clip = make_clip(tmp_path / "c.mp4", frames=1)
    with pytest.raises(RainstreamError, match="model drsformer_tiny has no bundled weights"):
        rainstream.stream(clip, model="drsformer_tiny")
    assert not (tmp_path / "o.png").exists()


def test_load_model_still_builds_the_untrained_network():
    """Like timm's create_model(pretrained=False): training and tests build networks without weights."""
    model = rainstream.load_model("nerd_rain_tiny")
    assert not model.training and sum(p.numel() for p in model.parameters()) > 0


def test_one_image_is_one_frame_in_the_summary(tmp_path, photo, tiny_weights, capsys):
    code, err = run_cli(capsys, "run", photo, "-o", tmp_path / "o.png", "--model", "nerd_rain_tiny",
                        "--weights", tiny_weights, "--device", "cpu", "--no-progress")
    assert code == 0 and "1 frame in " in err and "1 frames" not in err


def test_run_help_names_only_files_that_exist(capsys):
    import re
    from pathlib import Path

    from rainstream.cli.main import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    root = Path(__file__).resolve().parents[1]
    cited = re.findall(r"(?:rainstream/)?configs/[\w.]+", text)
    assert all((root / (c if c.startswith("rainstream/") else "rainstream/" + c)).exists() for c in cited), cited
