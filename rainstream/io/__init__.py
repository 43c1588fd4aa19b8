"""Sources and sinks: video files (PyAV), still images, and later live streams (``live.py``).

A *source* is an iterator of ``rainstream.frames.Frame`` with an ``info`` (``VideoInfo``) that is a
context manager; the pipeline runs it in its own thread. ``open_source`` picks one for a spec.
"""
from __future__ import annotations

import importlib

from rainstream.errors import RainstreamError
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.file_source import DecodeReport, FileSource
from rainstream.io.video_info import VideoInfo

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://",
                 "webcam:", "/dev/video")


def is_live_spec(spec: str) -> bool:
    return str(spec).lower().startswith(LIVE_PREFIXES)


def open_source(spec: str, **kwargs):
    """A source for a file path, or (when ``rainstream.io.live`` is installed) a URL/webcam."""
    if is_live_spec(spec):
        try:
            live = importlib.import_module("rainstream.io.live")
        except ModuleNotFoundError:
            raise RainstreamError("live sources (RTSP/HTTP/webcam) are not available in this build") from None
        return live.open_live_source(spec, **kwargs)
    return FileSource(spec, **kwargs)


__all__ = ["DecodeReport", "EncodeOptions", "FileSource", "VideoInfo", "is_live_spec", "open_source"]
