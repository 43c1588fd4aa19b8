"""Animated GIF output: one palette per frame (FFmpeg's palettegen/paletteuse), written in one pass.

GIF holds 256 colours per frame; a palette computed from each frame keeps far more of the picture
than a fixed 3-3-2 palette. The file is written under a temporary name and renamed when complete;
GIF cannot go through the resumable segments (no other container takes the gif codec).
"""
from __future__ import annotations

import os
from fractions import Fraction

import av
import av.filter
import numpy as np

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.sink import Sink, close_quietly
from rainstream.io.video_info import VideoInfo


def _palette_graph(width: int, height: int, time_base: Fraction) -> av.filter.Graph:
    graph = av.filter.Graph()
    src = graph.add_buffer(width=width, height=height, format="rgb24", time_base=time_base)
    split = graph.add("split")
    palettegen = graph.add("palettegen", "stats_mode=single:reserve_transparent=0")
    paletteuse = graph.add("paletteuse", "new=1:dither=sierra2_4a")
    sink = graph.add("buffersink")
    src.link_to(split)
    split.link_to(paletteuse, 0, 0)
    split.link_to(palettegen, 1, 0)
    palettegen.link_to(paletteuse, 0, 1)
    paletteuse.link_to(sink)
    graph.configure()
    return graph


class GifSink(Sink):
    """``write(frame)`` in presentation order, then ``close()`` (rename into place) or ``abort()``."""

    def __init__(self, output: str, info: VideoInfo):
        self.output = os.fspath(output)
        self.info = info
        folder, name = os.path.split(os.path.abspath(self.output))
        self._tmp = os.path.join(folder, f".{name}.rainstream-tmp-{os.getpid()}.gif")
        self.frames_written = 0
        self._container = None
        self._stream = None
        self._graph = None

    def _open(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        time_base = frame.time_base or Fraction(1, 25)
        self._container = av.open(self._tmp, "w", format="gif")
        self._stream = self._container.add_stream("gif", rate=self.info.rate or 25)
        self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, "pal8"
        self._stream.time_base = time_base
        self._stream.codec_context.time_base = time_base
        self._graph = _palette_graph(w, h, time_base)

    def write(self, frame: Frame) -> None:
        if self._container is None:
            self._open(frame)
        image = frame.image
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)  # GIF is 8-bit per channel at most
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        vf.pts = frame.pts if frame.pts is not None else frame.index
        vf.time_base = self._stream.time_base
        self._graph.push(vf)
        paletted = self._graph.pull()  # stats_mode=single: one frame in, one frame out
        paletted.pts, paletted.time_base = vf.pts, vf.time_base
        for packet in self._stream.encode(paletted):
            self._container.mux(packet)
        self.frames_written += 1
        self.last_pts = frame.pts

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.output)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise RainstreamError(f"cannot write {self.output}: {getattr(exc, 'strerror', None) or exc}") from None

    def abort(self) -> None:
        close_quietly(self._container)
        self._container = None
        if os.path.exists(self._tmp):
            os.remove(self._tmp)
