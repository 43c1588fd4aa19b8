"""Official DRSformer checkpoint names <-> ours, recognising a DRSformer state dict and reading its size.

The reference (BasicSR layout, ``{'params': state_dict}``) names its levels flat (``encoder_level2``,
``down2_3.body.0``, ``reduce_chan_level3``) and the MEFC cells ``encoder_level0`` / ``refinement``
with DARTS-style inner names (``layers.1._ops.2._ops.5.op.0``).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from rainstream.model.drsformer.config import DRSformerConfig
from rainstream.model.keymap import KeyMap

MODULES = {
    "patch_embed.proj": "patch_embed",
    "encoder_level0": "mefc_in",
    "latent": "latent",
    "refinement": "mefc_out",
    "output": "output",
    "reduce_chan_level2": "reduces.1",
    "reduce_chan_level3": "reduces.2",
    **{f"encoder_level{level}": f"encoders.{level - 1}" for level in (1, 2, 3)},
    **{f"decoder_level{level}": f"decoders.{level - 1}" for level in (1, 2, 3)},
    **{f"down{level}_{level + 1}.body": f"downs.{level - 1}" for level in (1, 2, 3)},
    **{f"up{level + 1}_{level}.body": f"ups.{level - 1}" for level in (1, 2, 3)},
}
FFN_CONVS = {"dwconv3x3": "scale_convs.0", "dwconv5x5": "scale_convs.1",
             "dwconv3x3_1": "fuse_convs.0", "dwconv5x5_1": "fuse_convs.1"}
FFN_CONVS_OFFICIAL = {ours: official for official, ours in FFN_CONVS.items()}

KEYMAP = KeyMap(
    modules=MODULES,
    inner=[
        (r"\.norm([12])\.body\.", r".norm\1."),
        (r"\.attn\.attn([1-4])$", lambda m: f".attn.mix.{int(m[1]) - 1}"),
        (r"\.ffn\.(dwconv[35]x[35](?:_1)?)\.", lambda m: f".ffn.{FFN_CONVS[m[1]]}."),
        (r"^\.layers\.0\.ca_fc\.", ".router.fc."),
        (r"^\.layers\.1\.preprocess\.op\.", ".preprocess."),
        (r"^\.layers\.1\._ops\.(\d+)\._ops\.(\d+)\.op\.", r".steps.\1.experts.\2."),
        (r"^\.layers\.1\._ops\.(\d+)\._out\.", r".steps.\1.fuse."),
    ],
    inner_inverse=[
        (r"\.norm([12])\.", r".norm\1.body."),
        (r"\.attn\.mix\.([0-3])$", lambda m: f".attn.attn{int(m[1]) + 1}"),
        (r"\.ffn\.((?:scale|fuse)_convs\.[01])\.", lambda m: f".ffn.{FFN_CONVS_OFFICIAL[m[1]]}."),
        (r"^\.router\.fc\.", ".layers.0.ca_fc."),
        (r"^\.preprocess\.", ".layers.1.preprocess.op."),
        (r"^\.steps\.(\d+)\.experts\.(\d+)\.", r".layers.1._ops.\1._ops.\2.op."),
        (r"^\.steps\.(\d+)\.fuse\.", r".layers.1._ops.\1._out."),
    ],
)

PATCH_EMBED = "patch_embed.weight"
SPARSE_MIX = "encoders.0.0.attn.mix.0"  # the top-k mix weights: what tells DRSformer from Restormer


def is_drsformer(state: dict[str, torch.Tensor]) -> bool:
    """A DRSformer state dict in either naming (wrappers and ``module.`` already stripped)."""
    return SPARSE_MIX in state or KEYMAP.to_official(SPARSE_MIX) in state


def config_from_state(state: dict[str, torch.Tensor], base: DRSformerConfig) -> DRSformerConfig:
    """``base`` with the width, blocks and heads per level and the MEFC cells of an our-named state dict."""
    stages = ("encoders.0", "encoders.1", "encoders.2", "latent")
    blocks = tuple(sum(k.startswith(s + ".") and k.endswith(".attn.temperature") for k in state) for s in stages)
    heads = tuple(state[f"{s}.0.attn.temperature"].shape[0] for s in stages if f"{s}.0.attn.temperature" in state)
    found: dict = {"dim": int(state[PATCH_EMBED].shape[0]), "mefc": any(k.startswith("mefc_in.") for k in state)}
    if found["mefc"]:
        found["mefc_steps"] = len({k.split(".")[2] for k in state if k.startswith("mefc_in.steps.")})
    if all(blocks):
        found["num_blocks"] = blocks
    if len(heads) == len(stages):
        found["heads"] = heads
    return replace(base, **found)
