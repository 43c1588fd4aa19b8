"""Progress that suits the output: off a terminal, plain lines every few seconds and no carriage returns."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_clip

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_into_a_log_file_prints_plain_progress_lines(tmp_path, tiny_weights):
    clip = make_clip(tmp_path / "in.mp4", frames=40, width=64, height=48)
    log = tmp_path / "run.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as stderr:  # a file: not a terminal
        code = subprocess.run([sys.executable, "-m", "rainstream.cli.main", "run", clip, "-o", str(tmp_path / "o.mp4"),
                               "--model", "nerd_rain_tiny", "--weights", tiny_weights, "--device", "cpu",
                               "report_every=0.05"], stderr=stderr, stdout=subprocess.DEVNULL, env=env,
                              timeout=300).returncode
    text = log.read_text()
    assert code == 0, text
    assert "\r" not in text
    lines = re.findall(r"derain: (\d+)/40 frames, [\d.]+ frame/s, ETA \d+:\d\d:\d\d", text)
    assert len(lines) >= 2 and int(lines[-1]) > int(lines[0])  # periodic, and moving
