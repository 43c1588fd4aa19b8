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
from test_rtsp_live import _REASON, SERVER, SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

USER = "cam"
PASSWORD = "P@ss/w0rd9"  # a raw '@' and a '/': the two forms that leaked before
SECRET_FORMS = ("w0rd9", "P%40ss", "%2Fw0rd9")
BASE = [sys.executable, "-m", "rainstream.cli.main", "run", "--model", "nerd_rain_tiny", "--device", "cpu",
        "--tile", "32", "--overlap", "0", "--no-progress"]


class Camera:
    """tests/rtsp_server.py as a subprocess: start, kill, restart on the same port."""

    def __init__(self, password: str = PASSWORD, size: int = 32):
        self.args = ["--width", str(size), "--height", str(size)]
        if password:
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

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}/cam"


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **extra}
    env.pop("RAINSTREAM_CREDENTIALS", None) if "RAINSTREAM_CREDENTIALS" not in extra else None
    return env


def _assert_no_secret(*texts: str) -> None:
    joined = "\n".join(texts)
    for form in SECRET_FORMS:
        assert form not in joined, f"{form!r} leaked:\n{joined}"


@pytest.mark.slow
def test_password_with_slash_is_refused_at_once_and_credentials_file_works(tmp_path):
    cam = Camera()
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
                                    "--duration", "2"],
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
        cam.stop()
