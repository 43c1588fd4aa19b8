"""How many CPU threads torch uses: the number asked for, else torch's default unless other work
already keeps the cores busy.

Measured on this project's 2-core CI box with other jobs running (load average ~5): NeRD-Rain-S on a
128x128 input took 1.94 s per call with one thread and 14.9 s with torch's default of two, 7.7x
slower, because OpenMP threads spin waiting for a core another process holds. So when the 1-minute
load average leaves fewer free cores than torch would use, torch gets the free ones (at least one);
on an idle machine torch's default stands. The choice is logged at debug level (``-v``): at info it
would precede a failing run's one error line, and whether it appears would depend on the load.
"""
from __future__ import annotations

import os

from loguru import logger

from rainstream.errors import RainstreamError


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def busy_cap(default: int) -> int:
    """``default`` threads, or fewer when the load average leaves fewer cores free (at least 1)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return default
    free = max(1, int(usable_cores() - load + 0.5))
    return min(default, free)


def set_threads(requested: int | None = None) -> int:
    """Set torch's intra-op (and, while still allowed, inter-op) threads; returns the number used."""
    import torch

    if requested is not None:
        if requested < 1:
            raise RainstreamError(f"`threads` must be >= 1, not {requested}")
        threads = requested
    else:
        default = torch.get_num_threads()
        threads = busy_cap(default)
        if threads < default:
            logger.debug(f"the machine is busy (load {os.getloadavg()[0]:.1f} on {usable_cores()} cores): torch uses "
                        f"{threads} thread(s) instead of {default}; `threads` sets the number")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before the first parallel work of the process
        pass
    return threads
