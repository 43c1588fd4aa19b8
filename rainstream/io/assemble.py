"""Join encoded segments and the input's audio/subtitle streams into the final output file.

Pure remux: video packets are copied from the segments, audio and subtitle packets from the input,
interleaved by decode time. The result is written to a hidden temp name next to the output and
renamed when complete, so the output path holds either nothing or a finished file.

Carried over: audio and subtitle streams (not re-encoded; language and disposition kept), the
container's global metadata (title, creation time...), the video stream's language tag, colour tags
(range, matrix, primaries, transfer; written by the encoder into the bitstream and the container)
and the display matrix (rotation/flip). Not carried: data streams (e.g. GPS tracks), attachments
and chapters.
"""
from __future__ import annotations

import heapq
import itertools
import os
from fractions import Fraction
from typing import Iterator

import av
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.io.disk import disk_full_error, is_disk_full

_PASSTHROUGH_TYPES = ("audio", "subtitle")


def temp_path_for(output: str) -> str:
    """Hidden sibling of ``output`` with the same extension, so the muxer is chosen the same way."""
    folder, name = os.path.split(os.path.abspath(output))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.rainstream-tmp-{os.getpid()}{ext}")


def _packets(container: av.container.InputContainer, streams, end_time: float | None,
             order: int) -> Iterator[tuple[float, int, int, av.Packet]]:
    counter = itertools.count()
    for packet in container.demux(*streams):
        if packet.size == 0 or packet.dts is None and packet.pts is None:
            continue
        ts = packet.dts if packet.dts is not None else packet.pts
        t = float(ts * packet.time_base)
        if end_time is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= end_time:
            continue
        yield t, order, next(counter), packet


def _reorder_depth(segments: list[tuple[str, Fraction]]) -> int:
    """Largest frame-reorder delay (B-frames) of any segment: how far a packet's decode position
    runs ahead of its presentation rank. A demux-only pass; no decoding."""
    depth = 0
    for path, _ in segments:
        with av.open(path) as seg:
            pts = [p.pts for p in seg.demux(seg.streams.video[0]) if p.size]
        rank = {v: r for r, v in enumerate(sorted(pts))}
        depth = max([depth] + [j - rank[v] for j, v in enumerate(pts)])
    return depth


def _segment_packets(segments: list[tuple[str, Fraction]]) -> Iterator[tuple[float, int, int, av.Packet]]:
    """Video packets of all segments in decode order, with absolute pts and one dts convention.

    Each segment has its own encoder, and a short one may come out with less B-frame delay than
    the others, which would make dts jump back at the join. So dts are rebuilt over the whole
    stream: the i-th packet in decode order gets the (i - depth)-th smallest pts, which is never
    after its own pts and always increasing.
    """
    depth = _reorder_depth(segments)
    counter = itertools.count()
    tail: list[int] = []  # the last ``depth`` sorted pts of earlier segments
    for path, offset in segments:
        with av.open(path) as seg:  # packets must not outlive their container
            packets = [p for p in seg.demux(seg.streams.video[0]) if p.size]
            if not packets:
                continue
            tb = packets[0].time_base
            shift = offset / tb
            if shift.denominator != 1:
                raise RainstreamError(f"segment {path}: offset {offset} s is not a whole number of ticks of {tb}")
            for p in packets:
                p.pts += int(shift)
            ordered = sorted(p.pts for p in packets)
            if not tail:  # very first packets: extrapolate before the first pts
                step = (ordered[1] - ordered[0]) if len(ordered) > 1 else 1
                tail = [ordered[0] - (depth - k) * step for k in range(depth)]
            stream_pts = tail + ordered
            for j, p in enumerate(packets):
                p.dts = stream_pts[j]
                if p.dts > p.pts:
                    raise AssertionError(f"segment {path}: rebuilt dts after pts")  # cannot happen
                yield float(p.dts * tb), 0, next(counter), p
        tail = stream_pts[len(stream_pts) - depth:] if depth else []


def assemble(segment_paths: list[tuple[str, Fraction]], output: str, passthrough_from: str | None = None,
             audio_end_time: float | None = None) -> None:
    """Write ``output`` from the video segments plus ``passthrough_from``'s audio/subtitles.

    ``segment_paths`` are (file, offset in seconds of its pts 0), in order.

    ``audio_end_time`` (seconds) trims the passthrough streams, for a partial (interrupted) output.
    """
    if not segment_paths:
        raise RainstreamError("no frames were encoded; nothing to write")
    tmp = temp_path_for(output)
    try:
        _write(segment_paths, tmp, passthrough_from, audio_end_time)
        os.replace(tmp, output)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if is_disk_full(exc) or is_disk_full(exc.__context__):
            needed = sum(os.path.getsize(p) for p, _ in segment_paths if os.path.exists(p))
            raise disk_full_error(f"writing {output}", os.path.dirname(os.path.abspath(output)) or ".", needed,
                                  "the encoded segments are kept: free some space and run the same command "
                                  "with `resume` to write it") from None
        raise


def _write(segment_paths, tmp, passthrough_from, audio_end_time) -> None:
    try:
        out = av.open(tmp, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise RainstreamError(f"cannot write {tmp}: {exc}") from None
    src = av.open(passthrough_from) if passthrough_from else None
    first = av.open(segment_paths[0][0])
    try:
        v_in = first.streams.video[0]
        v_out = out.add_stream_from_template(v_in)
        mapping = {}
        kept = []
        if src is not None:
            out.metadata.update(src.metadata)
            if src.streams.video:
                lang = src.streams.video[0].metadata.get("language")
                if lang:
                    v_out.metadata["language"] = lang
            for st in src.streams:
                if st.type not in _PASSTHROUGH_TYPES:
                    continue
                try:
                    o = out.add_stream_from_template(st)
                except ValueError as exc:
                    logger.warning(f"dropping {st.type} stream #{st.index}: {exc}")
                    continue
                o.metadata.update(st.metadata)
                o.disposition = st.disposition
                mapping[st.index] = o
                kept.append(st)
        streams = [_segment_packets(segment_paths)]
        if kept:
            streams.append(_packets(src, kept, audio_end_time, 1))
        for _, _, _, packet in heapq.merge(*streams, key=lambda item: item[:3]):
            target = v_out if packet.stream.type == "video" else mapping[packet.stream.index]
            packet.stream = target
            out.mux(packet)
    except av.error.FFmpegError as exc:
        if is_disk_full(exc):
            raise
        raise RainstreamError(f"cannot write the output file: {exc}") from None
    finally:
        first.close()
        if src is not None:
            src.close()
        out.close()  # writes the trailer: may itself find the disk full
