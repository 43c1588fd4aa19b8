"""Damaged, foreign and hostile weights files, and a model whose output goes non-finite (issues 16.13, 17.3).

Each case runs the real CLI on a real clip and asserts one ``error:`` line in our words, exit 2 and no
output file: never black frames with exit 0, never torch's advice to load with ``weights_only=False``.
"""
from __future__ import annotations

import os

import pytest
import torch

from conftest import make_clip, run_cli
from rainstream.model import build_model
from rainstream.model.checkpoint import write_safetensors

ARGS = ["--device", "cpu", "--tile", "32", "--overlap", "0", "--no-progress"]


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "in.mp4", frames=6)


def _state() -> dict:
    torch.manual_seed(0)
    return build_model("nerd_rain_tiny").state_dict()


def _run(capsys, clip, weights, out):
    code, err = run_cli(capsys, "run", clip, "-o", out, "--weights", weights, *ARGS)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    return code, err, lines


def _assert_refused(code, err, lines, out, *words):
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    assert "weights_only" not in err and "trust" not in err
    assert not os.path.exists(out)


@pytest.mark.parametrize("name,content", [
    ("random.pth", os.urandom(4096)),
    ("random.safetensors", os.urandom(4096)),
    ("zip_header.pt", b"PK\x03\x04" + os.urandom(200)),
    ("empty.pth", b""),
])
def test_random_bytes_as_weights_is_one_line_in_our_words(tmp_path, capsys, clip, name, content):
    weights = tmp_path / name
    weights.write_bytes(content)
    out = str(tmp_path / "out.mp4")
    _assert_refused(*_run(capsys, clip, weights, out), out, "cannot read weights", name)


def test_pickle_with_code_is_refused_without_advice(tmp_path, capsys, clip):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    weights = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": Evil()}}, weights)
    out = str(tmp_path / "out.mp4")
    _assert_refused(*_run(capsys, clip, weights, out), out, "never loaded")


def test_weights_holding_nan_are_refused_at_load(tmp_path, capsys, clip):
    state = _state()
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key].view(-1)[3] = float("nan")
    weights = tmp_path / "nan.safetensors"
    write_safetensors(state, weights)
    out = str(tmp_path / "out.mp4")
    _assert_refused(*_run(capsys, clip, weights, out), out, "is damaged", "NaN or Inf", key)


def test_tensor_bytes_that_do_not_match_the_recorded_sha256_are_refused(tmp_path, capsys, clip):
    weights = tmp_path / "flipped.safetensors"
    write_safetensors(_state(), weights)
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # tensor data sits at the end of the file; still finite
    weights.write_bytes(bytes(data))
    out = str(tmp_path / "out.mp4")
    _assert_refused(*_run(capsys, clip, weights, out), out, "sha256")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_nonfinite_output_stops_the_job_in_every_precision(tmp_path, capsys, clip, precision):
    """Finite weights that overflow in the forward pass: the job fails naming the weights."""
    state = {k: v * 1e30 if v.is_floating_point() else v for k, v in _state().items()}
    weights = tmp_path / "overflow.safetensors"
    write_safetensors(state, weights)
    out = str(tmp_path / "out.mp4")
    code, err, lines = _run(capsys, clip, weights, out)
    if precision != "fp32":
        code, err, lines = _run_precision(capsys, clip, weights, out, precision)
    _assert_refused(code, err, lines, out, "inf/NaN output", str(weights))


def _run_precision(capsys, clip, weights, out, precision):
    code, err = run_cli(capsys, "run", clip, "-o", out, "--weights", weights, "--precision", precision, *ARGS)
    return code, err, [line for line in err.splitlines() if line.startswith("error:")]
