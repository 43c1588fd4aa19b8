"""Live building blocks without an RTSP server: drop-oldest queue, backoff, URL handling, the
crash-surviving recording, RTMP publishing to a real FFmpeg listener on loopback, file pacing."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import make_clip

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.live_connection import resolve_target
from rainstream.io.live_sink import LiveSink, check_live_output, recording_path
from rainstream.io.live_source import LiveOptions, LiveSource, backoff_delays
from rainstream.io.video_info import VideoInfo
from rainstream.pipeline.queues import END, DropOldestQueue, Failure
from rainstream.pipeline.stats import LatencyStats

TB = Fraction(1, 90000)


def test_drop_oldest_queue_keeps_newest_and_never_drops_markers():
    q = DropOldestQueue(2)
    dropped = [q.put(i) for i in range(5)]
    assert dropped == [0, 0, 1, 1, 1] and q.dropped == 3
    q.put(END)
    assert q.put(5) == 1  # evicts 3; END stays in its place
    assert [q.get(0), q.get(0), q.get(0)] == [4, END, 5]
    with pytest.raises(TimeoutError):
        q.get(timeout=0.01)
    err = Failure(ValueError("x"))
    q.put(err)
    q.put(1)
    q.put(2)
    q.put(3)
    assert q.get(0) is err


def test_backoff_doubles_up_to_the_cap():
    gen = backoff_delays(0.5, 10.0)
    assert [next(gen) for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_latency_stats_median_p95_and_drop_rate():
    s = LatencyStats()
    for i in range(100):
        s.arrived(dropped=1 if i % 4 == 0 else 0)
    for v in range(1, 21):
        s.done(v / 100)
    summary = s.summary()
    assert summary.frames_in == 100 and summary.dropped == 25 and summary.drop_rate == 0.25
    assert summary.median_s == pytest.approx(0.105) and summary.p95_s == pytest.approx(0.1905)
    assert "25 dropped (25%)" in summary.line() and "median 105 ms" in summary.line()


def test_targets_rtsp_defaults_webcam_and_bad_specs(tmp_path):
    t = resolve_target("rtsp://u:pw@10.0.0.5/stream", read_timeout=2.5)
    assert t.options["rtsp_transport"] == "tcp" and t.options["timeout"] == "2500000"
    assert "stimeout" not in t.options  # removed in FFmpeg 5; PyAV 18 bundles FFmpeg 8
    assert t.safe == "rtsp://u:***@10.0.0.5/stream"
    assert resolve_target("rtsp://h/s", transport="udp").options["rtsp_transport"] == "udp"
    assert resolve_target("https://h/live.m3u8").options == {"rw_timeout": "5000000"}
    with pytest.raises(RainstreamError, match=r"webcam not found: /dev/video99"):
        resolve_target("webcam:99")
    with pytest.raises(RainstreamError, match="unsupported stream URL scheme ftp://"):
        resolve_target("ftp://user:pw@h/x")
    with pytest.raises(RainstreamError, match="input not found"):
        resolve_target(str(tmp_path / "missing.mp4"))
    with pytest.raises(RainstreamError, match="transport"):
        LiveOptions(transport="quic")


def test_refused_connection_error_is_redacted():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RainstreamError) as err:
        LiveSource(f"rtsp://admin:hunter2@127.0.0.1:{port}/x", LiveOptions(max_retries=0))
    msg = str(err.value)
    assert "hunter2" not in msg and "admin:***@" in msg and "refused" in msg.lower()


def test_reconnect_gives_up_after_max_retries(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = LiveOptions(max_retries=2, backoff_initial=0.05, backoff_max=0.1)
    t0 = time.monotonic()
    with pytest.raises(RainstreamError, match=r"gave up on rtsp://a:\*\*\*@127.0.0.1.* after 2"):
        LiveSource(f"rtsp://a:b@127.0.0.1:{port}/x", opts)  # refused is transient: retried
    assert time.monotonic() - t0 < 5


def test_live_output_checks(tmp_path):
    check_live_output(str(tmp_path / "a.mkv"))
    check_live_output("rtmp://127.0.0.1/live/x")
    with pytest.raises(RainstreamError, match=r"\.mkv, \.ts"):
        check_live_output(str(tmp_path / "a.avi"))
    with pytest.raises(RainstreamError, match="folder does not exist"):
        check_live_output(str(tmp_path / "nope" / "a.mkv"))
    with pytest.raises(RainstreamError, match=r"rtsp:// or rtmp://"):
        check_live_output("http://u:pw@h/x")


@pytest.mark.parametrize("ext", [".mkv", ".ts", ".mp4"])
def test_recording_survives_a_hard_kill(tmp_path, ext):
    """SIGKILL-equivalent (os._exit) mid-recording: the .recording file still decodes."""
    out = str(tmp_path / f"rec{ext}")
    script = textwrap.dedent(f"""
        import os, numpy as np
        from fractions import Fraction
        from rainstream.frames import Frame
        from rainstream.io.live_sink import LiveSink
        from rainstream.io.video_info import VideoInfo
        info = VideoInfo(width=64, height=48, time_base=Fraction(1, 90000), rate=Fraction(25))
        sink = LiveSink({out!r}, info)
        for i in range(100):
            img = np.full((48, 64, 3), (i * 7) % 256, np.uint8)
            sink.write(Frame(img, pts=i * 3600, time_base=Fraction(1, 90000), index=i))
        os._exit(0)  # no close(): the process dies with the file open
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    partial = recording_path(out)
    assert not os.path.exists(out) and os.path.exists(partial)
    with av.open(partial) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n >= 50  # 4 s written; at most the last second (cluster / fragment) may be lost


