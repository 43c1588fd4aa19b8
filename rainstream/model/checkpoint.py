"""Official NeRD-Rain checkpoint names <-> ours, and reading/writing weight files.

The reference names every module flat (``encoder_level1_mid2``, ``down1_2_max``...), with the
first UNet of a scale sometimes numbered and sometimes not. One table built here maps each
official top-level module to our nested path; a few suffix rules cover the wrapper modules the
reference adds inside blocks (``.body.``, ``.main.0.``, ``.proj.``).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from rainstream.errors import CheckpointError

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

# Inner renames, applied to the part after the top-level module (official -> ours).
INNER_RULES = [
    (re.compile(r"\.norm([12])\.body\."), r".norm\1."),
    (re.compile(r"\.(qkv_dwconv|dwconv)\.main\.0\."), r".\1."),
    (re.compile(r"^body\.0\."), "0."),  # Downsample / Upsample wrappers
    (re.compile(r"^proj\."), ""),  # patch embedding wrapper
]


def _module_table() -> dict[str, str]:
    """Official top-level module name -> our module path (without trailing dot)."""
    table: dict[str, str] = {}
    for s, (tag, unets) in enumerate(zip(SCALE_TAGS, UNETS_PER_SCALE)):
        branch = f"scales.{s}"
        table[f"patch_embed_{tag}"] = f"{branch}.patch_embed"
        table[f"output_{tag}"] = f"{branch}.output"
        for u in range(unets):
            for ours, (stem, numbered_first) in UNET_PARTS.items():
                if unets == 1 or (u == 0 and not numbered_first):
                    suffix = ""
                else:
                    suffix = str(u + 1)
                table[f"{stem}_{tag}{suffix}"] = f"{branch}.unets.{u}.{ours}"
        for c in range(unets - 1):
            table[f"output_{tag}_context" + (str(c + 1) if unets > 2 else "")] = f"{branch}.contexts.{c}"
    table["INR"], table["INR2"] = "scales.0.inr", "scales.1.inr"
    for s, src, dst in ((0, "small", "mid"), (1, "mid", "max")):
        for i in (1, 2):
            table[f"up{src}2{dst}{i}"] = f"scales.{s}.inr_lift.{i - 1}"
    # BF1, BF2 fuse the full-scale latents; BF3 the half-scale ones.
    table["BF1"], table["BF2"], table["BF3"] = "scales.2.fusions.0", "scales.2.fusions.1", "scales.1.fusions.0"
    return table


_OFFICIAL_TO_OURS = _module_table()
_OURS_TO_OFFICIAL = {v: k for k, v in _OFFICIAL_TO_OURS.items()}
_INVERSE_RULES = [
    (re.compile(r"\.norm([12])\."), r".norm\1.body."),
    (re.compile(r"\.(qkv_dwconv|dwconv)\."), r".\1.main.0."),
]


def official_to_ours(key: str) -> str:
    """Map one official state-dict key to ours (unknown keys are returned unchanged)."""
    top, _, rest = key.partition(".")
    if top not in _OFFICIAL_TO_OURS:
        return key
    for pattern, repl in INNER_RULES:
        rest = pattern.sub(repl, rest)
    return f"{_OFFICIAL_TO_OURS[top]}.{rest}"


def ours_to_official(key: str) -> str:
    """Map one of our state-dict keys to the official name."""
    for prefix, official in _OURS_TO_OFFICIAL.items():
        if key.startswith(prefix + "."):
            rest = key[len(prefix) + 1:]
            if official.startswith(("patch_embed", )):
                rest = "proj." + rest
            elif official.startswith(("down", "up")):
                rest = "body." + rest
            for pattern, repl in _INVERSE_RULES:
                rest = pattern.sub(repl, "." + rest)[1:]
            return f"{official}.{rest}"
    return key


def strip_wrappers(state: dict) -> dict[str, torch.Tensor]:
    """Unwrap ``{'state_dict': ...}`` (official training checkpoints) and ``module.`` prefixes
    (saved from DataParallel / DDP)."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def to_our_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept either naming: official keys are converted, ours pass through."""
    return {official_to_ours(k): v for k, v in state.items()}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or a PyTorch ``.pth``/``.pt`` file into our key names (float32)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one line, no traceback
        raise CheckpointError(f"cannot read weights {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return {k: v.float() if v.is_floating_point() else v for k, v in to_our_names(strip_wrappers(state)).items()}


def infer_dim(state: dict[str, torch.Tensor]) -> int:
    """The model width: output channels of the full-scale patch embedding."""
    key = "scales.2.patch_embed.weight"
    if key not in state:
        raise CheckpointError(f"not a NeRD-Rain checkpoint: no {ours_to_official(key)} / {key}")
    return int(state[key].shape[0])


def write_safetensors(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None,
                      half: bool = False) -> None:
    """Write our-named weights atomically (temporary name in the same folder, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    tmp = path.with_name(f".{path.name}.part")
    save_file(tensors, str(tmp), metadata=metadata or {})
    tmp.chmod(0o644)  # safetensors creates its file 0600; weights are meant to be shared
    tmp.replace(path)
