"""A wheel built from this tree, installed into a fresh venv, derains the bundled sample with the
default weights from a folder outside the source tree (so only package data can supply them)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_video

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(cmd, **kwargs):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def test_wheel_install_derains_the_sample_with_default_weights(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # A copy, so the build leaves nothing in the checkout and nothing stale from it gets in.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", ".venv",
                                                             "__pycache__", ".pytest_cache"))
    # Build with this interpreter's setuptools when it has one (no download); else in pip's isolation.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", *isolation, "-q", "-w", tmp_path / "wheels"],
        env=env, cwd=tmp_path)
    (wheel,) = (tmp_path / "wheels").glob("rainstream-*.whl")
    run([sys.executable, "-m", "venv", tmp_path / "venv"], env=env)
    python = tmp_path / "venv" / "bin" / "python"
    # torch first, pinned: the CPU wheel, never the CUDA build with its dependencies
    run([python, "-m", "pip", "install", "-q", "--no-compile", "torch==2.13.0"], env=env, cwd=tmp_path)
    run([python, "-m", "pip", "install", "-q", "--no-compile", wheel], env=env, cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = run([tmp_path / "venv" / "bin" / "rainstream", "run", ROOT / "samples" / "rainy_path.mp4",
                "-o", "out.mp4", "--frames", "2", "--device", "cpu", "--no-progress"],
               env={**env, "OMP_NUM_THREADS": "1"}, cwd=work)
    assert "bundled default weights" in done.stderr
    assert "site-packages" in done.stderr  # the weights came from the installed package
    out = read_video(work / "out.mp4")
    assert len(out["frames"]) == 2
    assert out["pts"] == read_video(ROOT / "samples" / "rainy_path.mp4")["pts"][:2]
