"""Many inputs in one process: paths, folders of videos, globs and text lists into an output folder;
failures reported per file, a summary table and JSON report, --resume, Ctrl-C; Ray never imported."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import InvertEngine, make_clip, pattern, read_video

import rainstream
from rainstream.errors import RainstreamError, SomeFailed
from rainstream.io.images import write_image
from rainstream.pipeline import Interrupted, RunConfig, classify, work_dir_for


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=4, audio=True)
    make_clip(src / "b.mov", frames=3)
    write_image(str(src / "c.png"), pattern(0, 24, 20))
    make_clip(src / "sub" / "d.mkv", frames=2)
    (src / "notes.md").write_text("not media")
    return src


def test_what_counts_as_many_inputs(tree, tmp_path):
    (tmp_path / "list.txt").write_text("# clips\nin/a.mp4\n\nin/sub/d.mkv\n")
    images = tmp_path / "images"
    images.mkdir()
    write_image(str(images / "x.png"), pattern(0, 24, 20))
    assert classify([str(tree / "a.mp4")]).name == "many"
    assert classify(str(tree / "*.mov")).name == "many"
    assert classify(str(tmp_path / "list.txt")).name == "many"
    assert classify(str(tree)).name == "many"  # a folder holding videos
    assert classify(str(images)).name == "folder"  # images only: the folder job (batched frames)
    assert classify(str(images), RunConfig.load(ray="local")).name == "many"
    assert classify(str(tree / "a.mp4")).name == "video"


def test_names_formats_and_lists(tree, tmp_path):
    from rainstream.pipeline import open_job

    (tmp_path / "list.txt").write_text("# clips\nin/a.mp4\n\nin/sub/d.mkv\n")
    with open_job([str(tree), str(tmp_path / "list.txt")], tmp_path / "o1", RunConfig.load(format="mkv")) as job:
        # a.mp4 is named twice (folder and list) and runs once; d.mkv comes from the list
        assert [os.path.basename(r.output) for r in job.results] == ["a.mkv", "b.mkv", "c.png", "d.mkv"]
    make_clip(tmp_path / "a.mkv", frames=2)
    with pytest.raises(RainstreamError, match="would both be written to"):
        open_job([str(tree / "a.mp4"), str(tmp_path / "a.mkv")], tmp_path / "o2", RunConfig.load(format="mkv"))
    with open_job(str(tree), tmp_path / "o3", RunConfig.load(format="mkv", recursive=True)) as job:
        outputs = [os.path.relpath(r.output, tmp_path / "o3") for r in job.results]
    assert outputs == ["a.mkv", "b.mkv", "c.png", os.path.join("sub", "d.mkv")]  # an image stays an image
    with pytest.raises(RainstreamError, match="no file matches"):
        open_job(str(tree / "*.avi"), tmp_path / "o4")
    (tmp_path / "file.mp4").write_bytes(b"")
    with pytest.raises(RainstreamError, match="output must be a folder"):
        open_job([str(tree / "a.mp4")], tmp_path / "file.mp4")


def test_cli_many_files_one_garbage_report_and_no_ray(tree, tmp_path, tiny_weights):
    (tree / "garbage.mp4").write_bytes(os.urandom(3000))
    out, report = tmp_path / "out", tmp_path / "report.json"
    code = ("import sys\nfrom rainstream.cli.main import main\n"
            f"code = main(['run', {str(tree)!r}, {str(tree / 'sub' / '*.mkv')!r}, '-o', {str(out)!r}, "
            f"'--format', 'mkv', '--report', {str(report)!r}, '--model', 'nerd_rain_tiny', "
            f"'--weights', {tiny_weights!r}, '--device', 'cpu', '--no-progress'])\n"
            "print('RAY_IMPORTED', 'ray' in sys.modules)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 3, done.stderr
    assert "RAY_IMPORTED False" in done.stdout
    assert "1 sub-folder(s) of" in done.stderr and "not entered" in done.stderr
    assert "error: 1 of 5 files failed; the others are in" in done.stderr
    assert "Traceback" not in done.stderr
    table = done.stderr[done.stderr.index("file "):]
    assert "garbage.mp4" in table and "failed: cannot read" in table
    assert sorted(os.listdir(out)) == ["a.mkv", "b.mkv", "c.png", "d.mkv"]
    data = json.loads(report.read_text())
    assert [(os.path.basename(f["input"]), f["status"], f["frames"]) for f in data["files"]] == [
        ("a.mp4", "done", 4), ("b.mov", "done", 3), ("c.png", "done", 1), ("garbage.mp4", "failed", 0),
        ("d.mkv", "done", 2)]
    # the audio is carried over packet for packet (MKV writes the priming delay as pts 0, MP4 as -1024)
    assert [b for _, b in read_video(out / "a.mkv")["audio"]] == [b for _, b in read_video(tree / "a.mp4")["audio"]]


def test_resume_skips_finished_files_and_ctrl_c_keeps_them(tree, tmp_path):
    out = tmp_path / "out"
    inputs = [str(tree / "a.mp4"), str(tree / "b.mov"), str(tree / "sub" / "d.mkv")]
    engine = InvertEngine(delay_s=0.4)  # b.mov (3 frames) takes 1.2 s: time for the signal to land in it

    def ctrl_c_after_the_first_file():
        """Ctrl-C while b.mov is being derained (its work folder exists, its 1.2 s run has begun)."""
        deadline = time.monotonic() + 60
        while not os.path.isdir(work_dir_for(str(out / "b.mov"))) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_after_the_first_file, daemon=True).start()
    with pytest.raises(Interrupted, match="1 of 3 files are finished"):
        rainstream.derain(inputs, out, derainer=engine, progress=False, report=str(tmp_path / "r.json"))
    statuses = [f["status"] for f in json.loads((tmp_path / "r.json").read_text())["files"]]
    assert statuses == ["done", "interrupted", "not started"]
    assert (out / "a.mp4").exists() and not (out / "d.mkv").exists()

    summary = rainstream.derain(inputs, out, derainer=InvertEngine(), progress=False, resume=True)
    assert [(f.status, f.new_frames) for f in summary.files][0] == ("skipped", 0)
    assert [f.status for f in summary.files] == ["skipped", "done", "done"]
    assert [len(read_video(out / n)["frames"]) for n in ("a.mp4", "b.mov", "d.mkv")] == [4, 3, 2]


def test_failures_raise_with_the_summary(tree, tmp_path):
    (tree / "empty.mp4").write_bytes(b"")
    with pytest.raises(SomeFailed) as failed:
        rainstream.derain([str(tree / "a.mp4"), str(tree / "empty.mp4")], tmp_path / "out",
                          derainer=InvertEngine(), progress=False)
    assert failed.value.exit_code == 3
    assert [f.status for f in failed.value.summary.files] == ["done", "failed"]
