"""Official NeRD-Rain checkpoint names <-> ours, recognising a NeRD-Rain state dict and reading its size.

The reference names every module flat (``encoder_level1_mid2``, ``down1_2_max``...), with the first
UNet of a scale sometimes numbered and sometimes not. One table built here maps each official
top-level module (with its ``.proj`` / ``.body`` wrapper) to our nested path; two inner rules cover
the wrappers inside blocks (``norm.body``, ``dwconv.main.0``).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from rainstream.model.keymap import KeyMap
from rainstream.model.nerd_rain.config import NeRDRainConfig

SCALE_TAGS = ("small", "mid", "max")
UNETS_PER_SCALE = (1, 2, 3)

# our UNet attribute -> (official stem, whether the first UNet of mid/max carries the number 1)
UNET_PARTS = {
    "encoder1": ("encoder_level1", True), "down1": ("down1_2", False),
    "encoder2": ("encoder_level2", True), "down2": ("down2_3", False),
    "latent": ("latent", True), "up2": ("up3_2", False),
    "reduce2": ("reduce_chan_level2", True), "decoder2": ("decoder_level2", True),
    "up1": ("up2_1", False), "reduce1": ("reduce_chan_level1", True),
    "decoder1": ("decoder_level1", True),
}


def _module_table() -> dict[str, str]:
    """Official top-level module name (with its wrapper) -> our module path."""
    table: dict[str, str] = {}
    for s, (tag, unets) in enumerate(zip(SCALE_TAGS, UNETS_PER_SCALE)):
        branch = f"scales.{s}"
        table[f"patch_embed_{tag}.proj"] = f"{branch}.patch_embed"
        table[f"output_{tag}"] = f"{branch}.output"
        for u in range(unets):
            for ours, (stem, numbered_first) in UNET_PARTS.items():
                suffix = "" if unets == 1 or (u == 0 and not numbered_first) else str(u + 1)
                wrapper = ".body" if stem.startswith(("down", "up")) else ""  # Downsample / Upsample
                table[f"{stem}_{tag}{suffix}{wrapper}"] = f"{branch}.unets.{u}.{ours}"
        for c in range(unets - 1):
            table[f"output_{tag}_context" + (str(c + 1) if unets > 2 else "")] = f"{branch}.contexts.{c}"
    table["INR"], table["INR2"] = "scales.0.inr", "scales.1.inr"
    for s, src, dst in ((0, "small", "mid"), (1, "mid", "max")):
        for i in (1, 2):
            table[f"up{src}2{dst}{i}.body"] = f"scales.{s}.inr_lift.{i - 1}"
    # BF1, BF2 fuse the full-scale latents; BF3 the half-scale ones.
    table["BF1"], table["BF2"], table["BF3"] = "scales.2.fusions.0", "scales.2.fusions.1", "scales.1.fusions.0"
    return table


KEYMAP = KeyMap(
    modules=_module_table(),
    inner=[(r"\.norm([12])\.body\.", r".norm\1."), (r"\.(qkv_dwconv|dwconv)\.main\.0\.", r".\1.")],
    inner_inverse=[(r"\.norm([12])\.", r".norm\1.body."), (r"\.(qkv_dwconv|dwconv)\.", r".\1.main.0.")],
)
official_to_ours = KEYMAP.to_ours
ours_to_official = KEYMAP.to_official
to_our_names = KEYMAP.convert

PATCH_EMBED = "scales.2.patch_embed.weight"  # official: patch_embed_max.proj.weight


def is_nerd_rain(state: dict[str, torch.Tensor]) -> bool:
    """A NeRD-Rain state dict in either naming (wrappers and ``module.`` already stripped)."""
    return PATCH_EMBED in state or ours_to_official(PATCH_EMBED) in state


def config_from_state(state: dict[str, torch.Tensor], base: NeRDRainConfig) -> NeRDRainConfig:
    """``base`` with the width, blocks per level and heads of an our-named state dict."""
    unet = "scales.2.unets.0"
    levels = ("encoder1", "encoder2", "latent")
    blocks = tuple(len({k.split(".")[5] for k in state if k.startswith(f"{unet}.{part}.")}) for part in levels)
    heads = tuple(state[f"{unet}.{part}.0.attn.temperature"].shape[0] for part in levels
                  if f"{unet}.{part}.0.attn.temperature" in state)
    found = {"dim": int(state[PATCH_EMBED].shape[0])}
    if all(blocks):
        found["num_blocks"] = blocks
    if len(heads) == len(levels):
        found["heads"] = heads
    return replace(base, **found)
