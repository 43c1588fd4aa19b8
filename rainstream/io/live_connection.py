"""One connection to a live source: PyAV open with timeouts, decoding, and a hard teardown.

The connection has no thread of its own: whoever iterates ``frames()`` (the pipeline's one reader
thread) reads and decodes. PyAV reads block inside FFmpeg without the GIL. PyAV's
``timeout=(open, read)`` installs FFmpeg's interrupt callback, which FFmpeg's network code polls, so
a silent RTSP server does raise after ``read_timeout`` (verified with PyAV 18 / FFmpeg 8 against a
SIGSTOPped server). It does not cover every stall: a server that keeps the socket alive (RTCP,
keep-alives, audio) but sends no video, or a read that blocks somewhere the callback is not polled.
So the watchdog (``live_source.py``) also calls ``teardown()``, which never touches the container
from another thread (closing it under a running read is a use-after-free) but shuts down the
connection's own sockets at the OS level; the blocked read then returns and the reading thread
closes the container itself.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator
from urllib.parse import quote

import av
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.colour import frame_to_rgb, is_high_bit_depth, matrix_for, range_for
from rainstream.log import redact, register_secret

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
CREDENTIALS_ENV = "RAINSTREAM_CREDENTIALS"
_SECRET_QUERY = re.compile(r"[?&;](?:[\w.-]*(?:pass|pwd|token|key|secret|auth|signature|sig|credential)"
                           r"[\w.-]*)=([^&;#\s]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """What to hand to ``av.open``: the URL or device path, a forced format, and options."""

    url: str
    format: str | None = None
    options: dict = field(default_factory=dict)
    kind: str = "network"  # network | webcam | file

    @property
    def safe(self) -> str:
        """The URL with any password hidden; the only form that may reach a log or an error."""
        return redact(self.url)


def resolve_target(spec: str, transport: str = "tcp", read_timeout: float = 5.0,
                   video_size: str | None = None, framerate: str | None = None,
                   credentials: str | None = None) -> Target:
    """Turn ``rtsp://...``, ``http(s)://...``, ``webcam:0``, ``/dev/video0`` or a path into a Target.

    ``credentials``: a file whose first line is ``user:password``, for a URL without them (else
    the ``RAINSTREAM_CREDENTIALS`` environment variable, same form), so that no password need sit
    on a command line. A URL's secrets are registered with the log's redaction.
    FFmpeg 5+ dropped RTSP's ``stimeout``; ``timeout`` is now its socket I/O timeout in microseconds
    (``rw_timeout`` for the other protocols), so both are set here besides PyAV's own timeout.
    """
    spec = str(spec)
    us = str(int(read_timeout * 1_000_000))
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in NETWORK_SCHEMES:
        spec = with_credentials(spec, credentials)
    if scheme in ("rtsp", "rtsps"):
        if transport not in ("tcp", "udp"):
            raise RainstreamError(f"`transport` must be tcp or udp, not {transport!r}")
        return Target(spec, None, {"rtsp_transport": transport, "timeout": us,
                                   "fflags": "nobuffer", "max_delay": "500000"})
    if scheme in NETWORK_SCHEMES:
        return Target(spec, None, {"rw_timeout": us})
    m = re.fullmatch(r"webcam:(\d+)", spec, flags=re.IGNORECASE)
    if m or spec.startswith("/dev/video"):
        device = f"/dev/video{m.group(1)}" if m else spec
        if not os.path.exists(device):
            raise RainstreamError(f"webcam not found: {device} (is the camera plugged in, and is "
                                  "the device passed into the container?)")
        opts = {}
        if video_size:
            opts["video_size"] = video_size
        if framerate:
            opts["framerate"] = str(framerate)
        return Target(device, "v4l2", opts, kind="webcam")
    if scheme:
        raise RainstreamError(f"unsupported stream URL scheme {scheme}:// in {redact(spec)}")
    if not os.path.isfile(spec):
        raise RainstreamError(f"input not found: {spec}")
    return Target(spec, None, {}, kind="file")


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme://, userinfo or None, host and the rest)``, split at the last ``@`` (see ``check_url``)."""
    scheme, _, rest = url.partition("://")
    at = rest.rfind("@")
    if at < 0:
        return scheme + "://", None, rest
    return scheme + "://", rest[:at], rest[at + 1:]