def test_clean_close_renames_and_keeps_all_frames(tmp_path):
    out = str(tmp_path / "rec.mkv")
    info = VideoInfo(width=64, height=48, time_base=TB, rate=Fraction(25))
    with LiveSink(out, info) as sink:
        for i in range(30):
            sink.write(Frame(np.zeros((48, 64, 3), np.uint8), pts=i * 3600, time_base=TB, index=i))
    assert os.path.exists(out) and not os.path.exists(recording_path(out))
    with av.open(out) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


def test_publish_to_rtmp_server_on_loopback():
    """FFmpeg's own RTMP protocol in listen mode is the server (a separate process: PyAV muxes while
    holding the GIL, so an in-process listener's timeout callback would deadlock with it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/derained"
    receiver = textwrap.dedent(f"""
        import av, sys
        print("listening", flush=True)
        n, mean = 0, 0.0
        with av.open({url!r}, "r", format="flv", options={{"listen": "1"}}, timeout=20) as c:
            try:
                for f in c.decode(video=0):
                    n, mean = n + 1, float(f.to_ndarray(format="rgb24").mean())
            except OSError:  # the publisher hung up: RTMP reports that as an I/O error
                pass
        print(n, mean)
    """)
    proc = subprocess.Popen([sys.executable, "-c", receiver], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "listening"
        info = VideoInfo(width=64, height=48, time_base=TB, rate=Fraction(25))
        frame = lambda i: Frame(np.full((48, 64, 3), 200, np.uint8), pts=i * 3600, time_base=TB,  # noqa: E731
                                index=i)
        for _ in range(50):  # until the listener accepts
            try:
                sink = LiveSink(url, info)
                sink.write(frame(0))
                break
            except RainstreamError:
                time.sleep(0.1)
        for i in range(1, 30):
            sink.write(frame(i))
        sink.close()
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    n, mean = out.split()
    assert int(n) == 30
    assert abs(float(mean) - 200) < 3


def test_file_played_as_a_camera_is_paced_and_ends(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", frames=20)
    t0 = time.monotonic()
    with LiveSource(clip) as src:
        assert (src.info.width, src.info.height, src.info.rate) == (64, 48, 25)
        frames = list(src)
    elapsed = time.monotonic() - t0
    assert len(frames) == 20 and src.reconnects == 0
    assert elapsed >= 19 / 25 * 0.9  # delivered at the camera's 25 fps, not as fast as decoding
    assert [f.pts for f in frames] == [i * 3600 for i in range(20)]


def test_hls_over_http_on_loopback(tmp_path):
    """An HLS playlist served by a real HTTP server: the live source reads it like a camera."""
    import functools
    import http.server

    make_clip(tmp_path / "src.mp4", frames=50)
    with av.open(str(tmp_path / "src.mp4")) as src, \
            av.open(str(tmp_path / "live.m3u8"), "w", format="hls", options={"hls_time": "1"}) as out:
        st = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = st
                out.mux(packet)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/live.m3u8"
        with LiveSource(url, LiveOptions(max_retries=0)) as source:
            assert (source.info.width, source.info.height) == (64, 48)
            frames = []
            for frame in source:
                frames.append(frame)
                if len(frames) == 5:
                    break
        assert len(frames) == 5 and all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    finally:
        httpd.shutdown()


def test_cli_rejects_missing_webcam_before_loading_the_model(tmp_path, capsys):
    from rainstream.cli.main import main

    t0 = time.monotonic()
    code = main(["run", "--source", "webcam:42", "-o", str(tmp_path / "w.mkv")])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: webcam not found: /dev/video42 (is the camera " \
        "plugged in, and is the device passed into the container?)"
    assert time.monotonic() - t0 < 5  # no model was built
    assert main(["run", "rtsp://h/s", "-o", str(tmp_path / "w.avi")]) == 2
    assert ".mkv, .ts" in capsys.readouterr().err
