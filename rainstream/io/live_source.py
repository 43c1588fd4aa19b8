"""Live sources (RTSP, HTTP/HLS, webcams, files paced as a camera) behind the file source's interface.

``LiveSource`` is an iterator of ``Frame`` with ``.info``, and a context manager, like ``FileSource``.
Unlike a file it never just ends: when the stream stalls (the watchdog sees no frame for
``stall_timeout`` seconds) or drops, it reconnects with capped exponential backoff, logging one line
per try, and carries on with pts that keep increasing (so the same sink keeps writing one output).
``max_retries`` consecutive failed tries end it with a ``RainstreamError``. URLs are only ever
logged or raised in redacted form (``rtsp://user:***@host``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

import cv2
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.live_connection import (PERMANENT_ERRORS, Connection, Target, describe_error,
                                           resolve_target)
from rainstream.io.video_info import VideoInfo

OUTPUT_TIME_BASE = Fraction(1, 90000)  # RTP's video clock: fine enough for any frame rate


@dataclass(frozen=True)
class LiveOptions:
    """How to talk to a live source: the ``live`` section of the run config (YAML, flags, ``rainstream.stream``)."""

    transport: str = "tcp"  # RTSP: tcp (default, firewall-friendly, no packet loss) or udp
    open_timeout: float = 10.0  # seconds to connect
    read_timeout: float = 5.0  # FFmpeg/PyAV read timeout (seconds without data)
    stall_timeout: float = 5.0  # watchdog: seconds without a decoded frame -> tear down, reconnect
    max_retries: int = 20  # consecutive failed reconnects before giving up; -1 = never give up
    backoff_initial: float = 0.5  # first wait before reconnecting, doubled each failed try...
    backoff_max: float = 10.0  # ...up to this
    realtime: bool = True  # files: deliver at their frame rate, like a camera
    video_size: str | None = None  # webcam: e.g. 1280x720
    framerate: str | None = None  # webcam: e.g. 30
    credentials: str | None = None  # file holding user:password (else $RAINSTREAM_CREDENTIALS)

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "udp"):
            raise RainstreamError(f"`transport` must be tcp or udp, not {self.transport!r}")
        for name in ("open_timeout", "read_timeout", "stall_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                raise RainstreamError(f"`{name}` must be > 0, not {getattr(self, name)}")
        if self.max_retries < -1:
            raise RainstreamError(f"`max_retries` must be >= 0, or -1 for no limit, not {self.max_retries}")


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 10, 10, ... seconds: quick on a blip, gentle on a dead camera."""
    delay = initial
    while True:
        yield min(delay, maximum)
        delay = min(delay * 2, maximum)


class Watchdog:
    """A thread that calls ``on_stall`` when ``beat()`` has not been called for ``timeout`` seconds."""

    def __init__(self, timeout: float, on_stall, name: str = "rainstream-watchdog"):
        self.timeout = timeout
        self._on_stall = on_stall
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)
        self._thread.start()

    def beat(self) -> None:
        self._last = time.monotonic()

    def pause(self) -> None:
        """Time from here to the next ``beat()`` is the consumer's, not the stream's: not a stall."""
        self._last = None

    def _watch(self) -> None:
        while not self._stop.wait(min(0.1, self.timeout / 4)):
            last = self._last
            idle = 0.0 if last is None else time.monotonic() - last
            if idle >= self.timeout:
                self._on_stall(idle)
                return

    def stop(self) -> None:
        self._stop.set()