def check_url(url: str) -> None:
    """Register the URL's secrets with the log's redaction, and refuse a URL whose credentials FFmpeg
    would read differently from us: FFmpeg's host part ends at the first ``/``, ``?`` or ``#``, so such
    a character in a password turns the password into the host name (retrying cannot help)."""
    _, userinfo, _ = split_userinfo(url)
    for value in _SECRET_QUERY.findall(url):
        register_secret(value)
    if userinfo is None:
        return
    register_secret(userinfo.partition(":")[2] or userinfo)
    if re.search(r"[/?#]", userinfo):
        raise RainstreamError(f"cannot tell where the credentials in {redact(url)} end: a '/', '?' or '#' "
                              "comes before the last '@'; percent-encode it in the password (%2F, %3F, %23) "
                              "or an '@' in the path (%40), or give the credentials in a file with "
                              "`credentials`")


def read_credentials(path: str | None) -> str | None:
    """``user:password`` from the first line of ``path``, else from ``$RAINSTREAM_CREDENTIALS``, else None."""
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.readline().rstrip("\r\n")
        except OSError as exc:
            raise RainstreamError(f"cannot read the credentials file {path}: {exc.strerror or exc}") from None
        if ":" not in text:
            raise RainstreamError(f"the credentials file {path} must hold user:password on its first line")
        return text
    text = os.environ.get(CREDENTIALS_ENV) or None
    if text is not None and ":" not in text:
        raise RainstreamError(f"${CREDENTIALS_ENV} must hold user:password")
    return text


def with_credentials(url: str, credentials_file: str | None = None) -> str:
    """``url`` with the credentials of ``read_credentials`` put in (percent-encoded: FFmpeg decodes
    them), after checking it (``check_url``). A URL's own credentials win over the environment; a
    credentials file for a URL that already has some is an error."""
    check_url(url)
    scheme, userinfo, rest = split_userinfo(url)
    credentials = read_credentials(credentials_file)
    if credentials is None:
        return url
    if userinfo is not None:
        if credentials_file:
            raise RainstreamError(f"{redact(url)} has credentials and `credentials` gives others: keep one")
        return url
    user, _, password = credentials.partition(":")
    register_secret(password)
    return f"{scheme}{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


# Errors that another try will not fix: fail at once instead of retrying for minutes.
PERMANENT_ERRORS = (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError,
                    av.error.HTTPNotFoundError, av.error.ProtocolNotFoundError,
                    av.error.InvalidDataError, FileNotFoundError, PermissionError)


