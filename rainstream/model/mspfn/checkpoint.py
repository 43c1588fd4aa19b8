"""The released MSPFN TensorFlow checkpoint <-> our state dict.

TensorFlow names variables by scope (``generator/BCM2_3/group_4_RCAB1/conv2d_2/alpha``); one table,
generated here for any number of fusion iterations, maps each of our layers to its scope, and a
per-layer-kind list maps the variables inside it. Every 4-D filter goes from TensorFlow's layout to
PyTorch's by the same ``permute(3, 2, 0, 1)``: convolutions are ``[kh, kw, in, out]`` -> ``[out, in,
kh, kw]``, and transposed convolutions ``[kh, kw, out, in]`` -> ``[in, out, kh, kw]`` (no flip), so
the layout never has to be guessed from the name (both kinds are called ``weight`` there).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterator, Mapping

import torch

from rainstream.errors import CheckpointError
from rainstream.model.mspfn.config import MSPFNConfig
from rainstream.model.mspfn.network import SCALES

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
