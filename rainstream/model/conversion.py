"""Any supported checkpoint -> project safetensors, with the architecture and its config in the metadata."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from rainstream.errors import CheckpointError, RainstreamError
from rainstream.model.checkpoint import write_safetensors
from rainstream.model.loading import load_weights, model_from_state
from rainstream.model.registry import architecture_of
from rainstream.model.tf_checkpoint import is_tf_checkpoint, read_tf_state_dict


def safetensors_metadata(model: nn.Module, source: str) -> dict[str, str]:
    """What a project weights file says about itself (safetensors metadata is str -> str)."""
    arch = architecture_of(model)
    return {"format": "rainstream", "architecture": arch.name, "config": json.dumps(model.config.to_dict()),
            "source": source}


def convert_checkpoint(src: str | Path, dst: str | Path, half: bool = False, name=None) -> nn.Module:
    """Write ``src``'s weights under our names to ``dst`` and read them back to check; returns the model.

    ``src`` is a PyTorch / safetensors file or a TensorFlow checkpoint (prefix, ``.index`` or folder).

    The file is only written once the weights have loaded into the network they describe, and is
    checked by reading it back (same architecture, config and tensors).
    """
    _check_output(dst)
    model = _read_any(src, name)
    _write_checked(model, dst, Path(src).name, half)
    return model


def average_checkpoints(srcs: list[str | Path], dst: str | Path, half: bool = False, name=None) -> nn.Module:
    """Write the element-wise mean of several weight files of one architecture and size to ``dst``.

    Why: fine-tuning runs that start from the same weights can be averaged (a "weight soup"); the
    bundled default weights are one such mean (see rainstream/weights/nerd_rain_s.md)."""
    _check_output(dst)
    models = [_read_any(src, name) for src in srcs]
    first = models[0]
    for src, model in zip(srcs[1:], models[1:]):
        if architecture_of(model) is not architecture_of(first) or model.config != first.config:
            raise RainstreamError(f"cannot average {srcs[0]} ({architecture_of(first).name}, {first.config}) with "
                                  f"{src} ({architecture_of(model).name}, {model.config}): not the same network")
    states = [m.state_dict() for m in models]
    mean = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            mean[key] = sum(s[key].double() for s in states).div(len(states)).to(value.dtype)
        elif all(torch.equal(s[key], value) for s in states):
            mean[key] = value
        else:
            raise RainstreamError(f"cannot average {key}: an integer tensor that differs between the files")
    first.load_state_dict(mean)
    _write_checked(first, dst, " + ".join(Path(s).name for s in srcs), half)
    return first


def _check_output(dst: str | Path) -> None:
    if Path(dst).suffix != ".safetensors":
        raise RainstreamError(f"output must end in .safetensors: {dst}")


def _read_any(src: str | Path, name) -> nn.Module:
    if is_tf_checkpoint(src):  # MSPFN's official weights; read here only, never at run time
        return model_from_state(read_tf_state_dict(src), str(src), name)
    return load_weights(src, name)


def _write_checked(model: nn.Module, dst: str | Path, source: str, half: bool) -> None:
    write_safetensors(model.state_dict(), dst, metadata=safetensors_metadata(model, source), half=half)
    back = load_weights(dst)
    expected = model.state_dict()
    if back.config != model.config or any(
            not torch.equal(v, expected[k].half().float() if half and v.is_floating_point() else expected[k])
            for k, v in back.state_dict().items()):
        Path(dst).unlink(missing_ok=True)
        raise CheckpointError(f"{dst} did not read back as written; removed it")
