"""Read TensorFlow checkpoints (``tf.train.Saver`` V2 tensor bundles) without TensorFlow.

A checkpoint ``PREFIX`` is ``PREFIX.index`` plus ``PREFIX.data-0000N-of-0000M``. The index is a
LevelDB-format table: sorted key/value blocks, an index of those blocks and a 48-byte footer; each
block carries a masked CRC-32C. Its keys are variable names, its values ``BundleEntryProto``
messages (dtype, shape, shard, offset, size, CRC-32C of the bytes); the empty key holds the
``BundleHeaderProto`` (number of shards, byte order). The data shards hold each tensor's raw bytes at
its offset. Only what a converter needs is parsed (dense numeric tensors, uncompressed index blocks,
which is what TensorFlow writes); anything else is one clear error, and every byte read is checked
against its CRC. Used by ``rainstream convert`` only: models never read TensorFlow files at run time.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from rainstream.errors import CheckpointError
from rainstream.model.crc32c import crc32c, unmask

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5  # compression type + masked CRC-32C

# TensorFlow DataType enum values -> numpy dtypes (little-endian); others are named in errors only.
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2",
           19: "<f2", 22: "<u4", 23: "<u8"}
_OTHER_DTYPES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource", 21: "variant"}
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")
# What a training Saver stores besides the model: optimiser slots (``<var>/Adam``, ``<var>/Adam_1``,
# ``<var>/Momentum``...), Adam's step powers and the global step.
_OPTIMIZER_STATE = re.compile(r"(^|/)(beta[12]_power|global_step)$|/(Adam|Adam_\d+|Momentum|RMSProp(_\d+)?|Adagrad)$")


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives: the decoded ``BundleEntryProto``."""

    name: str
    dtype: str  # numpy dtype string, or the TensorFlow name of an unsupported type
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int  # unmasked
    sliced: bool  # a partitioned variable, stored as slices under other keys

    @property
    def readable(self) -> bool:
        return self.dtype not in _OTHER_DTYPES.values() and not self.sliced


def is_optimizer_state(name: str) -> bool:
    """Whether a checkpoint variable is training state rather than part of the model."""
    return bool(_OPTIMIZER_STATE.search(name))


# --- protocol buffers: just the wire format (varints, fixed widths, length-delimited) -------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a serialised message; varints and fixed widths as ints."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf message")
        yield number, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shape(message: bytes) -> tuple[int, ...]:
    dims = []
    for number, dim in _fields(message):
        if number == 2:  # TensorShapeProto.dim
            dims.append(next((_signed64(v) for n, v in _fields(dim) if n == 1), 0))
        elif number == 3 and dim:
            raise ValueError("tensor of unknown rank")
    return tuple(dims)


def _entry(name: str, message: bytes) -> TensorEntry:
    values: dict[str, int | bytes] = {}
    sliced = False
    for number, value in _fields(message):
        if number == 7:
            sliced = True
        else:
            values[{1: "dtype", 2: "shape", 3: "shard", 4: "offset", 5: "size", 6: "crc"}.get(number, "")] = value
    code = int(values.get("dtype", 0))
    dtype = _DTYPES.get(code) or _OTHER_DTYPES.get(code, f"dtype {code}")
    return TensorEntry(name=name, dtype=dtype, shape=_shape(bytes(values.get("shape", b""))),
                       shard=int(values.get("shard", 0)), offset=int(values.get("offset", 0)),
                       size=int(values.get("size", 0)), crc32c=unmask(int(values.get("crc", 0))), sliced=sliced)


# --- the LevelDB table of the .index file ---------------------------------------------------------

def _block(data: bytes, handle: bytes) -> bytes:
    """The contents of the block a ``BlockHandle`` (offset, size varints) points to, CRC-checked."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    end = offset + size + _BLOCK_TRAILER_BYTES
    if end > len(data):
        raise ValueError("block beyond the end of the file")
    contents, kind = data[offset:offset + size], data[offset + size]
    stored = int.from_bytes(data[offset + size + 1:end], "little")
    if crc32c(data[offset:offset + size + 1]) != unmask(stored):
        raise ValueError(f"CRC mismatch in the index block at byte {offset}")
    if kind != 0:
        raise ValueError(f"compressed index block (type {kind}); only uncompressed tables are supported")
    return contents


def _block_items(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Key/value pairs of a block; each key shares a prefix with the one before it."""
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + length]
        pos += length


