"""A full disk (or quota) while writing: one line saying where, how much was needed and what is free."""
from __future__ import annotations

import errno
import os
import shutil

from rainstream.errors import DiskFull

_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, also as FFmpeg reports it (PyAV's ``av.error.OSError`` is an ``OSError``)."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def free_bytes(folder: str) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full_error(doing: str, folder: str, needed: float | None, then: str = "") -> DiskFull:
    """``no space left in FOLDER while DOING: about N MB needed, M MB free; THEN``."""
    folder = os.path.abspath(folder)
    free = free_bytes(folder)
    parts = []
    if needed:
        parts.append(f"about {megabytes(needed)} needed")
    if free is not None:
        parts.append(f"{megabytes(free)} free")
    detail = f" ({', '.join(parts)})" if parts else ""
    return DiskFull(f"no space left in {folder} while {doing}{detail}" + (f"; {then}" if then else ""))
