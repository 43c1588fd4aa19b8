"""Inference engine: tiles, batching, precision and backends around a deraining model."""
from rainstream.engine.config import BACKENDS, PRECISIONS, EngineConfig
from rainstream.engine.derainer import Derainer, PendingBatch

__all__ = ["BACKENDS", "PRECISIONS", "Derainer", "EngineConfig", "PendingBatch"]
