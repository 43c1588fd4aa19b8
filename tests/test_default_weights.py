"""The bundled default weights load without --weights, and their checksum guards them."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from rainstream.errors import CheckpointError
from rainstream.model import load_model
from rainstream.model.defaults import DEFAULT_WEIGHTS, models_dir


@pytest.fixture
def bundled():
    if "nerd_rain_s" not in DEFAULT_WEIGHTS:
        pytest.fail("no default weights registered for nerd_rain_s")
    name, _ = DEFAULT_WEIGHTS["nerd_rain_s"]
    return models_dir() / name


def test_default_weights_load_and_are_used(bundled):
    from loguru import logger

    lines = []
    handle = logger.add(lambda m: lines.append(str(m)), level="INFO")
    try:
        model = load_model("nerd_rain_s")
    finally:
        logger.remove(handle)
    assert model.config.dim == 32 and not model.training
    assert any("bundled default weights" in line for line in lines)
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def _corrupted_copy(bundled, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    copy = folder / bundled.name
    shutil.copy(bundled, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the tensor data
    copy.write_bytes(bytes(data))
    return folder


def test_a_corrupted_default_file_is_refused(bundled, tmp_path, monkeypatch):
    monkeypatch.setenv("RAINSTREAM_MODELS", str(_corrupted_copy(bundled, tmp_path)))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model("nerd_rain_s")


def test_corrupted_weights_give_one_error_line_in_the_cli(bundled, tmp_path):
    import cv2

    image = tmp_path / "in.png"
    cv2.imwrite(str(image), (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8))
    env = {**__import__("os").environ, "RAINSTREAM_MODELS": str(_corrupted_copy(bundled, tmp_path))}
    done = subprocess.run([sys.executable, "-m", "rainstream.cli.main", "run", str(image), "-o",
                           str(tmp_path / "out.png")], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "corrupt" in lines[0], done.stderr
    assert not (tmp_path / "out.png").exists()
