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
    if Path(dst).suffix != ".safetensors":
        raise RainstreamError(f"output must end in .safetensors: {dst}")
    if is_tf_checkpoint(src):  # MSPFN's official weights; read here only, never at run time
        model = model_from_state(read_tf_state_dict(src), str(src), name)
    else:
        model = load_weights(src, name)
    write_safetensors(model.state_dict(), dst, metadata=safetensors_metadata(model, Path(src).name), half=half)
    back = load_weights(dst)
    expected = model.state_dict()
    if back.config != model.config or any(
            not torch.equal(v, expected[k].half().float() if half and v.is_floating_point() else expected[k])
            for k, v in back.state_dict().items()):
        Path(dst).unlink(missing_ok=True)
        raise CheckpointError(f"{dst} did not read back as written; removed it")
    return model
