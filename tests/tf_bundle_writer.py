"""Write TensorFlow V2 checkpoints (tensor bundles) for tests, the way TensorFlow lays them out.

Only for making test data: a checkpoint of another network, a corrupted one, keys spread over several
prefix-compressed blocks. The reader is checked against TensorFlow itself on the shared fixture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rainstream.model.crc32c import crc32c, mask

DTYPE_CODES = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("uint8"): 4,
               np.dtype("int64"): 9, np.dtype("float16"): 19}
MAGIC = 0xDB4775248B80FB57


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def entry_proto(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc: int) -> bytes:
    shape_proto = b"".join(field(2, field(1, d)) for d in shape)
    return (field(1, dtype) + field(2, shape_proto) + (field(4, offset) if offset else b"") + field(5, size)
            + varint(6 << 3 | 5) + mask(crc).to_bytes(4, "little"))


def block(items: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_interval:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    for offset in restarts or [0]:
        out += offset.to_bytes(4, "little")
    return bytes(out + len(restarts or [0]).to_bytes(4, "little"))


def write_bundle(prefix: str | Path, tensors: dict[str, np.ndarray], entries_per_block: int = 3,
                 restart_interval: int = 2) -> Path:
    """Write ``prefix.index`` and ``prefix.data-00000-of-00001``; returns the prefix."""
    prefix = Path(prefix)
    data, items = bytearray(), [(b"", field(1, 1) + field(3, field(1, 1)))]  # header: 1 shard, version 1
    for name in sorted(tensors):
        array = np.array(tensors[name], order="C")  # (ascontiguousarray would make a scalar 1-d)
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        items.append((name.encode(), entry_proto(DTYPE_CODES[array.dtype], array.shape, len(data), len(raw),
                                                 crc32c(raw))))
        data += raw
    table, index_items = bytearray(), []

    def append_block(contents: bytes) -> bytes:
        handle = varint(len(table)) + varint(len(contents))
        table.extend(contents + b"\0" + mask(crc32c(contents + b"\0")).to_bytes(4, "little"))
        return handle

    for start in range(0, len(items), entries_per_block):
        chunk = items[start:start + entries_per_block]
        index_items.append((chunk[-1][0], append_block(block(chunk, restart_interval))))
    metaindex = append_block(block([], 1))
    index = append_block(block(index_items, 1))
    footer = (metaindex + index).ljust(40, b"\0") + MAGIC.to_bytes(8, "little")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.index").write_bytes(bytes(table + footer))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    return prefix


def tf_variables(state: dict, to_official) -> dict[str, np.ndarray]:
    """An our-named state dict as TensorFlow would hold it: official names, filters as [kh, kw, in, out]
    (conv) or [kh, kw, out, in] (transposed conv), which both are PyTorch's layout permuted (2, 3, 1, 0)."""
    return {to_official(k): (v.permute(2, 3, 1, 0) if v.dim() == 4 else v).detach().numpy() for k, v in state.items()}
