"""The TensorFlow checkpoint reader reads what TensorFlow writes, checks every byte, and fails in one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import reference_file
from tf_bundle_writer import write_bundle

from rainstream.errors import CheckpointError
from rainstream.model.crc32c import _update, crc32c, mask, unmask
from rainstream.model.tf_checkpoint import TFCheckpoint, is_optimizer_state, is_tf_checkpoint, resolve_prefix



@pytest.mark.parametrize("data, expected", [
    (b"", 0), (b"123456789", 0xE3069283), (bytes(32), 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),  # RFC 3720 (iSCSI) test vectors
])
def test_crc32c_known_values(data, expected):
    assert crc32c(data) == expected


@pytest.mark.parametrize("size", [65535, 65536, 200_003, 1 << 20])
def test_crc32c_lanes_equal_the_byte_loop(size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    assert crc32c(data) == _update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def test_crc_mask_round_trips():
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask(mask(value)) == value


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    values = {f"model/block{i}/{part}": rng.normal(size=(3, 3, 2, i + 1)).astype(np.float32)
              for i in range(4) for part in ("weight", "bias", "alpha")}
    values.update({"model/steps": np.arange(5, dtype=np.int64), "model/scale": np.array(2.5),
                   "model/half": np.ones(3, np.float16), "model/big": rng.normal(size=(300, 300)).astype(np.float32)})
    return values


def test_reads_every_tensor_across_prefix_compressed_blocks(tmp_path, tensors):
    prefix = write_bundle(tmp_path / "ck", tensors, entries_per_block=3, restart_interval=2)
    checkpoint = TFCheckpoint(prefix)
    assert set(checkpoint.entries) == set(tensors)
    for name, value in tensors.items():
        read = checkpoint.read(name)
        assert read.dtype == value.dtype and read.shape == value.shape
        np.testing.assert_array_equal(read, value)


@pytest.mark.parametrize("naming", ["prefix", "index", "data", "folder", "pointer"])
def test_any_way_of_naming_the_checkpoint_finds_it(tmp_path, tensors, naming):
    prefix = write_bundle(tmp_path / "run" / "epoch50", tensors)
    if naming == "pointer":  # TensorFlow's `checkpoint` file names the latest of several
        write_bundle(tmp_path / "run" / "epoch49", tensors)
        (tmp_path / "run" / "checkpoint").write_text('model_checkpoint_path: "epoch50"\n'
                                                     'all_model_checkpoint_paths: "epoch49"\n')
    path = {"prefix": prefix, "index": f"{prefix}.index", "data": f"{prefix}.data-00000-of-00001",
            "folder": prefix.parent, "pointer": prefix.parent}[naming]
    assert is_tf_checkpoint(path)
    assert resolve_prefix(path) == prefix


def test_a_pytorch_file_is_not_a_tf_checkpoint(tmp_path):
    (tmp_path / "weights.pth").write_bytes(b"PK\x03\x04")
    assert not is_tf_checkpoint(tmp_path / "weights.pth")
    assert not is_tf_checkpoint(tmp_path / "missing")


def test_corrupt_tensor_bytes_fail_their_crc(tmp_path, tensors):
    prefix = write_bundle(tmp_path / "ck", tensors)
    data = Path(f"{prefix}.data-00000-of-00001")
    entry = TFCheckpoint(prefix).entries["model/big"]
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 1000] ^= 0x10
    data.write_bytes(bytes(raw))
    checkpoint = TFCheckpoint(prefix)
    np.testing.assert_array_equal(checkpoint.read("model/steps"), tensors["model/steps"])  # others still read
    with pytest.raises(CheckpointError, match="CRC-32C mismatch for model/big") as err:
        checkpoint.read("model/big")
    assert "\n" not in str(err.value)


def test_truncated_data_file_is_one_error(tmp_path, tensors):
    prefix = write_bundle(tmp_path / "ck", tensors)
    data = Path(f"{prefix}.data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        TFCheckpoint(prefix).read("model/steps")


@pytest.mark.parametrize("damage", ["flip a byte", "garbage", "empty"])
def test_damaged_index_is_one_error(tmp_path, tensors, damage):
    prefix = write_bundle(tmp_path / "ck", tensors)
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    if damage == "flip a byte":
        raw[20] ^= 0x01
    elif damage == "garbage":
        raw = bytearray(b"not an index" * 10)
    else:
        raw = bytearray()
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="cannot read TensorFlow checkpoint index") as err:
        TFCheckpoint(prefix)
    assert "\n" not in str(err.value)


def test_missing_checkpoint_is_one_error(tmp_path):
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint"):
        TFCheckpoint(tmp_path / "nothing")


@pytest.mark.parametrize("name, optimiser", [
    ("generator/rnn1/weight/Adam", True), ("generator/rnn1/weight/Adam_1", True), ("beta1_power", True),
    ("beta2_power", True), ("MSPFN/global_step", True), ("global_step", True), ("model/w/Momentum", True),
    ("generator/rnn1/weight", False), ("generator/Adamantium/weight", False), ("generator/rnn1/alpha", False),
])
def test_optimiser_state_is_told_apart_from_the_model(name, optimiser):
    assert is_optimizer_state(name) is optimiser


def test_shared_mspfn_checkpoint_lists_every_variable_with_its_shape():
    expected = json.loads(reference_file("mspfn/mspfn_variables.json").read_text())
    checkpoint = TFCheckpoint(reference_file("mspfn/mspfn_m17n1_ref.index"))
    assert {n: e.shape for n, e in checkpoint.entries.items()} == {
        v["name"]: tuple(v["shape"]) for v in expected["variables"]}
    assert all(e.dtype == "<f4" and e.readable for e in checkpoint.entries.values())
    assert sum(int(np.prod(e.shape)) for e in checkpoint.entries.values()) == expected["total_parameters"]
