"""Huge pages for torch's large CPU buffers: asked for on import, and they cut the page faults."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import resource, rainstream, torch, os
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for _ in range(5):
    buffer = torch.ones(16 * 2**20)  # 64 MB, freed at once: what a large tile chunk's activations do
    del buffer
print(os.environ["THP_MEM_ALLOC_ENABLE"], (faults() - before) // 5)
"""


def probe(**env) -> tuple[str, int]:
    import os

    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    setting, faults = done.stdout.split()
    return setting, int(faults)


def thp_mode() -> str | None:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    return text.split("[")[1].split("]")[0] if "[" in text else None


def test_importing_rainstream_asks_for_huge_pages_and_keeps_the_users_choice(monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    assert probe()[0] == "1"
    assert probe(THP_MEM_ALLOC_ENABLE="0")[0] == "0"


@pytest.mark.skipif(thp_mode() != "madvise", reason="needs Linux transparent huge pages in 'madvise' mode "
                    "(in 'always' mode every large buffer gets them with or without the setting)")
def test_huge_pages_cut_the_page_faults_of_a_large_buffer(monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    _, with_huge = probe()
    _, without = probe(THP_MEM_ALLOC_ENABLE="0")
    # 64 MB in 4 kB pages is 16,384 faults; in 2 MB pages, 32 (plus the interpreter's own).
    assert without > 15000 and with_huge < without / 4, (with_huge, without)
