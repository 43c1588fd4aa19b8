"""Many files on a real local Ray (2 CPU workers, the tiny model): outputs equal single-process runs,
a garbage file is reported while the others complete, a killed worker is retried, and --resume after
an interrupted batch redoes only what was missing."""
from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from conftest import luma_psnr, make_clip, read_video

import rainstream
from rainstream.errors import RainstreamError, SomeFailed
from rainstream.pipeline import Interrupted, work_dir_for

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'rainstream[ray]')")
psutil = pytest.importorskip("psutil", reason="psutil comes with ray[default]")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

PART_FRAMES = 10  # the 36-frame clip (keyframes every 6) is cut into 3 parts: 0-11, 12-23, 24-35
SEGMENT = 6  # segments of 6 frames, in the single-process runs too: the cuts fall on segment ends


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, no dashboard): the jobs find it and join it."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_clips")
    return {
        "short.mp4": make_clip(root / "short.mp4", frames=8, audio=True),
        "other.mkv": make_clip(root / "other.mkv", frames=5, width=48, height=32),
        "long.mp4": make_clip(root / "long.mp4", frames=36, gop=6, audio=True),
    }


def settings(weights, **extra):
    return dict(model="nerd_rain_tiny", weights=weights, device="cpu", progress=False, segment_frames=SEGMENT,
                **extra)


@pytest.fixture(scope="module")
def single(clips, tiny_weights, tmp_path_factory):
    """Each clip derained by a plain single-process run (default segment length)."""
    out = tmp_path_factory.mktemp("single")
    refs = {}
    for name, path in clips.items():
        refs[name] = str(out / name)
        rainstream.derain(path, refs[name], **settings(tiny_weights))
    return refs


def assert_same_as_single(output, reference, source, min_psnr):
    got, ref = read_video(output), read_video(reference)
    assert len(got["frames"]) == len(ref["frames"]) == len(read_video(source)["frames"])
    assert got["pts"] == ref["pts"]
    assert got["audio"] == ref["audio"] == read_video(source)["audio"]
    psnrs = [round(luma_psnr(a, b), 1) for a, b in zip(got["frames"], ref["frames"])]
    assert min(psnrs) >= min_psnr, [(i, v) for i, v in enumerate(psnrs) if v < min_psnr]


# Identical derained frames do not always give identical x264 packets from one run to the next: in
# some runs B-frames come out encoded differently (I and P packets identical). Seen: on a file cut
# into parts in about half the runs, after a killed worker in 2 of 3 runs (40-46 dB luma PSNR to the
# single-process frames), and once in CI on a 5-frame file no part boundary touches (37.8-39.1 dB
# under a loaded suite). The same killed runs encoded losslessly (ffv1) gave identical frames in 3 of 3,
# so the pixels are not what differs. Outputs in x264 are therefore held to this bound (two encodes of
# one content; neighbouring frames of these clips are ~25 dB apart), and pixel equality is asserted
# where it can be: in ffv1 (test_killed_worker_is_retried_and_outputs_complete).
X264_PSNR = 35.0
EXACT = 120.0  # luma_psnr of identical frames


def test_three_clips_and_a_garbage_file(local_ray, clips, single, tiny_weights, tmp_path):
    from rainstream.pipeline.parts import plan_parts

    assert [p.first_index for p in plan_parts(clips["long.mp4"], PART_FRAMES, SEGMENT)] == [0, 12, 24]
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(random.Random(0).randbytes(4000))  # seeded: some random bytes parse as audio
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    with pytest.raises(SomeFailed) as failed:
        rainstream.derain([*clips.values(), str(garbage)], out, ray="local", workers=2, part_frames=PART_FRAMES,
                          report=str(report), **settings(tiny_weights))
    summary = failed.value.summary
    assert [f.status for f in summary.files] == ["done", "done", "done", "failed"]
    assert "garbage.mp4" in str(failed.value) and "cannot read" in summary.files[3].error
    assert summary.workers == 2 and summary.frames == 8 + 5 + 36
    for name, path in clips.items():
        assert_same_as_single(out / name, single[name], path, X264_PSNR)
        assert not os.path.exists(work_dir_for(str(out / name)))
    assert sorted(os.listdir(out)) == sorted(clips)  # nothing else left behind
    import json

    data = json.loads(report.read_text())
    assert [f["status"] for f in data["files"]] == ["done", "done", "done", "failed"]


