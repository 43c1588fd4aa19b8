"""Sources, sinks, codecs, colour and journals: everything that touches files, streams and pixels' bytes.

A *source* is an iterator of ``rainstream.frames.Frame`` with an ``info`` (``VideoInfo``) that is a
context manager (``FileSource``, ``LiveSource``, ``ImageSource``); a *sink* follows
``rainstream.io.sink.Sink`` (``SegmentSink``, ``LiveSink``, ``ImageSink``). Which source serves which
input, and the threads that join them to the engine, are ``rainstream.pipeline``'s business: nothing
here imports the engine, the model or the pipeline.
"""
from __future__ import annotations

from rainstream.io.encode_options import EncodeOptions
from rainstream.io.file_source import DecodeReport, FileSource
from rainstream.io.video_info import VideoInfo

__all__ = ["DecodeReport", "EncodeOptions", "FileSource", "VideoInfo"]
