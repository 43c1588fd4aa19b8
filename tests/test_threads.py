"""--threads on run, train, eval and bench; the busy-machine cap; bf16 on CPUs without bf16 instructions."""
from __future__ import annotations

import pytest
import torch
from conftest import make_clip, run_cli

from rainstream.engine.config import cpu_has_native_bf16
from rainstream.threads import busy_cap, set_threads, usable_cores


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_run_threads_sets_torch_threads(tmp_path, tiny_weights, capsys):
    torch.set_num_threads(2)
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    code, err = run_cli(capsys, "run", clip, "-o", tmp_path / "o.mp4", "--model", "nerd_rain_tiny",
                        "--weights", tiny_weights, "--device", "cpu", "--threads", "1", "--no-progress")
    assert code == 0, err
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("command", [["run", "x.mp4", "-o", "y.mp4"], ["train", "train_paired"],
                                     ["eval", "--data", "nowhere"], ["bench"]])
def test_every_command_takes_threads_and_checks_it(capsys, command):
    code, err = run_cli(capsys, *command, "--threads", "0")
    assert code == 2 and err.strip().splitlines()[-1] == "error: --threads must be >= 1, not 0"


def test_default_is_torchs_unless_the_load_leaves_fewer_cores():
    import os

    default = torch.get_num_threads()
    free = max(1, int(usable_cores() - os.getloadavg()[0] + 0.5))
    assert busy_cap(default) == min(default, free)
    assert set_threads(None) == torch.get_num_threads() == min(default, free)


def test_cpu_without_bf16_instructions_is_recognised(tmp_path):
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n")
    sapphire = tmp_path / "spr"
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    graviton = tmp_path / "arm"
    graviton.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert cpu_has_native_bf16(str(avx2)) is False
    assert cpu_has_native_bf16(str(sapphire)) is True and cpu_has_native_bf16(str(graviton)) is True
    assert cpu_has_native_bf16(str(tmp_path / "none")) is None


def test_a_busy_machine_adds_no_line_before_a_failing_runs_error(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # every core taken
    torch.set_num_threads(2)
    code, err = run_cli(capsys, "run", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4", "--device", "cpu")
    assert code != 0 and len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
    assert torch.get_num_threads() == 1  # the cap still applied, only quietly
