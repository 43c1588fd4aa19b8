"""The missing-frames rule, in one place for whole-file runs and the parts Ray workers derain:
input frames lost to damage, or a truncated end, fail the output unless `allow_missing_frames`
says to write it anyway (then a warning), because an output silently shorter than its input is
worse than none."""

from __future__ import annotations

from typing import Iterable

from loguru import logger

from rainstream.errors import RainstreamError


def check_missing_frames(info, lost: Iterable[int], ended_early: tuple[float, float] | None, *,
                         allow: bool, where: str = "") -> None:
    """Raise (or warn, with ``allow``) naming the lost frames' times and a truncated end;
    ``lost`` holds pts in ``info.time_base``, ``where`` names the part of the input, if any."""
    lost = sorted(set(lost))
    if not lost and ended_early is None:
        return
    problems = []
    if lost:
        shown = ", ".join(f"{float(p * info.time_base):.3f}s" for p in lost[:10])
        problems.append(f"{len(lost)} input frame(s) could not be decoded{where} (at {shown}"
                        f"{', ...' if len(lost) > 10 else ''})")
    if ended_early is not None:
        ended, announced = ended_early
        rate = float(info.rate) if info.rate else 25.0
        problems.append(f"the input's frames end at {ended:.2f}s, before its announced duration of "
                        f"{announced:.2f}s (truncated file?): about {round((announced - ended) * rate)} "
                        "frame(s) missing")
    what = "; ".join(problems)
    if not allow:
        raise RainstreamError(f"{what}; the output would miss them, so it was not written "
                              "(set `allow_missing_frames` to write it anyway)")
    logger.warning(f"{what}; the output misses them")
