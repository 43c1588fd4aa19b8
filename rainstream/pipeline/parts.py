"""A long video cut at keyframes into parts that are derained independently, then joined.

``plan_parts`` reads only packet headers (no decoding) to cut the file at keyframes into parts of
about ``part_frames`` frames. ``run_part`` derains one part into its own folder of segments with its
own journal (the segment sink and journal of a video job, so a part that was cut short continues
where it stopped), decoding from the keyframe before the part and keeping frames with pts in
``[start_pts, end_pts)``. ``join_parts`` remuxes every part's segments with the input's audio and
subtitles, as the video job does with its own segments. Used by the Ray backend; nothing here
knows about Ray.
"""
from __future__ import annotations

import bisect
import os
import shutil
from dataclasses import dataclass

import av

from rainstream.errors import RainstreamError
from rainstream.io.assemble import assemble
from rainstream.io.file_source import FileSource
from rainstream.io.journal import Journal
from rainstream.io.output_plan import plan_output
from rainstream.io.segment_sink import SegmentSink
from rainstream.pipeline.config import RunConfig, resume_identity
from rainstream.pipeline.job import Interrupted, make_runner
from rainstream.pipeline.missing import check_missing_frames
from rainstream.pipeline.runner import FrameLimit
from rainstream.pipeline.video import prepare_journal


@dataclass(frozen=True)
class Part:
    """Frames with ``start_pts <= pts < end_pts`` (None: from the start / to the end) of a file."""

    number: int
    start_pts: int | None
    end_pts: int | None
    first_index: int  # index of the part's first frame in the file
    frames: int  # frames it should hold (one per packet with a picture)

    @property
    def folder(self) -> str:
        return f"part_{self.number:05d}"


def plan_parts(path: str, part_frames: int, align: int = 1) -> list[Part]:
    """Cut ``path`` at a keyframe after every ``part_frames`` frames (a remainder shorter than half a
    part stays with the part before). One part when the file is short or has no keyframes.

    Cuts go on a keyframe whose frame index is a multiple of ``align`` (the segment length) when one
    comes within a part's length: the parts' segments then line up with a whole-file run's, and the
    joined output is the one a single process writes. Else the first keyframe: only the segment
    around that cut is encoded differently."""
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            pts, keys = [], set()
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.add(packet.pts)
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise RainstreamError(f"cannot read {path} as a video: {exc}") from None
    pts.sort()
    candidates = [(key, bisect.bisect_left(pts, key)) for key in sorted(keys)]  # (pts, frames before it)
    candidates = [(key, before) for key, before in candidates if len(pts) - before >= max(1, part_frames // 2)]
    cuts: list[tuple[int, int]] = []
    next_cut = part_frames
    while True:
        later = [c for c in candidates if c[1] >= next_cut]
        if not later:
            break
        aligned = [c for c in later if c[1] % align == 0 and c[1] < next_cut + part_frames]
        cut = aligned[0] if aligned else later[0]
        cuts.append(cut)
        next_cut = cut[1] + part_frames
    starts = [(None, 0)] + cuts
    parts = []
    for n, (start, first) in enumerate(starts):
        end, last = cuts[n] if n < len(cuts) else (None, len(pts))
        parts.append(Part(number=n, start_pts=start, end_pts=end, first_index=first, frames=last - first))
    return parts


def part_identity(config: RunConfig, part: Part) -> dict:
    """A part's journal matches only the same settings and the same cut."""
    return {**resume_identity(config), "part": [part.start_pts, part.end_pts]}


def run_part(input_path: str, output: str, work_dir: str, part: Part, config: RunConfig, derainer,
             bar=None) -> tuple[int, int]:
    """Derain ``part`` of ``input_path`` into ``work_dir/part_NNNNN`` (continuing what an earlier,
    cut-short attempt finished), encoded as ``output`` will be (the same plan as a whole-file run);
    returns (frames the part holds, frames derained now)."""
    part_dir = os.path.join(work_dir, part.folder)
    journal = prepare_journal(part_dir, input_path, part_identity(config, part), resume=True)
    done_before = journal.frames_done
    if journal.complete:
        return done_before, 0
    if journal.last_pts is not None:
        start_after = journal.last_pts
    else:
        start_after = None if part.start_pts is None else part.start_pts - 1
    p = config.pipeline
    limit = FrameLimit(before_pts=part.end_pts) if part.end_pts is not None else None
    with FileSource(input_path, start_after_pts=start_after,
                    first_index=part.first_index + journal.frames_done) as source:
        runner = make_runner(derainer, p, limit=limit, progress=False, info=source.info, bar=bar)
        plan = plan_output(output, source.info, config.encode)
        report = source.report
        with SegmentSink(part_dir, source.info, config.encode, journal, plan=plan, lost_pts=report.lost_pts) as sink:
            summary = runner.run(source, sink)
    if summary.interrupted:
        raise Interrupted(f"interrupted in part {part.number} of {input_path}")
    # the whole-file rule: lost in earlier attempts (journal) or in this one, up to the part's end
    lost = [*journal.lost_pts, *(t for t in report.lost_pts(after=start_after)
                                 if part.end_pts is None or t < part.end_pts)]
    check_missing_frames(source.info, lost, report.ended_early, allow=p.allow_missing_frames,
                         where=f" in part {part.number}")
    journal.complete = True
    journal.save(part_dir)
    return journal.frames_done, journal.frames_done - done_before


def join_parts(input_path: str, output: str, work_dir: str, parts: list[Part]) -> int:
    """Remux every part's segments, in order, with the input's audio and subtitles into ``output``;
    remove the work folder. Returns the frames written."""
    segments, frames = [], 0
    for part in parts:
        part_dir = os.path.join(work_dir, part.folder)
        journal = Journal.load(part_dir)
        if journal is None or not journal.complete:
            raise RainstreamError(f"part {part.number} of {input_path} is not finished")
        segments += [(os.path.join(part_dir, s.file), s.offset_seconds) for s in journal.segments]
        frames += journal.frames_done
    assemble(segments, output, input_path)
    shutil.rmtree(work_dir, ignore_errors=True)
    return frames