def _kill_first_busy_worker(killed: list, stop: threading.Event) -> None:
    """SIGKILL the first worker process caught deraining a part (Ray titles it ray::DerainWorker.run_part)."""
    while not stop.is_set():
        for proc in psutil.process_iter(["pid", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if "DerainWorker.run_part" in title:
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.02)


def test_killed_worker_is_retried_and_outputs_complete(local_ray, clips, tiny_weights, tmp_path):
    lossless = settings(tiny_weights, codec="ffv1")  # the redone part's pixels, not x264's choices
    reference = str(tmp_path / "single.mp4")
    rainstream.derain(clips["long.mp4"], reference, **lossless)
    killed: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_first_busy_worker, args=(killed, stop), daemon=True)
    watcher.start()
    try:
        summary = rainstream.derain([clips["long.mp4"]], tmp_path / "out", ray="local", workers=2,
                                    part_frames=PART_FRAMES, **lossless)
    finally:
        stop.set()
        watcher.join()
    assert killed, "no worker was caught in a part"
    assert [f.status for f in summary.files] == ["done"]
    assert_same_as_single(tmp_path / "out" / "long.mp4", reference, clips["long.mp4"], EXACT)


def test_resume_after_an_interrupted_batch_redoes_only_what_was_missing(local_ray, clips, single, tiny_weights,
                                                                         tmp_path):
    out = tmp_path / "out"
    inputs = [clips["short.mp4"], clips["long.mp4"]]
    long_work = work_dir_for(str(out / "long.mp4"))

    def interrupt_when_a_part_is_done():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / "short.mp4").exists() and any(
                    '"complete": true' in open(os.path.join(long_work, d, "journal.json")).read()
                    for d in (os.listdir(long_work) if os.path.isdir(long_work) else [])
                    if os.path.exists(os.path.join(long_work, d, "journal.json"))):
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the job's handler stops the workers
                return
            time.sleep(0.01)

    threading.Thread(target=interrupt_when_a_part_is_done, daemon=True).start()
    common = dict(ray="local", workers=2, part_frames=PART_FRAMES, **settings(tiny_weights))
    with pytest.raises(Interrupted):
        rainstream.derain(inputs, out, **common)
    assert (out / "short.mp4").exists() and not (out / "long.mp4").exists()
    assert os.path.isdir(long_work)  # the finished parts are kept for --resume

    summary = rainstream.derain(inputs, out, resume=True, **common)
    short, long = summary.files
    assert short.status == "skipped" and short.new_frames == 0
    assert long.status == "done" and long.frames == 36
    assert 0 < long.new_frames <= 36 - PART_FRAMES  # at least one finished part was not derained again
    assert_same_as_single(out / "short.mp4", single["short.mp4"], clips["short.mp4"], X264_PSNR)
    assert_same_as_single(out / "long.mp4", single["long.mp4"], clips["long.mp4"], X264_PSNR)


def test_workers_that_cannot_see_the_inputs_are_one_clear_error(local_ray, tiny_weights):
    from rainstream.pipeline import RunConfig, open_job
    from rainstream.pipeline.ray_backend import _pool, check_visible

    actors, _, _ = _pool(ray, RunConfig.load(ray="local", workers=1, **settings(tiny_weights)), open_job)
    try:
        with pytest.raises(RainstreamError, match="cannot see 1 input.*filesystem every Ray node mounts"):
            check_visible(ray, actors, ["/nonexistent/on/the/worker.mp4"], "/tmp")
    finally:
        ray.kill(actors[0])
