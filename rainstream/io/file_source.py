"""Video file source: demux + decode with PyAV, yielding RGB ``Frame``s that keep their pts.

A source is an iterator of ``rainstream.frames.Frame`` with an ``.info`` (``VideoInfo``) and is a
context manager; the pipeline runs it in its own thread. Live sources follow the same shape.
"""
from __future__ import annotations

import bisect
import heapq
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.colour import frame_to_rgb, is_high_bit_depth, matrix_for, range_for
from rainstream.io.video_info import VideoInfo


@dataclass
class DecodeReport:
    """Decode health: pts of packets that held a picture vs frames that came out, and failures.

    With frame threading the decoder reports an error on a later packet than the broken one, so
    missing frames are found by comparing timestamps, not by which call raised.
    """

    packet_pts: list = field(default_factory=list)
    frame_pts: list = field(default_factory=list)
    keyframe_pts: list = field(default_factory=list)  # pts of decoded keyframes
    errors: int = 0  # decode calls that raised
    corrupt_frames: int = 0  # frames decoded with the corrupt flag (concealed, still output)
    ended_early: tuple[float, float] | None = None  # (where the frames end, announced end), seconds

    @property
    def packets(self) -> int:
        return len(self.packet_pts)

    @property
    def frames(self) -> int:
        return len(self.frame_pts)

    @property
    def missing(self) -> int:
        return max(0, self.packets - self.frames)

    @property
    def missing_pts(self) -> list:
        if not self.missing:
            return []
        return sorted(set(p for p in self.packet_pts if p is not None) - set(self.frame_pts))

    def lost_pts(self, after: int | None = None, upto: int | None = None) -> list:
        """pts in (after, upto] of frames lost to damage: those that did not decode, and every frame
        decoded after one of them up to the next keyframe. A lost reference frame takes those down
        (with H.264 they come out as concealment garbage without any error or corrupt flag), and the
        decoder cannot say whether the lost frame was one, so they count as lost too."""
        def inside(p) -> bool:
            return (after is None or p > after) and (upto is None or p <= upto)

        frames = sorted(set(self.frame_pts))
        missing = sorted(set(p for p in list(self.packet_pts) if p is not None) - set(frames))
        if not missing:
            return []
        keys = sorted(set(self.keyframe_pts))
        lost = set(p for p in missing if inside(p))
        for m in missing:
            end = keys[bisect.bisect_right(keys, m)] if bisect.bisect_right(keys, m) < len(keys) else None
            start = bisect.bisect_right(frames, m)
            stop = bisect.bisect_left(frames, end) if end is not None else len(frames)
            lost.update(p for p in frames[start:stop] if inside(p))
        return sorted(lost)


