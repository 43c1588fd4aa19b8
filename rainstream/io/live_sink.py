"""Sinks for live streams: a recording that survives a crash, or publishing to an RTSP/RTMP server.

A live recording has no end to wait for, so it cannot use the file pipeline's segment-and-assemble
sink. Matroska and MPEG-TS are readable up to the last written cluster/packet, and MP4 is written
fragmented (``frag_keyframe+empty_moov``) for the same reason; packets are flushed as they are muxed.
The file is written as ``NAME.recording.EXT`` and renamed to ``NAME.EXT`` when the recording stops
(after a crash the ``.recording`` file is the playable result; a later run never overwrites it, and
replaces an existing ``NAME.EXT`` only when asked to). Encoding uses x264's zerolatency tune
and a keyframe every 2 s so a viewer or a crash never waits long for one.
"""
from __future__ import annotations

import os
import time
from fractions import Fraction

import av
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.colour import matrix_for, range_for, rgb_to_frame
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.sink import Sink, close_quietly
from rainstream.io.video_info import VideoInfo
from rainstream.log import redact

FILE_FORMATS = {".mkv": "matroska", ".webm": "matroska", ".ts": "mpegts", ".m2ts": "mpegts",
                ".mp4": "mp4", ".mov": "mov"}
PUBLISH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv"}
PUBLISH_RETRY_S = 1.0  # a departed receiver: how often to try publishing again...
PUBLISH_GIVE_UP_S = 60.0  # ...and for how long before the run ends with an error
_FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}


def is_publish_url(output: str) -> bool:
    return "://" in output and output.split("://", 1)[0].lower() in PUBLISH_FORMATS


def recording_path(output: str, number: int = 0) -> str:
    """``NAME.recording.EXT`` (``NAME.recording-N.EXT`` for ``number`` N > 0)."""
    root, ext = os.path.splitext(output)
    return f"{root}.recording{f'-{number}' if number else ''}{ext}"


def free_recording_path(output: str) -> str:
    """The first recording name that no earlier run left behind: a crash survivor is never overwritten."""
    number = 0
    while os.path.exists(recording_path(output, number)):
        number += 1
    if number:
        logger.warning(f"keeping {recording_path(output)}, left by an earlier recording that did not finish; "
                       f"this one is written as {recording_path(output, number)} until it ends")
    return recording_path(output, number)


def check_live_output(output: str, overwrite: bool = False) -> None:
    """Fail before connecting to the camera when the output cannot work (or would replace a file)."""
    output = os.fspath(output)
    if "://" in output:
        if not is_publish_url(output):
            raise RainstreamError(f"cannot publish to {redact(output)}: use rtsp:// or rtmp://")
        return
    ext = os.path.splitext(output)[1].lower()
    if ext not in FILE_FORMATS:
        raise RainstreamError(f"a live recording must be .mkv, .ts, .mp4 or .mov, not {output!r} "
                              "(Matroska/MPEG-TS stay playable if the recording is cut off)")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise RainstreamError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise RainstreamError(f"output folder is not writable: {folder}")
    if os.path.exists(output) and not overwrite:
        raise RainstreamError(f"{output} already exists; set `overwrite` to replace it, or choose another name")