def describe_error(exc: BaseException) -> str:
    """One line, password-free: PyAV puts the full URL (with credentials) into its messages."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")


class Connection:
    """An open container whose ``frames()`` decodes ``(image, pts, captured_at)`` items until the
    stream ends, fails or is torn down; ``reason`` then says why. Construct it to connect; errors
    propagate to the caller."""

    def __init__(self, target: Target, open_timeout: float, read_timeout: float, realtime: bool = True):
        self.target = target
        # A file "camera" is paced at decode, so frames arrive at its frame rate like a live feed
        # (drops then happen downstream, where the engine falls behind).
        self.paced = realtime and target.kind == "file"
        self.reason = ""
        self._stop = threading.Event()
        self._started = False
        self._closed = False
        before = _socket_inodes()
        started = time.monotonic()
        try:
            self.container = av.open(target.url, "r", format=target.format, options=dict(target.options),
                                     timeout=(open_timeout, read_timeout))
        except av.error.InvalidDataError:
            # FFmpeg's RTSP reports a server that accepts but never answers as "Invalid data found"
            # once its socket timeout (`read_timeout`) runs out: a hung (e.g. rebooting) camera,
            # worth retrying, not a stream that can never be read.
            if target.kind == "network" and time.monotonic() - started >= 0.9 * read_timeout:
                raise TimeoutError(f"no answer within {read_timeout:g} s of connecting (`live.read_timeout`)") from None
            raise
        # Sockets this open created: the ones teardown() may shut down.
        self._inodes = _socket_inodes() - before
        try:
            if not self.container.streams.video:
                raise RainstreamError(f"{target.safe} has no video stream")
            self.stream = self.container.streams.video[0]
            self.stream.thread_type = "AUTO" if target.kind == "file" else "SLICE"  # SLICE: no frame delay
        except BaseException:
            self._close_container()
            raise
        cc = self.stream.codec_context
        self.time_base = Fraction(self.stream.time_base or Fraction(1, 90000))
        rate = self.stream.average_rate or self.stream.guessed_rate or cc.framerate
        self.rate = Fraction(rate) if rate else None

    def _decoded(self):
        """Decoded frames until the stream ends (decoder flushed) or teardown; bad packets skipped."""
        for packet in self.container.demux(self.stream):
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue
            try:
                yield from packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet (lost RTP data): the next keyframe recovers
        yield from self.stream.codec_context.decode(None)

    def frames(self) -> Iterator[tuple]:
        """RGB frames as ``(image, pts, time.monotonic() at decode)``; closes the container when done.

        Read errors end the iteration (``reason`` holds them, password-free) rather than raise: the
        live source decides whether to reconnect.
        """
        self._started = True
        matrix = rng = None
        high = False
        start = first = None
        try:
            for vf in self._decoded():
                if matrix is None:
                    high = is_high_bit_depth(vf.format.name)
                    matrix = matrix_for(int(vf.colorspace or 2), vf.height)
                    rng = range_for(int(vf.color_range or 0), vf.format.name)
                image = frame_to_rgb(vf, matrix, rng, high)
                if self.paced and vf.pts is not None:
                    if start is None:
                        start, first = time.monotonic(), vf.pts
                    due = start + float((vf.pts - first) * self.time_base)
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        break
                if self._stop.is_set():
                    break
                yield image, vf.pts, time.monotonic()
            self.reason = self.reason or "ended"
        except Exception as exc:  # noqa: BLE001 - network errors of every kind end this connection
            if not self._stop.is_set():
                self.reason = describe_error(exc)
        finally:
            self._close_container()

    def teardown(self, reason: str) -> None:
        """Stop this connection from any thread, even while its read is blocked in FFmpeg."""
        if self._stop.is_set():
            return
        self.reason = reason
        self._stop.set()
        _shutdown_sockets(self._inodes)

    def close(self) -> None:
        """Tear down; the container is closed here only if nobody ever read from it (otherwise the
        reading thread closes it when its read returns)."""
        self.teardown(self.reason or "closed")
        if not self._started:
            self._close_container()

    def _close_container(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - already finishing
                pass


def _open_sockets() -> Iterator[tuple[int, int]]:
    """(fd, inode) of this process's open sockets (Linux /proc; nothing elsewhere)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in names:
        try:
            link = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            yield int(name), int(link[8:-1])


def _socket_inodes() -> set[int]:
    """Inodes of this process's open sockets."""
    return {inode for _, inode in _open_sockets()}


def _shutdown_sockets(inodes: set[int]) -> int:
    """``shutdown()`` the sockets with these inodes; a read blocked on them returns at once.

    Works on a dup of the descriptor, so FFmpeg's own descriptor stays valid (no fd reuse race)
    and is closed by FFmpeg when the reader thread closes the container.
    """
    done = 0
    for fd, inode in _open_sockets() if inodes else ():
        if inode not in inodes:
            continue
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            sock.shutdown(socket.SHUT_RDWR)
            done += 1
        except OSError:
            pass  # e.g. an unconnected UDP socket
        finally:
            sock.close()
    logger.debug(f"watchdog: shut down {done} socket(s)")
    return done