class LiveSource:
    """Frames from a live stream, reconnecting through stalls and drops (see module docstring).

    The first connection is made in the constructor, so a wrong URL, password or path fails here
    with one clear line. ``reconnects`` counts successful reconnections. The thread that iterates
    reads and decodes (there is no reader thread inside); ``interrupt()`` from any other thread ends
    the iteration soon, even while a read is blocked.
    """

    def __init__(self, spec: str, options: LiveOptions = LiveOptions(), deadline: float | None = None):
        """``deadline`` (``time.monotonic()``): stop trying to connect then, camera up or down."""
        self.options = options
        self.target: Target = resolve_target(spec, options.transport, options.read_timeout,
                                             options.video_size, options.framerate, options.credentials)
        self.deadline = deadline
        self.reconnects = 0
        self._failed_tries = 0  # consecutive tries that gave no frame (reset by a connection that does)
        self._closed = threading.Event()
        self._conn: Connection | None = None
        self._connect(first=True)
        self.info = self._describe()
        self._last_pts: int | None = None
        self._last_at = 0.0
        self._index = 0

    @property
    def is_file(self) -> bool:
        return self.target.kind == "file"

    # -- connecting ----------------------------------------------------------------------------
    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _open(self) -> Connection:
        """Connect in a helper thread while this one waits: Ctrl-C (in the main thread) and
        ``interrupt()`` are then seen at once, not after FFmpeg's open timeout. A connection that
        arrives after the wait was given up is closed by the helper."""
        o = self.options
        remaining = self._remaining()
        timeout = o.open_timeout if remaining is None else max(0.1, min(o.open_timeout, remaining))
        done = threading.Event()
        box: dict = {}

        def connect() -> None:
            try:
                box["conn"] = Connection(self.target, timeout, o.read_timeout, realtime=o.realtime)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["exc"] = exc
            finally:
                done.set()
                if box.get("abandoned") and "conn" in box:
                    box["conn"].close()

        threading.Thread(target=connect, name="rainstream-connect", daemon=True).start()
        try:
            while not done.wait(0.05):
                if self._closed.is_set():
                    raise _Closed
        except BaseException:
            box["abandoned"] = True
            if done.is_set() and "conn" in box:
                box["conn"].close()
            raise
        if "exc" in box:
            raise box["exc"]
        return box["conn"]

    def _out_of_time(self, first: bool) -> BaseException:
        if first:
            return RainstreamError(f"no connection to {self.target.safe} within `duration`; last error: "
                                   f"{self._last_error or 'none'}")
        logger.warning(f"`duration` reached while reconnecting to {self.target.safe}")
        return _Closed()

    def _connect(self, first: bool) -> None:
        """Connect, retrying with backoff; permanent errors on the very first try fail at once.
        ``max_retries`` counts consecutive tries that gave no frame: a connection that opens but
        delivers no video before the watchdog fires is a failed try, not a reconnect."""
        delays = backoff_delays(self.options.backoff_initial, self.options.backoff_max)
        limit = self.options.max_retries
        immediate = first  # the very first connection is tried at once, without counting as a retry
        while True:
            if immediate:
                immediate = False
            else:
                self._failed_tries += 1
                tries = self._failed_tries
                if limit >= 0 and tries > limit:
                    raise RainstreamError(f"gave up on {self.target.safe} after {limit} reconnect "
                                          f"tries; last error: {self._last_error}")
                wait = next(delays)
                remaining = self._remaining()
                if remaining is not None and remaining <= wait:
                    if self._closed.wait(max(0.0, remaining)):
                        raise _Closed
                    raise self._out_of_time(first)
                logger.warning(f"reconnecting to {self.target.safe} in {wait:.1f} s "
                               f"(try {tries}{'' if limit < 0 else f'/{limit}'})")
                if self._closed.wait(wait):
                    raise _Closed
            try:
                self._conn = self._open()
            except (RainstreamError, _Closed, KeyboardInterrupt):
                raise
            except PERMANENT_ERRORS as exc:
                self._last_error = describe_error(exc)
                if first:
                    raise RainstreamError(f"cannot open {self.target.safe}: {self._last_error}") from None
                logger.warning(f"connect to {self.target.safe} failed: {self._last_error}")
            except Exception as exc:  # noqa: BLE001 - network errors of every kind: retry
                self._last_error = describe_error(exc)
                if first and (self.target.kind != "network" or self.options.max_retries == 0):
                    raise RainstreamError(f"cannot open {self.target.safe}: {self._last_error}") from None
                logger.warning(f"connect to {self.target.safe} failed: {self._last_error}")
            else:
                return

    _last_error = ""

    def _describe(self) -> VideoInfo:
        """Size and pixel format come from the codec (the first frame has not been decoded yet)."""
        conn = self._conn
        cc = conn.stream.codec_context
        width, height = cc.width, cc.height
        pix_fmt = cc.format.name if cc.format else "yuv420p"
        if not width or not height:
            raise RainstreamError(f"{self.target.safe}: the stream does not announce its picture size")
        return VideoInfo(width=width, height=height, time_base=OUTPUT_TIME_BASE, rate=conn.rate,
                         pix_fmt=pix_fmt, codec=cc.name, duration=None, frame_count=None)

    # -- reading -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        try:
            while not self._closed.is_set():
                conn = self._conn
                yield from self._frames_of(conn)
                if self._closed.is_set():
                    return
                if self.is_file and conn.reason == "ended":
                    return  # a file simply ends
                logger.warning(f"stream {self.target.safe} {conn.reason or 'ended'}")
                self._last_error = conn.reason or "ended"
                conn.close()
                self._connect(first=False)
        except _Closed:
            return

    def _frames_of(self, conn: Connection) -> Iterator[Frame]:
        """Frames of one connection, with pts rebased onto one increasing timeline."""
        watchdog = Watchdog(self.options.stall_timeout,
                            lambda idle: self._stalled(conn, idle))
        first_pts = None
        base = None
        try:
            for image, pts, captured_at in conn.frames():  # ends when conn.reason says why
                watchdog.beat()
                if first_pts is None and base is None:  # this connection's first frame: it works
                    if self._last_pts is not None:
                        self.reconnects += 1
                        logger.info(f"reconnected to {self.target.safe}")
                    self._failed_tries = 0
                if (image.shape[1], image.shape[0]) != (self.info.width, self.info.height):
                    image = cv2.resize(image, (self.info.width, self.info.height),
                                       interpolation=cv2.INTER_AREA)
                seconds = None if pts is None else float((pts - (first_pts if first_pts is not None
                                                                  else pts)) * conn.time_base)
                if first_pts is None and pts is not None:
                    first_pts = pts
                    seconds = 0.0
                if base is None:
                    base = self._next_base(captured_at)
                out = self._out_pts(base, seconds, captured_at)
                self._last_pts, self._last_at = out, captured_at
                frame = Frame(image=image, pts=out, time_base=OUTPUT_TIME_BASE, index=self._index,
                              captured_at=captured_at, meta={"source": "live"})
                self._index += 1
                watchdog.pause()
                yield frame
                watchdog.beat()
        finally:
            watchdog.stop()

    def _frame_ticks(self) -> int:
        rate = self.info.rate or Fraction(25)
        return max(1, int(round(1 / (rate * OUTPUT_TIME_BASE))))

    def _next_base(self, captured_at: float) -> int:
        """Where a new connection's timeline starts: after the last frame, plus the outage's length."""
        if self._last_pts is None:
            return 0
        gap = int(round((captured_at - self._last_at) / OUTPUT_TIME_BASE))
        return self._last_pts + max(self._frame_ticks(), gap)

    def _out_pts(self, base: int, seconds: float | None, captured_at: float) -> int:
        if seconds is None:  # no timestamp: use the arrival clock
            seconds = 0.0 if self._last_pts is None else (
                (self._last_pts - base) * OUTPUT_TIME_BASE + (captured_at - self._last_at))
        out = base + int(round(seconds / OUTPUT_TIME_BASE))
        if self._last_pts is not None and out <= self._last_pts:
            out = self._last_pts + 1  # never repeat or go back (B-frame-free live video rarely does)
        return out

    def _stalled(self, conn: Connection, idle: float) -> None:
        logger.warning(f"watchdog: no frame from {self.target.safe} for {idle:.1f} s; "
                       "tearing the connection down")
        conn.teardown(f"stalled (no frame for {idle:.1f} s)")

    # -- lifetime ------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop from another thread: the iterator ends soon after, even if the camera is silent."""
        self._closed.set()
        if self._conn is not None:
            self._conn.teardown("closed")

    def close(self) -> None:
        self._closed.set()
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> "LiveSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Closed(Exception):
    """close() was called while waiting to reconnect."""
