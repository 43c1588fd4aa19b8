"""Live RTSP against a real GStreamer RTSP server on loopback (tests/rtsp_server.py, system python3).

The engine here is the real ``Derainer`` around a cheap pointwise model (x -> x/2): these tests are
about the stream plumbing (arrival, reconnects, drops, latency, redaction), and a real NeRD-Rain
forward pass costs seconds per frame on a shared CPU. tests/test_api.py runs the real tiny model.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest
import torch
from loguru import logger

import rainstream
from rainstream.engine import Derainer, EngineConfig
from rainstream.errors import RainstreamError
from rainstream.io.live_source import LiveOptions, LiveSource

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
USER, PASSWORD = "cam", "Sup3rSecret"

_PROBE = ("import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); "
          "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
          "import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in "
          "('videotestsrc','x264enc','rtph264pay','videoconvert')) else 3)")


def _server_available() -> str | None:
    if not os.path.exists(SYSTEM_PYTHON):
        return "no system /usr/bin/python3"
    r = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, timeout=30)
    if r.returncode:
        return ("GStreamer RTSP server not installed (apt-get install gir1.2-gst-rtsp-server-1.0 "
                "python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)")
    return None


_REASON = _server_available()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


class RtspServer:
    """A test camera: start/kill/restart on the same port, optional basic auth."""

    def __init__(self, width=160, height=120, auth=True, password=PASSWORD):
        self.args = ["--width", str(width), "--height", str(height)]
        if auth and password:
            self.args += ["--user", USER, "--password", password]
        self.port = 0
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, SERVER, "--port", str(self.port), *self.args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "READY", f"server did not start: {line}"
        self.port = int(line[1])

    @property
    def address(self) -> str:
        """host:port/path, for tests that write the credentials their own way."""
        return f"127.0.0.1:{self.port}/cam"

    def url(self, password=PASSWORD) -> str:
        return f"rtsp://{USER}:{password}@127.0.0.1:{self.port}/cam"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def server():
    s = RtspServer()
    yield s
    s.kill()


class Half(torch.nn.Module):
    def forward(self, x):
        return x * 0.5


class RecordingDerainer:
    """The real engine, plus a record of what it was given (and an optional delay per frame)."""

    def __init__(self, delay: float = 0.0):
        self.engine = Derainer(Half(), EngineConfig(tile=64, overlap=8, device="cpu"))
        self.device = self.engine.device
        self.delay = delay
        self.inputs: list[np.ndarray] = []

    def derain_images(self, images):
        self.inputs.extend(images)
        if self.delay:
            time.sleep(self.delay)
        return self.engine.derain_images(images)


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink_id)


def test_frames_arrive_and_are_derained(server, log_lines):
    engine = RecordingDerainer()
    got = []
    with rainstream.stream(server.url(), derainer=engine, color="bgr") as frames:
        assert frames.live  # automatic for rtsp://
        for f in frames:
            got.append(f)
            if len(got) == 15:
                break
    assert [f.image.shape for f in got] == [(120, 160, 3)] * 15
    for f, raw in zip(got, engine.inputs):
        expected = np.round(raw.astype(np.float32) * 0.5)[..., ::-1]  # derained, then RGB -> BGR
        assert np.abs(f.image.astype(np.float32) - expected).max() <= 1
    pts = [f.pts for f in got]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert all(0 <= f.latency < 2.0 for f in got)
    assert got[-1].time > got[0].time
    assert engine.inputs[0].std() > 10  # a real test pattern, not a blank frame
    assert PASSWORD not in "\n".join(log_lines)


def test_udp_transport_receives_frames():
    srv = RtspServer(auth=False)
    try:
        with LiveSource(f"rtsp://127.0.0.1:{srv.port}/cam", LiveOptions(transport="udp")) as src:
            frames = []
            for frame in src:
                frames.append(frame)
                if len(frames) == 5:
                    break
        assert len(frames) == 5 and frames[-1].pts > frames[0].pts
    finally:
        srv.kill()


def test_server_restart_reconnects_into_one_playable_output(server, tmp_path, log_lines):
    out = str(tmp_path / "cam.mkv")
    engine = RecordingDerainer()
    before_kill = {}

    def kill_and_restart():
        time.sleep(2.5)
        before_kill["frames"] = len(engine.inputs)
        server.kill()
        time.sleep(1.0)  # the camera is away for a moment
        server.start()

    t = threading.Thread(target=kill_and_restart)
    t.start()
    summary = rainstream.derain(server.url(), out, derainer=engine, stall_timeout=2.0, backoff_initial=0.2,
                                max_retries=10, duration=7.5)
    t.join()
    assert summary.reconnects == 1
    assert not os.path.exists(str(tmp_path / "cam.recording.mkv"))
    with av.open(out) as c:
        pts = [f.pts for f in c.decode(video=0)]
    assert len(pts) == summary.frames
    assert len(pts) > before_kill["frames"] + 10  # frames from after the reconnect were written
    assert all(b > a for a, b in zip(pts, pts[1:]))  # one timeline across the reconnect
    text = "\n".join(log_lines)
    assert "reconnecting to rtsp://cam:***@127.0.0.1" in text
    assert "reconnected" in text
    assert PASSWORD not in text


def test_slow_engine_drops_frames_and_latency_stays_bounded(server):
    """Engine 0.2 s/frame vs a 25 fps camera. Bound: with queue_frames=2 a frame waits for at most
    the frame in the engine plus two queued ones, (2 + 1) x 0.2 s = 0.6 s; we allow 1.2 s for a
    loaded CI machine. A blocking queue would instead grow by 0.16 s every frame (over 3 s here)."""
    engine = RecordingDerainer(delay=0.2)
    with rainstream.stream(server.url(), derainer=engine, queue_frames=2) as frames:
        start = time.monotonic()
        latencies = []
        for f in frames:
            latencies.append(f.latency)
            if time.monotonic() - start > 4.0:
                break
        stats = frames.stats
    assert stats.dropped > stats.frames_in * 0.5  # most frames dropped, not queued
    assert stats.frames_out == len(latencies) < stats.frames_in
    assert stats.p95_s < 1.2, stats.line()
    assert max(latencies[len(latencies) // 2:]) < 1.2  # no growth over time


def test_watchdog_tears_down_a_silent_connection(server, log_lines):
    """The server freezes (SIGSTOP) with the socket open. PyAV's read timeout is set far away
    (30 s) so only the watchdog can notice; it must unblock the blocked reader at once (checked:
    without the socket shutdown the reader stays blocked until the server resumes, 6 s later)."""
    opts = LiveOptions(stall_timeout=1.5, read_timeout=30.0, open_timeout=3.0,
                       backoff_initial=0.5, max_retries=10)
    with LiveSource(server.url(), opts) as src:
        n = 0
        stopped_at = resumed = None
        for frame in src:
            n += 1
            if n == 10:
                server.proc.send_signal(signal.SIGSTOP)
                stopped_at = time.monotonic()
                threading.Timer(6.0, server.proc.send_signal, [signal.SIGCONT]).start()
            if stopped_at and src.reconnects:
                resumed = time.monotonic()
                break
    text = "\n".join(log_lines)
    assert "watchdog: no frame from rtsp://cam:***@" in text
    assert "still blocked" not in text  # the blocked read was really unblocked
    assert resumed is not None and 6.0 < resumed - stopped_at < 20
    assert PASSWORD not in text


def test_wrong_password_is_one_redacted_error(server):
    with pytest.raises(RainstreamError) as err:
        LiveSource(server.url(password="WrongPass99"), LiveOptions(max_retries=0))
    assert "401" in str(err.value) or "Unauthorized" in str(err.value)
    assert "WrongPass99" not in str(err.value) and "cam:***@" in str(err.value)


@pytest.mark.slow
def test_cli_records_stream_and_never_prints_password(tmp_path):
    srv = RtspServer(width=32, height=32)
    try:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        base = [sys.executable, "-m", "rainstream.cli.main", "run", "--model", "nerd_rain_tiny", "--allow-untrained",
                "--device", "cpu", "--tile", "32", "--overlap", "0", "--no-progress"]
        bad = subprocess.run(base + [srv.url(password="WrongPass99"), "-o", str(tmp_path / "x.mkv"),
                                     "--max-retries", "0"],
                             capture_output=True, text=True, timeout=120, env=env)
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines()[-1].startswith("error: cannot open rtsp://cam:***@")
        assert "Traceback" not in bad.stderr and "WrongPass99" not in bad.stderr + bad.stdout

        out = tmp_path / "rec.mkv"
        ok = subprocess.run(base + [srv.url(), "-o", str(out), "--duration", "3"],
                            capture_output=True, text=True, timeout=180, env=env)
        assert ok.returncode == 0, ok.stderr
        assert PASSWORD not in ok.stderr + ok.stdout
        assert "recording to" in ok.stderr and "latency median" in ok.stderr
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 1
    finally:
        srv.kill()
