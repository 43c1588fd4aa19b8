"""Transparent huge pages for torch's large CPU buffers, asked for before torch allocates any.

torch's CPU allocator gives every buffer of 2 MB or more back to the kernel when it is freed, so each
model call on a large tile chunk faults its activations in again, 4 kB at a time: on a 4K frame that
was 147 million page faults and more time in the kernel than in the model. With
``THP_MEM_ALLOC_ENABLE=1`` torch aligns those buffers to 2 MB and asks for huge pages
(``madvise``), 512x fewer faults; measured on NeRD-Rain-S, four 256x256 tiles per call, 1 thread:
page faults 9.7 M -> 0.37 M per call, kernel time 21.4 s -> 7.3 s (docs/BENCHMARKS.md "Large
frames"). Linux only (torch ignores it elsewhere); a value the user set, such as 0, is kept.
"""
from __future__ import annotations

import os

SETTING = "THP_MEM_ALLOC_ENABLE"


def ask_for_huge_pages() -> None:
    """Turn huge pages on for torch's CPU buffers unless the environment already decides.
    torch reads the setting once, at its first large allocation: call this before that."""
    os.environ.setdefault(SETTING, "1")
