"""The released MSPFN TensorFlow checkpoint <-> our state dict.

TensorFlow names variables by scope (``generator/BCM2_3/group_4_RCAB1/conv2d_2/alpha``); one table,
generated here for any number of fusion iterations, maps each of our layers to its scope, and a
per-layer-kind list maps the variables inside it. Every 4-D filter goes from TensorFlow's layout to
PyTorch's by the same ``permute(3, 2, 0, 1)``: convolutions are ``[kh, kw, in, out]`` -> ``[out, in,
kh, kw]``, and transposed convolutions ``[kh, kw, out, in]`` -> ``[in, out, kh, kw]`` (no flip), so
the layout never has to be guessed from the name (both kinds are called ``weight`` there).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

import torch

from rainstream.errors import CheckpointError
from rainstream.model.mspfn.config import MSPFNConfig
from rainstream.model.mspfn.network import SCALES, MSPFN
from rainstream.model.tf_checkpoint import TFCheckpoint, is_optimizer_state

SCOPE = "generator"
MARKER = f"{SCOPE}/rnn7/weight"  # the rain-layer filter: present in every MSPFN graph's checkpoint
OURS_MARKER = "reconstruction.rain.weight"

# Variables inside each kind of layer: (our parameter, TensorFlow variable) relative to the layer.
_CONV = (("weight", "weight"), ("prelu.weight", "alpha"))  # conv_layer / deconv_layer + prelu
_LINEAR = (("weight", "weight"),)  # the last deconv_layer, no activation
_CELL = (("conv.weight", "convLSTM/LSTM_conv/weights"), ("conv.bias", "convLSTM/LSTM_conv/biases"))
_RCAB = (("conv1.weight", "conv2d/kernel"), ("conv1.bias", "conv2d/bias"), ("act1.weight", "conv2d/alpha"),
         ("conv2.weight", "conv2d_1/kernel"), ("conv2.bias", "conv2d_1/bias"),
         ("squeeze.weight", "conv2d_2/kernel"), ("squeeze.bias", "conv2d_2/bias"),
         ("act2.weight", "conv2d_2/alpha"),
         ("excite.weight", "conv2d_3/kernel"), ("excite.bias", "conv2d_3/bias"))

# The reference tags scales by their down-scaling factor: rain4, BCM2_n, rnn_recon (full: none).
_TAG = {"coarse": "4", "middle": "2", "fine": ""}
_STEM = {"coarse": "rnn4", "middle": "rnn2", "fine": "rnn1"}


def _layers(iterations: int) -> Iterator[tuple[str, str, tuple]]:
    """(our module path, TensorFlow scope under ``generator/``, variables) for every layer."""
    for scale in SCALES:
        yield f"stem.{scale}", _STEM[scale], _CONV
    for scale in SCALES:
        tag, branch = _TAG[scale], f"memory.branches.{scale}"
        yield f"{branch}.to_cell", f"residual_memory/rain{tag}_res1", _CONV
        yield f"{branch}.cell", f"residual_memory/lstm_group{tag}", _CELL
        yield f"{branch}.from_cell", f"residual_memory/rain{tag}_res2", _CONV
    yield "memory.up.coarse_to_middle", "residual_memory/upRMM4_2", _CONV
    yield "memory.up.coarse_to_fine", "residual_memory/upRMM4_1", _CONV
    yield "memory.up.middle_to_fine", "residual_memory/upRMM2_1", _CONV
    for n in range(iterations):
        # Quirk of the reference: the inner scopes count from 1, the upsampling scopes from 0.
        for scale in SCALES:
            tag, stage = _TAG[scale], f"fusion.{n}.stages.{scale}"
            yield f"{stage}.down", f"BCM{tag}_{n}/down{tag}_{n + 1}", _CONV
            yield f"{stage}.rcab", f"BCM{tag}_{n}/group_{n + 1}_RCAB1", _RCAB
            yield f"{stage}.up", f"BCM{tag}_{n}/up_{n + 1}", _CONV
        yield f"fusion.{n}.up.coarse_to_middle", f"BCM2_{n}/upBCM4_2_{n}", _CONV
        yield f"fusion.{n}.up.coarse_to_fine", f"BCM_{n}/upBCM4to1_{n}", _CONV
        yield f"fusion.{n}.up.middle_to_fine", f"BCM_{n}/upBCM2to1_{n}", _CONV
    for scale in SCALES:
        yield f"reconstruction.merge.{scale}", f"rnn_recon{_TAG[scale]}", _CONV
    yield "reconstruction.coarse_to_middle", "up4_2", _CONV
    yield "reconstruction.middle_to_fine", "up2_1", _CONV
    yield "reconstruction.fuse", "rnn5", _CONV
    yield "reconstruction.rain", "rnn7", _LINEAR


@lru_cache(maxsize=8)
def official_names(iterations: int) -> dict[str, str]:
    """Our parameter name -> TensorFlow variable name, for a graph with ``iterations`` fusion iterations."""
    return {f"{path}.{ours}": f"{SCOPE}/{scope}/{theirs}"
            for path, scope, variables in _layers(iterations) for ours, theirs in variables}


def _iterations_in(keys, pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def to_official(key: str) -> str:
    """One of our keys in TensorFlow's naming (unknown keys unchanged)."""
    match = re.match(r"fusion\.(\d+)\.", key)
    return official_names(int(match.group(1)) + 1 if match else 0).get(key, key)


