"""Encode derained frames into numbered, self-contained segment files plus a resume journal.

Each segment has its own encoder instance (starts on a keyframe, ends flushed) and is renamed into
place only when complete, then recorded in the journal. So a crash loses at most the segment in
progress, and the segments can be joined by remuxing alone (no re-encode) into the final file.
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable

import av
from av.video.reformatter import ColorRange
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.disk import disk_full_error, is_disk_full
from rainstream.frames import Frame
from rainstream.io.colour import matrix_for, range_for, rgb_to_frame
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.journal import Journal, Segment
from rainstream.io.sink import Sink, close_quietly
from rainstream.io.video_info import VideoInfo

# MP4 keeps the stream's own time base. Its edit lists round a non-zero start to 1 ms, so each
# segment stores pts relative to its first frame and the journal keeps that first pts exactly.
SEGMENT_EXT = ".mp4"
AVCOL_SPC_RGB = 0  # planes are R, G, B: no YUV matrix


class SegmentSink(Sink):
    """``write(frame)`` in presentation order, ``close()`` to flush the open segment."""

    def __init__(self, work_dir: str, info: VideoInfo, options: EncodeOptions, journal: Journal, plan=None,
                 lost_pts: Callable[[int | None, int], list[int]] | None = None):
        """``plan``: the ``OutputPlan`` that names the encoder and pixel format (else the options').
        ``lost_pts(after, upto)``: the input frames lost to damage in that pts range, journaled
        with each segment so that a resumed job knows what the interrupted one lost."""
        self.work_dir = work_dir
        self._lost_pts = lost_pts
        self.info = info
        self.options = options
        self.journal = journal
        self.codec = plan.codec if plan is not None else options.resolved_codec()
        self.pix_fmt = plan.pix_fmt if plan is not None else options.resolved_pix_fmt(info.high_bit_depth)
        self._rgb = self.pix_fmt.startswith(("rgb", "bgr", "gbr"))
        self._matrix = matrix_for(info.colorspace, info.height)
        # 'yuvj' inputs are full range; the output keeps that range on a modern pix_fmt.
        self._range = ColorRange.JPEG if self._rgb else range_for(info.color_range, info.pix_fmt)
        self.frames_written = journal.frames_done
        self._container = None
        self._stream = None
        self._seg: Segment | None = None
        self._tmp_path = ""
        self._dts_shift: int | None = None

    # -- segments ----------------------------------------------------------------------------
    def _open_segment(self, frame: Frame) -> None:
        number = len(self.journal.segments)
        name = f"seg_{number:05d}{SEGMENT_EXT}"
        self._tmp_path = os.path.join(self.work_dir, f"partial_{name}")
        self._seg = Segment(file=name, first_index=frame.index, frames=0, last_pts=-1,
                            first_pts=frame.pts, time_base=str(frame.time_base))
        c = av.open(self._tmp_path, "w", format="mp4")
        info = self.info
        rate = info.rate if info.rate else None
        st = c.add_stream(self.codec, rate=rate, options=self.options.codec_options(self.codec, live=False))
        h, w = frame.image.shape[:2]
        st.width, st.height, st.pix_fmt = w, h, self.pix_fmt
        st.time_base = frame.time_base
        cc = st.codec_context
        cc.time_base = frame.time_base
        cc.color_range = int(self._range)
        cc.colorspace = AVCOL_SPC_RGB if self._rgb else info.colorspace
        cc.color_primaries = info.color_primaries
        cc.color_trc = info.color_trc
        cc.thread_count = 0
        if info.display_matrix:
            st.set_display_matrix(list(info.display_matrix))
        self._container, self._stream = c, st
        self._dts_shift = None

    def _mux(self, container, packets) -> None:
        """Mux, mending one encoder fault: libx265 gives a segment of one or two frames decode times
        off by a garbage constant (read before it is set), which MP4 refuses ("patches welcome").
        Such dts are moved back onto the first pts; the remux rebuilds every dts anyway."""
        for packet in packets:
            if packet.dts is not None and packet.pts is not None:
                if self._dts_shift is None:
                    wild = packet.dts > packet.pts or packet.pts - packet.dts > self._max_reorder_ticks(packet)
                    self._dts_shift = packet.pts - packet.dts if wild else 0
                packet.dts += self._dts_shift
            container.mux(packet)

    def _max_reorder_ticks(self, packet) -> int:
        """64 frames (a generous B-frame delay) in the packet's time base."""
        rate = self.info.rate or Fraction(1, 60)  # unknown rate: allow a minute
        return int(64 / (Fraction(rate) * packet.time_base)) if packet.time_base else 2**31

    def _close_segment(self) -> None:
        if self._container is None:
            return
        c, st, seg = self._container, self._stream, self._seg
        self._container = self._stream = None
        try:
            self._mux(c, st.encode(None))
        finally:
            c.close()
        final = os.path.join(self.work_dir, seg.file)
        os.replace(self._tmp_path, final)
        if self._lost_pts is not None:
            seg.lost_pts = list(self._lost_pts(self.journal.last_pts, seg.last_pts))
        self.journal.segments.append(seg)
        self.journal.save(self.work_dir)
        logger.debug(f"segment {seg.file}: frames {seg.first_index}..{seg.first_index + seg.frames - 1}")

    def _needed(self) -> float | None:
        """Bytes the whole output needs, from the segments so far (the one that hit the limit included)
        and the input's frame count."""
        paths = [os.path.join(self.work_dir, s.file) for s in self.journal.segments]
        frames = sum(s.frames for s in self.journal.segments)
        if self._seg is not None and self._tmp_path:
            paths.append(self._tmp_path)
            frames += self._seg.frames
        size = sum(os.path.getsize(p) for p in paths if os.path.exists(p))
        return size / frames * self.info.frame_count if frames and self.info.frame_count else None

    def _disk_full(self) -> RainstreamError:
        """Drop the segment in progress, then say where space ran out and how much is needed."""
        needed = self._needed()
        self.abort()
        return disk_full_error("writing video segments", self.work_dir, needed,
                               "the finished segments are kept: free some space and run the same command "
                               "with `resume` to finish")

    # -- sink API ----------------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        try:
            self._write(frame)
        except OSError as exc:
            if is_disk_full(exc):
                raise self._disk_full() from None
            raise

    def _write(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        if (w, h) != (self.info.width, self.info.height):
            raise RainstreamError(f"frame {frame.index} is {w}x{h} but the stream is "
                                  f"{self.info.width}x{self.info.height}; size changes are not supported")
        if self._container is None:
            self._open_segment(frame)
        vf = rgb_to_frame(frame.image, self.pix_fmt, self._matrix, self._range)
        vf.pts = frame.pts - self._seg.first_pts
        vf.time_base = frame.time_base or Fraction(1, 25)
        self._mux(self._container, self._stream.encode(vf))
        self._seg.frames += 1
        self._seg.last_pts = frame.pts
        self.frames_written += 1
        # Segments end at whole multiples of segment_frames of the file's frame index, so a part of
        # a file (or a resumed job) starting mid-way lines its segments up with a whole-file run.
        n = self.options.segment_frames
        if self._seg.frames >= n or (frame.index + 1) % n == 0:
            self._close_segment()

    def close(self) -> None:
        """Finish the open segment (flush encoder, rename, journal)."""
        try:
            self._close_segment()
        except OSError as exc:
            if is_disk_full(exc):
                raise self._disk_full() from None
            raise

    def abort(self) -> None:
        """Drop the segment in progress (after an error); completed segments stay for a resume."""
        close_quietly(self._container)
        self._container = None
        if self._tmp_path and os.path.exists(self._tmp_path):
            os.remove(self._tmp_path)
