"""Live runs under faults, through the real CLI against the real GStreamer RTSP server (issue 17).

Asserts exit codes, messages and that no form of the password reaches stdout or stderr.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import pytest
from test_rtsp_live import _REASON, RtspServer

pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

USER = "cam"
PASSWORD = "P@ss/w0rd9"  # a raw '@' and a '/': the two forms that leaked before
SECRET_FORMS = ("w0rd9", "P%40ss", "%2Fw0rd9")
BASE = [sys.executable, "-m", "rainstream.cli.main", "run", "--model", "nerd_rain_tiny", "--allow-untrained", "--device", "cpu",
        "--tile", "32", "--overlap", "0", "--no-progress"]


def camera(password: str = PASSWORD) -> RtspServer:
    """The shared test camera (tests/rtsp_server.py) at 32x32, with this file's password."""
    return RtspServer(width=32, height=32, password=password)


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **extra}
    env.pop("RAINSTREAM_CREDENTIALS", None) if "RAINSTREAM_CREDENTIALS" not in extra else None
    return env


def _connected(proc: subprocess.Popen, port: int, within: float) -> bool:
    """Whether process ``proc`` itself holds a TCP connection to ``port`` (not some other client that
    happens to reach the same port, e.g. a reconnecting source left by an earlier test). Linux /proc:
    the socket inodes among the process's (and its threads') open files, matched in /proc/net/tcp."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        pid = proc.pid
        try:
            inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in inodes:
                    return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _assert_no_secret(*texts: str) -> None:
    joined = "\n".join(texts)
    for form in SECRET_FORMS:
        assert form not in joined, f"{form!r} leaked:\n{joined}"


@pytest.mark.slow
def test_password_with_slash_is_refused_at_once_and_credentials_file_works(tmp_path):
    cam = camera()
    try:
        t0 = time.monotonic()
        raw = subprocess.run(BASE + [f"rtsp://{USER}:{PASSWORD}@{cam.address}", "-o", str(tmp_path / "a.mkv")],
                             capture_output=True, text=True, timeout=120, env=_env())
        assert raw.returncode == 2 and time.monotonic() - t0 < 60  # not retried 20 times
        last = raw.stderr.strip().splitlines()[-1]
        assert last.startswith("error: cannot tell where the credentials") and "--credentials" in last
        assert "Traceback" not in raw.stderr and "reconnecting" not in raw.stderr
        _assert_no_secret(raw.stdout, raw.stderr)

        creds = tmp_path / "cam.txt"
        creds.write_text(f"{USER}:{PASSWORD}\n")
        out = tmp_path / "rec.mkv"
        ok = subprocess.run(BASE + [f"rtsp://{cam.address}", "-o", str(out), "--credentials", str(creds),
                                    "--frames", "3"],
                            capture_output=True, text=True, timeout=180, env=_env(PYTHONUNBUFFERED="1"))
        assert ok.returncode == 0, ok.stderr
        _assert_no_secret(ok.stdout, ok.stderr)
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 1

        wrong = subprocess.run(BASE + [f"rtsp://{cam.address}?token=Tok3nSecret", "-o", str(tmp_path / "b.mkv"),
                                       "--max-retries", "0"],
                               capture_output=True, text=True, timeout=120,
                               env=_env(RAINSTREAM_CREDENTIALS=f"{USER}:wrong/w0rd9"))
        assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
        _assert_no_secret(wrong.stdout, wrong.stderr)
        assert "Tok3nSecret" not in wrong.stdout + wrong.stderr
    finally:
        cam.kill()


def _clip(tmp_path, frames=50):
    from conftest import make_clip

    return make_clip(tmp_path / "cam.mp4", width=32, height=32, frames=frames)


@pytest.mark.slow
def test_connections_without_video_count_against_max_retries(tmp_path):
    from silent_rtsp import SilentCamera

    cam = SilentCamera()  # first session: 10 frames; every later one: accepted, then silence
    try:
        t0 = time.monotonic()
        run = subprocess.run(BASE + [cam.url, "-o", str(tmp_path / "rec.mkv"), "--max-retries", "1",
                                     "--stall-timeout", "1"], capture_output=True, text=True, timeout=150, env=_env())
        assert run.returncode == 2, run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("error: gave up on rtsp://127.0.0.1")
        assert "reconnected" not in run.stderr and cam.sessions == 2  # the silent session was the one try
        assert time.monotonic() - t0 < 120
    finally:
        cam.close()


@pytest.mark.slow
def test_duration_bounds_the_run_while_the_camera_is_down(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the camera is down from the start
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.run(BASE + [f"rtsp://127.0.0.1:{port}/cam", "-o", str(tmp_path / "rec.mkv"),
                                 "--duration", "3", "--max-retries", "-1"],
                         capture_output=True, text=True, timeout=90, env=_env())
    assert run.returncode == 2, run.stderr
    assert "no connection to rtsp://127.0.0.1" in run.stderr and "within --duration" in run.stderr

    cam = camera(password="")
    try:
        out = tmp_path / "rec.mkv"
        proc = subprocess.Popen(BASE + [f"rtsp://{cam.address}", "-o", str(out), "--duration", "10",
                                        "--max-retries", "-1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env())
        recording = tmp_path / "rec.recording.mkv"
        deadline = time.monotonic() + 120
        while not recording.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        cam.kill()  # the camera dies for good a moment after the recording started
        killed = time.monotonic()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert time.monotonic() - killed < 10 + 8  # the 10 s bound holds while reconnecting
        assert "reconnecting" in err and out.exists()
    finally:
        cam.kill()


@pytest.mark.slow
def test_ctrl_c_while_the_first_connection_opens_returns_at_once(tmp_path):
    from silent_rtsp import SilentCamera

    cam = SilentCamera(reply=False)  # accepts, never answers
    try:
        # FFmpeg gives up on a silent server after `read_timeout` (default 5 s): 60 s here, so only
        # the Ctrl-C can end this open.
        proc = subprocess.Popen(BASE + [cam.url, "-o", str(tmp_path / "rec.mkv"), "live.read_timeout=60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(PYTHONFAULTHANDLER="1"))
        assert _connected(proc, cam.port, within=120), "never connected"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=8)  # well before FFmpeg's 10 s open timeout
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack, for the failure message
            _, err = proc.communicate(timeout=60)
            pytest.fail(f"still running 8 s after Ctrl-C:\n{err}")
        assert proc.returncode == 130 and "Traceback" not in err, err
    finally:
        cam.close()


@pytest.mark.slow
def test_a_camera_that_accepts_but_never_answers_is_retried_and_named(tmp_path):
    """A hung (e.g. rebooting) camera: FFmpeg says "Invalid data found" when its socket timeout runs
    out; that is a reason to retry, reported as the timeout it is."""
    from silent_rtsp import SilentCamera

    cam = SilentCamera(reply=False)
    try:
        run = subprocess.run(BASE + [cam.url, "-o", str(tmp_path / "rec.mkv"), "--max-retries", "1",
                                     "live.read_timeout=1"], capture_output=True, text=True, timeout=120, env=_env())
    finally:
        cam.close()
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last == (f"error: gave up on {cam.url} after 1 reconnect tries; last error: TimeoutError: "
                    "no answer within 1 s of connecting (live.read_timeout)"), run.stderr
    assert "reconnecting" in run.stderr and "Invalid data" not in run.stderr and len(cam._open) == 2


@pytest.mark.slow
def test_sigterm_during_a_live_run_exits_130(tmp_path):
    out = tmp_path / "rec.mkv"
    proc = subprocess.Popen(BASE + [_clip(tmp_path, 500), "--live", "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 120
    while not (tmp_path / "rec.recording.mkv").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "SIGTERM" in err and "Traceback" not in err, err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 1


@pytest.mark.slow
def test_a_live_recording_never_overwrites(tmp_path):
    clip = _clip(tmp_path, 10)
    out = tmp_path / "rec.mkv"
    survivor = tmp_path / "rec.recording.mkv"
    survivor.write_bytes(b"what a crashed run recorded")
    run = subprocess.run(BASE + [clip, "--live", "-o", str(out)], capture_output=True, text=True, timeout=120,
                         env=_env())
    assert run.returncode == 0, run.stderr
    assert survivor.read_bytes() == b"what a crashed run recorded"
    assert "keeping" in run.stderr and "rec.recording-1.mkv" in run.stderr
    assert out.exists() and not (tmp_path / "rec.recording-1.mkv").exists()
    first = out.read_bytes()

    again = subprocess.run(BASE + [clip, "--live", "-o", str(out)], capture_output=True, text=True, timeout=120,
                           env=_env())
    assert again.returncode == 2 and out.read_bytes() == first
    assert again.stderr.strip().splitlines()[-1] == f"error: {out} already exists; set --overwrite to replace it, " \
                                                    "or choose another name"
    replaced = subprocess.run(BASE + [clip, "--live", "-o", str(out), "-y"], capture_output=True, text=True,
                              timeout=120, env=_env())
    assert replaced.returncode == 0, replaced.stderr
    assert survivor.read_bytes() == b"what a crashed run recorded"
