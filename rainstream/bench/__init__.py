"""Benchmarks, all reachable from ``rainstream bench``: model-only throughput (``model.py``),
pipeline efficiency on a clip (``pipeline.py``, ``--pipeline``), live latency (``live.py``, ``--live``).
Numbers belong in docs/BENCHMARKS.md, never in tests."""