class LiveSink(Sink):
    """``write(frame)`` with increasing pts, then ``close()``; ``abort()`` after an error (keeps the file)."""

    def __init__(self, output: str, info: VideoInfo, encode: EncodeOptions = EncodeOptions(),
                 overwrite: bool = False):
        check_live_output(output, overwrite)
        self.output = os.fspath(output)
        self.info = info
        self.encode = encode
        self.frames_written = 0
        self.publishing = is_publish_url(self.output)
        self._codec = encode.resolved_codec()
        self._pix_fmt = encode.resolved_pix_fmt(info.high_bit_depth)
        self._matrix = matrix_for(info.colorspace, info.height)
        self._range = range_for(info.color_range, info.pix_fmt)
        self._container = None
        self._stream = None
        self.last_pts: int | None = None
        if self.publishing:
            scheme = self.output.split("://", 1)[0].lower()
            self._path = self.output
            self._format = PUBLISH_FORMATS[scheme]
            self._options = {"rtsp_transport": "tcp"} if self._format == "rtsp" else {}
        else:
            self._path = free_recording_path(self.output)
            self._format = FILE_FORMATS[os.path.splitext(self.output)[1].lower()]
            self._options = {"flush_packets": "1"}
            if self._format == "matroska":
                self._options["cluster_time_limit"] = "1000"  # ms: a crash loses at most ~1 s
            if self._format in ("mp4", "mov"):
                self._options.update(_FRAGMENTED)

    @property
    def where(self) -> str:
        return redact(self._path)

    def _open(self, frame: Frame) -> None:
        try:
            c = av.open(self._path, "w", format=self._format, options=dict(self._options))
        except (av.error.FFmpegError, OSError) as exc:
            raise RainstreamError(f"cannot open output {self.where}: "
                                  f"{redact(getattr(exc, 'strerror', None) or str(exc))}") from None
        rate = self.info.rate or Fraction(25)
        codec_options = dict(self.encode.codec_options(self._codec, live=True))
        if self._codec in ("libx264", "libx265"):
            codec_options["tune"] = "zerolatency"
        st = c.add_stream(self._codec, rate=rate, options=codec_options)
        h, w = frame.image.shape[:2]
        st.width, st.height, st.pix_fmt = w, h, self._pix_fmt
        st.time_base = frame.time_base
        cc = st.codec_context
        cc.time_base = frame.time_base
        cc.gop_size = max(1, int(round(2 * rate)))
        cc.color_range = int(self._range)
        self._container, self._stream = c, st
        logger.info(f"{'publishing to' if self.publishing else 'recording to'} {self.where}")

    def write(self, frame: Frame) -> None:
        if self._container is None:
            if self._gone_since is None:
                self._open(frame)
            elif not self._reopen(frame):
                return  # the receiver is still gone: this frame is dropped
        if self.last_pts is not None and frame.pts <= self.last_pts:
            return  # a live sink cannot go back in time; never happens with LiveSource pts
        vf = rgb_to_frame(frame.image, self._pix_fmt, self._matrix, self._range)
        vf.pts, vf.time_base = frame.pts, frame.time_base
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            reason = redact(getattr(exc, 'strerror', None) or str(exc))
            if not self.publishing:
                raise RainstreamError(f"writing {self.where} failed: {reason}") from None
            self._receiver_left(reason)
            return
        self.last_pts = frame.pts
        self.frames_written += 1

    # -- a re-published stream whose receiver leaves (RTSP and RTMP alike) ---------------------
    _gone_since: float | None = None
    _next_try = 0.0

    def _receiver_left(self, reason: str) -> None:
        """Drop the connection and keep going: frames are dropped until the receiver is back."""
        logger.warning(f"the receiver at {self.where} went away ({reason}); publishing again when it "
                       f"is back (trying every {PUBLISH_RETRY_S:.0f} s, for up to {PUBLISH_GIVE_UP_S:.0f} s)")
        c, self._container, self._stream = self._container, None, None
        try:
            c.close()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass
        self._gone_since = time.monotonic()
        self._next_try = self._gone_since + PUBLISH_RETRY_S

    def _reopen(self, frame: Frame) -> bool:
        now = time.monotonic()
        if now < self._next_try:
            return False
        try:
            self._open(frame)
        except RainstreamError as exc:
            if now - self._gone_since > PUBLISH_GIVE_UP_S:
                raise RainstreamError(f"the receiver at {self.where} has been gone for "
                                      f"{now - self._gone_since:.0f} s; last error: {exc}") from None
            self._next_try = now + PUBLISH_RETRY_S
            return False
        self._gone_since = None
        return True

    def close(self) -> None:
        """Flush the encoder and finish the file (renamed to its final name)."""
        if self._container is not None:
            c, st = self._container, self._stream
            self._container = None
            try:
                for packet in st.encode(None):
                    c.mux(packet)
            finally:
                c.close()
        self._finish()

    def abort(self) -> None:
        """After an error: close without flushing; what was written stays playable."""
        close_quietly(self._container)
        self._container = None
        self._finish()

    def _finish(self) -> None:
        if not self.publishing and os.path.exists(self._path):
            os.replace(self._path, self.output)
