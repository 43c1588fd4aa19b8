"""A full disk while writing segments and while assembling: one line, exit 2, nothing under the final
name, and the work kept so that ``resume`` finishes once space is freed (issue 17.7).

Runs on a real, small tmpfs (needs root or CAP_SYS_ADMIN to mount; skipped with the reason otherwise).
"""
from __future__ import annotations

import os
import subprocess

import pytest
from conftest import InvertEngine, make_clip, read_video, run_cli

import rainstream
from rainstream.errors import RainstreamError
from rainstream.pipeline import work_dir_for


class SmallDisk:
    """A mounted tmpfs folder whose size the test sets."""

    def __init__(self, path):
        self.path = path

    def resize(self, size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield SmallDisk(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_disk_full_while_writing_segments(tmp_path, small_disk, capsys):
    clip = make_clip(tmp_path / "in.mp4", frames=30)
    out = small_disk.path / "out.mp4"
    code, err = run_cli(capsys, "run", clip, "-o", out, "--model", "nerd_rain_tiny", "--allow-untrained", "--device", "cpu",
                        "--tile", "32", "--overlap", "0", "--no-progress", "--segment-frames", "5", "--crf", "0")
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err, err
    assert last.startswith(f"error: no space left in {work_dir_for(str(out))} while writing video segments")
    assert "MB free" in last and "--resume" in last
    assert not out.exists()
    assert not [n for n in os.listdir(work_dir_for(str(out))) if n.startswith("partial_")]


def test_disk_full_while_assembling_then_resume_finishes(tmp_path, small_disk):
    clip = make_clip(tmp_path / "in.mp4", frames=30, audio=True)
    reference = tmp_path / "ref.mp4"
    settings = dict(derainer=InvertEngine(), progress=False, segment_frames=10, crf=0)
    rainstream.derain(clip, reference, **settings)
    size = os.path.getsize(reference)
    small_disk.resize(int(size * 1.5) // 4096 * 4096 + 8192)  # the segments fit, the output beside them does not

    out = small_disk.path / "out.mp4"
    with pytest.raises(RainstreamError) as err:
        rainstream.derain(clip, out, **settings)
    message = str(err.value)
    assert message.startswith(f"no space left in {small_disk.path} while writing {out}") and "MB needed" in message
    assert _names(small_disk.path) == [os.path.basename(work_dir_for(str(out)))]  # no temp file, no output

    small_disk.resize(16 * size)  # space freed: the same job resumes and only assembles
    summary = rainstream.derain(clip, out, resume=True, **settings)
    assert summary.new_frames == 0
    got, ref = read_video(out), read_video(reference)
    assert got["pts"] == ref["pts"] and got["audio"] == ref["audio"]
    assert _names(small_disk.path) == ["out.mp4"]
