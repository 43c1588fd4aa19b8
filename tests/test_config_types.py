"""YAML values of the wrong type: one line naming the key, the value and the expected type, exit 2 (issue 17.8)."""
from __future__ import annotations

import os

import pytest

from conftest import make_clip, run_cli

CASES = [
    ('engine: {tile: "big"}', "'engine.tile' expects int or null, got 'big'"),
    ('encode: {crf: "high"}', "'encode.crf' expects int, got 'high'"),
    ("pipeline: {batch: [1, 2]}", "'pipeline.batch' expects int, got [1, 2]"),
    ("model: {weights: [a, b]}", "'model.weights' expects str or null, got ['a', 'b']"),
    ("engine: {tile: true}", "'engine.tile' expects int or null, got True"),
    ("pipeline: {progress: 'yes'}", "'pipeline.progress' expects bool, got 'yes'"),
    ("live: {stall_timeout: .nan}", "'live.stall_timeout' expects a number, got nan"),
    ("pipeline: {duration: .nan}", "'pipeline.duration' expects"),
    ("encode: {segment_frames: 1.5}", "'encode.segment_frames' expects int, got 1.5"),
    ("engine: 5", "config section 'engine' must be a mapping, got 5"),
    ('model: {architecture: {dim: "big"}}', "'model.architecture.dim' expects int, got 'big'"),
    ('model: {architecture: {dim: 8, num_blocks: "x"}}', "'model.architecture.num_blocks' expects list of int"),
]


@pytest.mark.parametrize("yaml_text,message", CASES, ids=[c[0] for c in CASES])
def test_wrong_type_is_one_line(tmp_path, capsys, yaml_text, message):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text + "\n")
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, "run", clip, "-o", out, "--config", cfg, "--device", "cpu")
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not out.exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())
    assert os.listdir(tmp_path)  # the clip is still there
