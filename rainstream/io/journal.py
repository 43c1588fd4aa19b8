"""Resume journal: which output segments are complete, and for which input and options.

Written atomically (temp + rename) after every finished segment, so a crash or power loss at any
moment leaves either the previous or the new journal, never a torn one.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from rainstream.errors import RainstreamError

JOURNAL_NAME = "journal.json"
VERSION = 1


@dataclass
class Segment:
    file: str
    first_index: int
    frames: int
    last_pts: int
    first_pts: int = 0  # the segment file's pts are relative to this (in ``time_base``)
    time_base: str = "1/1"
    lost_pts: list[int] = field(default_factory=list)  # input frames lost to damage up to last_pts

    @property
    def offset_seconds(self) -> Fraction:
        return self.first_pts * Fraction(self.time_base)


@dataclass
class Journal:
    input_signature: dict
    options: dict
    segments: list[Segment] = field(default_factory=list)
    complete: bool = False  # every frame it was meant to hold is in its segments (parts of a file)

    @property
    def frames_done(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def lost_pts(self) -> list[int]:
        """Input frames lost to damage in every finished segment: a resumed job reports them too."""
        return [p for s in self.segments for p in s.lost_pts]

    @property
    def last_pts(self) -> int | None:
        return self.segments[-1].last_pts if self.segments else None

    def save(self, work_dir: str) -> None:
        path = os.path.join(work_dir, JOURNAL_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"version": VERSION, **asdict(self)}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, work_dir: str) -> "Journal | None":
        path = os.path.join(work_dir, JOURNAL_NAME)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as fh:
                data = json.load(fh)
            if data.get("version") != VERSION:
                raise ValueError(f"journal version {data.get('version')}")
            return cls(input_signature=data["input_signature"], options=data["options"],
                       segments=[Segment(**s) for s in data["segments"]], complete=data.get("complete", False))
        except (ValueError, KeyError, TypeError) as exc:
            raise RainstreamError(f"cannot resume: unreadable journal {path} ({exc}); "
                                  "run again without `resume` to start over") from None


def input_signature(path: str) -> dict:
    """Identity of an input file cheap enough to check on every resume: size and mtime."""
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
