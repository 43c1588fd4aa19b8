"""Re-publishing survives its receiver leaving (issue 17.9): a real FFmpeg RTMP listener in another
process takes some frames and exits; a new one starts on the same port and gets the stream again."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from fractions import Fraction

import numpy as np
from loguru import logger

from rainstream.frames import Frame
from rainstream.io.live_sink import LiveSink
from rainstream.io.video_info import VideoInfo

TB = Fraction(1, 90000)


def _receiver(url: str, frames: int) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import av
        print("listening", flush=True)
        n = 0
        with av.open({url!r}, "r", format="flv", options={{"listen": "1"}}, timeout=30) as c:
            try:
                for f in c.decode(video=0):
                    n += 1
                    if n >= {frames}:
                        break
            except OSError:
                pass
        print(n, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "listening"
    return proc


def test_publishing_carries_on_when_the_receiver_leaves_and_comes_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/derained"
    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message}")
    first = _receiver(url, frames=10)
    second = None
    try:
        info = VideoInfo(width=64, height=48, time_base=TB, rate=Fraction(25))
        sink = None
        for _ in range(100):  # until the listener accepts
            try:
                sink = LiveSink(url, info)
                sink.write(Frame(np.full((48, 64, 3), 200, np.uint8), pts=0, time_base=TB, index=0))
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        i = 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sink.write(Frame(np.full((48, 64, 3), 200, np.uint8), pts=i * 3600, time_base=TB, index=i))
            i += 1
            time.sleep(0.02)
            if second is None and any("went away" in line for line in lines):
                assert int(first.communicate(timeout=30)[0].split()[-1]) == 10
                second = _receiver(url, frames=10)  # a new receiver on the same address
            if second is not None and second.poll() is not None:
                break
        assert second is not None, "the departed receiver was never noticed"
        out, _ = second.communicate(timeout=30)
        assert int(out.split()[-1]) == 10  # the stream came back to the new receiver
        assert sum("publishing to" in line for line in lines) >= 2
    finally:
        logger.remove(sink_id)
        for p in (first, second):
            if p is not None:
                p.kill()