def to_ours(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in TensorFlow's names and layouts (or already ours) -> ours.

    Variables this graph does not have keep their names, so loading reports them.
    """
    iterations = _iterations_in(state, rf"{SCOPE}/BCM4_(\d+)/")
    ours_of = {theirs: ours for ours, theirs in official_names(iterations).items()}
    converted = {}
    for key, value in state.items():
        if key in ours_of:
            key, value = ours_of[key], value.permute(3, 2, 0, 1).contiguous() if value.dim() == 4 else value
        converted[key] = value
    return converted


def detect(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict, in TensorFlow's naming or ours, is an MSPFN's."""
    return MARKER in state or (OURS_MARKER in state and "memory.branches.fine.cell.conv.weight" in state)


def config_from_state(state: Mapping[str, torch.Tensor], base: MSPFNConfig | None = None) -> MSPFNConfig:
    """The width (``dim``) and iteration count of an our-named MSPFN state dict (the RCAB reduction
    from ``base`` when there is no fusion iteration to read it from)."""
    base = base or MSPFNConfig()
    if "stem.fine.weight" not in state:
        raise CheckpointError("not an MSPFN state dict: no stem.fine.weight (generator/rnn1/weight)")
    dim = int(state["stem.fine.weight"].shape[1])
    iterations = _iterations_in(state, r"fusion\.(\d+)\.")
    squeeze = state.get("fusion.0.stages.coarse.rcab.squeeze.weight")
    reduction = dim // int(squeeze.shape[0]) if squeeze is not None else base.reduction
    try:
        return MSPFNConfig(dim=dim, iterations=iterations, reduction=reduction)
    except ValueError as exc:
        raise CheckpointError(f"not a valid MSPFN state dict: {exc}") from None


def read_tf_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model variables of an MSPFN TensorFlow checkpoint (TensorFlow names and layouts), without
    optimiser state. A checkpoint of another network is one error naming what it holds."""
    checkpoint = TFCheckpoint(path)
    names = sorted(n for n in checkpoint.entries if not is_optimizer_state(n))
    if MARKER not in names:
        shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
        raise CheckpointError(f"{checkpoint.prefix} is a TensorFlow checkpoint of another network, not MSPFN: "
                              f"{len(names)} variables ({shown or 'none'}), no {MARKER}")
    return {name: torch.from_numpy(checkpoint.read(name)).float() for name in names}


def _summarise(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(to_official(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_state(model: MSPFN, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy an our-named ``state`` into ``model`` strictly; a mismatch is one line naming the
    variables the TensorFlow way."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_summarise(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_summarise(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} of the wrong shape, e.g. {to_official(wrong[0])} "
                        f"{tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}")
    if problems:
        cfg = model.config
        raise CheckpointError(f"{source} does not fit MSPFN ({cfg.iterations} iterations, dim {cfg.dim}"
                              "): " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_tf_checkpoint(path: str | Path) -> MSPFN:
    """The MSPFN a TensorFlow checkpoint describes (size read from it), filled from it, on the CPU."""
    state = to_ours(read_tf_checkpoint(path))
    model = MSPFN(config_from_state(state))
    load_state(model, state, source=str(path))
    return model


def convert_tf_checkpoint(src: str | Path, dst: str | Path, half: bool = False) -> MSPFN:
    """Write the MSPFN of TensorFlow checkpoint ``src`` to safetensors ``dst`` (our names and layouts),
    only once it has loaded into the network it describes, and check the file reads back the same."""
    from safetensors.torch import load_file

    from rainstream.model.checkpoint import write_safetensors

    model = load_tf_checkpoint(src)
    cfg = model.config
    metadata = {"format": "rainstream", "architecture": "mspfn", "source": Path(str(src)).name,
                "config": json.dumps({"dim": cfg.dim, "iterations": cfg.iterations, "reduction": cfg.reduction})}
    write_safetensors(model.state_dict(), dst, metadata=metadata, half=half)
    written = model.state_dict()
    back = load_file(str(dst))
    if set(back) != set(written) or any(not torch.equal(back[k], written[k].to(back[k].dtype)) for k in back):
        Path(dst).unlink(missing_ok=True)
        raise CheckpointError(f"{dst} did not read back as written; removed it")
    return model