def _open_input(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise RainstreamError(f"input not found: {path}")
    if os.path.isdir(path):
        raise RainstreamError(f"input is a folder, not a video: {path}")
    try:
        return av.open(path, "r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise RainstreamError(f"cannot read {path} as a video: {exc.__class__.__name__}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    # Looked up by type: iterating side data yields the entries up to PyAV 18.1.0, their types from 18.1.1.
    sd = frame.side_data.get(SideDataType.DISPLAYMATRIX) if frame.side_data else None
    if sd is None:
        return None
    return tuple(int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32)[:9])


def _in_pts_order(frames: Iterator[av.VideoFrame], window: int = 8) -> Iterator[av.VideoFrame]:
    """Re-sort by pts within a small window.

    A damaged stream can make the decoder emit frames out of order around the damage; encoders and
    muxers need increasing timestamps. A frame that arrives later than the window allows is dropped
    (and so counted as missing).
    """
    heap: list = []
    last = None

    def pop_in_order() -> Iterator[av.VideoFrame]:
        nonlocal last
        pts, _, out = heapq.heappop(heap)
        if last is not None and pts <= last:
            logger.warning(f"dropping frame at pts {pts}: decoded too late, out of order")
            return
        last = pts
        yield out

    for n, frame in enumerate(frames):
        if frame.pts is None:
            yield frame
            continue
        heapq.heappush(heap, (frame.pts, n, frame))
        if len(heap) > window:
            yield from pop_in_order()
    while heap:
        yield from pop_in_order()


class FileSource:
    """Decode a video file's first video stream to RGB frames.

    Opening validates the file (readable, has a video stream, first frame decodes) so bad input fails
    with one clear message before any output exists. ``start_after_pts`` lets a resumed job seek to
    the keyframe before the first missing frame and skip what is already done.
    """

    def __init__(self, path: str | os.PathLike, start_after_pts: int | None = None,
                 first_index: int = 0):
        self.path = os.fspath(path)
        self.report = DecodeReport()
        self._start_after_pts = start_after_pts
        self._first_index = first_index  # index of the first frame yielded (resumed jobs)
        self._container = _open_input(self.path)
        try:
            streams = self._container.streams.video
            if not streams:
                raise RainstreamError(f"{self.path} has no video stream")
            self._stream = streams[0]
            self._stream.thread_type = "AUTO"
            self._first = self._probe_first_frame()
            self.info = self._describe(self._first)
        except BaseException:
            self._container.close()
            raise

    # -- opening -----------------------------------------------------------------------------
    def _probe_first_frame(self) -> av.VideoFrame:
        self._probe_pts = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                self._probe_pts.append(packet.pts)
                frames = packet.decode()
                if frames:
                    self._head = frames  # keep them all: one call can return several frames
                    return frames[0]
            frames = self._stream.codec_context.decode(None)
            if frames:
                self._head = frames
                return frames[0]
        except av.error.FFmpegError as exc:
            raise RainstreamError(f"cannot decode {self.path}: {exc}") from None
        raise RainstreamError(f"{self.path} has a video stream but no decodable frame "
                              "(truncated or empty file?)")

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        st, cc = self._stream, self._stream.codec_context
        rate = st.average_rate or st.guessed_rate
        time_base = st.time_base or (Fraction(1, int(rate)) if rate else Fraction(1, 25))
        duration = None
        if st.duration and st.time_base:
            duration = float(st.duration * st.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        frame_count = st.frames or (int(round(duration * rate)) if duration and rate else None)
        pix_fmt = first.format.name
        return VideoInfo(
            width=first.width, height=first.height, time_base=Fraction(time_base),
            rate=Fraction(rate) if rate else None, pix_fmt=pix_fmt,
            high_bit_depth=is_high_bit_depth(pix_fmt),
            color_range=int(first.color_range or cc.color_range or 0),
            colorspace=int(first.colorspace or cc.colorspace or 2),
            color_primaries=int(first.color_primaries or cc.color_primaries or 2),
            color_trc=int(first.color_trc or cc.color_trc or 2),
            display_matrix=_display_matrix(first), frame_count=frame_count or None,
            duration=duration, codec=cc.name, metadata=dict(st.metadata),
            start_time=float(first.pts * time_base) if first.pts is not None else None,
        )

    # -- reading -----------------------------------------------------------------------------
    def _decoded(self) -> Iterator[av.VideoFrame]:
        """All frames in order; a packet the decoder rejects is logged, counted and skipped."""
        yield from self._head
        for packet in self._container.demux(self._stream):
            if packet.size == 0:
                continue
            self.report.packet_pts.append(packet.pts)
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self.report.errors += 1
                logger.warning(f"decode error near pts {packet.pts} (skipped): {exc}")
                continue
            yield from frames
        try:
            yield from self._stream.codec_context.decode(None)
        except av.error.EOFError:
            pass  # already flushed while probing a very short file
        except av.error.FFmpegError as exc:
            logger.warning(f"decoder flush failed: {exc}")

    def _resumed(self) -> Iterator[av.VideoFrame]:
        """Seek to the keyframe at/before the resume point; fall back to a full decode if it overshoots."""
        target = self._start_after_pts
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._stream.codec_context.flush_buffers()
        first = True
        for frame in self._decoded_after_seek(target):
            if first:
                first = False
                if frame.pts is None or frame.pts > target:
                    logger.info("seek overshot the resume point; decoding from the start")
                    self._container.seek(0, stream=self._stream, backward=True)
                    self._stream.codec_context.flush_buffers()
                    yield from (f for f in self._decoded_after_seek(target) if f.pts > target)
                    return
            if frame.pts is not None and frame.pts > target:
                yield frame

    def _decoded_after_seek(self, target: int) -> Iterator[av.VideoFrame]:
        self.report.packet_pts.clear()
        for packet in self._container.demux(self._stream):
            if packet.size == 0:
                continue
            if packet.pts is not None and packet.pts > target:
                self.report.packet_pts.append(packet.pts)
            try:
                yield from packet.decode()
            except av.error.FFmpegError as exc:
                self.report.errors += 1
                logger.warning(f"decode error near pts {packet.pts} (skipped): {exc}")
        yield from self._stream.codec_context.decode(None)

    def __iter__(self) -> Iterator[Frame]:
        info = self.info
        if self._start_after_pts is not None:
            frames = self._resumed()
        else:
            frames = self._decoded()
            self.report.packet_pts.extend(self._probe_pts)  # consumed while probing
        frames = _in_pts_order(frames)
        matrix = matrix_for(info.colorspace, info.height)
        rng = range_for(info.color_range, info.pix_fmt)
        fallback_tb = Fraction(1, 1) / info.rate if info.rate else info.time_base
        index = self._first_index
        last = None
        for vf in frames:
            if vf.is_corrupt:
                self.report.corrupt_frames += 1
                logger.warning(f"frame {index} (pts {vf.pts}) decoded with errors; kept as decoded")
            if (vf.width, vf.height) != (info.width, info.height):
                logger.warning(f"frame {index} changes size to {vf.width}x{vf.height}")
            image = frame_to_rgb(vf, matrix, rng, info.high_bit_depth)
            pts, tb = (vf.pts, info.time_base) if vf.pts is not None else (index, fallback_tb)
            self.report.frame_pts.append(pts)
            if vf.key_frame:
                self.report.keyframe_pts.append(pts)
            yield Frame(image=image, pts=pts, time_base=tb, index=index,
                        captured_at=time.monotonic(), meta={"key_frame": vf.key_frame})
            index += 1
            last = float(pts * tb)
        else:
            self.report.ended_early = self._ended_early(last)

    def _ended_early(self, last: float | None) -> tuple[float, float] | None:
        """A truncated file (e.g. an MKV cut off without its index) just stops: the frames end well
        before the duration its header announced. (stream duration; else the container's)"""
        info = self.info
        if not info.duration or last is None:
            return None
        frame = float(1 / info.rate) if info.rate else 0.04
        start = info.start_time or 0.0
        announced, ended = start + info.duration, last + frame
        return (ended, announced) if announced - ended > max(2 * frame, 0.25) else None

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "FileSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