def _table_items(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(data) < _FOOTER_BYTES or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (no table footer)")
    footer = data[-_FOOTER_BYTES:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    for _, handle in _block_items(_block(data, footer[pos:])):
        yield from _block_items(_block(data, handle))


# --- the checkpoint -------------------------------------------------------------------------------

def resolve_prefix(path: str | Path) -> Path:
    """The checkpoint prefix for any way of naming it: the prefix itself, its ``.index`` or
    ``.data-*`` file, or a folder holding a TensorFlow ``checkpoint`` file or a single ``.index``."""
    path = Path(path)
    if path.is_dir():
        pointer = path / "checkpoint"
        if pointer.is_file():
            found = re.search(r'^model_checkpoint_path:\s*"(.*)"', pointer.read_text(errors="replace"), re.M)
            if found:
                return path / found.group(1)
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return indexes[0].with_suffix("")
        raise CheckpointError(f"{path} is a folder with {len(indexes)} TensorFlow checkpoints (*.index); "
                              "name the one to use")
    if path.suffix == ".index":
        return path.with_suffix("")
    return path.with_name(_DATA_SUFFIX.sub("", path.name))


def is_tf_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` names a TensorFlow V2 checkpoint (its ``.index`` file exists)."""
    try:
        prefix = resolve_prefix(path)
    except CheckpointError:
        return Path(path).is_dir()  # a folder of several checkpoints: still ours to complain about
    return Path(f"{prefix}.index").is_file()


class TFCheckpoint:
    """The variables of a TensorFlow checkpoint: ``entries`` by name, ``read(name)`` as numpy."""

    def __init__(self, path: str | Path):
        self.prefix = resolve_prefix(path)
        index = Path(f"{self.prefix}.index")
        if not index.is_file():
            raise CheckpointError(f"no TensorFlow checkpoint at {path}: {index} not found")
        self.entries: dict[str, TensorEntry] = {}
        self.shards = 1
        try:
            for key, value in _table_items(index.read_bytes()):
                if key == b"":
                    self._header(value)
                else:
                    name = key.decode("utf-8", errors="replace")
                    self.entries[name] = _entry(name, value)
        except (ValueError, struct.error, IndexError) as exc:
            raise CheckpointError(f"cannot read TensorFlow checkpoint index {index}: {exc}") from None

    def _header(self, message: bytes) -> None:
        for number, value in _fields(message):
            if number == 1:
                self.shards = int(value)
            elif number == 2 and value:
                raise ValueError("big-endian checkpoint")

    def shard_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.shards:05d}")

    def read(self, name: str) -> np.ndarray:
        """One variable as a numpy array, after checking its bytes against the stored CRC-32C."""
        entry = self.entries[name]
        if not entry.readable:
            what = "a partitioned variable" if entry.sliced else f"of type {entry.dtype}"
            raise CheckpointError(f"{name} in {self.prefix} is {what}, which the converter does not read")
        path = self.shard_path(entry.shard)
        try:
            with open(path, "rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.size)
        except OSError as exc:
            raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
        expected = int(np.prod(entry.shape, dtype=np.int64)) * np.dtype(entry.dtype).itemsize
        if len(raw) != entry.size or entry.size != expected:
            raise CheckpointError(f"{path} is truncated or does not match its index at {name} "
                                  f"({len(raw)} bytes read, {expected} expected)")
        if crc32c(raw) != entry.crc32c:
            raise CheckpointError(f"{path} is corrupt: CRC-32C mismatch for {name}")
        return np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape).copy()


def read_tf_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The model variables of a TensorFlow checkpoint as tensors, under their TensorFlow names and in
    TensorFlow's layouts (floats as float32); optimiser state and non-numeric entries are left out."""
    checkpoint = TFCheckpoint(path)
    state = {}
    for name, entry in checkpoint.entries.items():
        if entry.readable and not is_optimizer_state(name):
            tensor = torch.from_numpy(checkpoint.read(name))
            state[name] = tensor.float() if tensor.is_floating_point() else tensor
    if not state:
        raise CheckpointError(f"TensorFlow checkpoint {checkpoint.prefix} holds no model variables")
    return state
