"""Build a NeRD-Rain and fill it from a weights file (official .pth or our .safetensors)."""
from __future__ import annotations

from pathlib import Path

import torch
from loguru import logger

from rainstream.devices import resolve_device
from rainstream.errors import CheckpointError
from rainstream.model.checkpoint import infer_dim, ours_to_official, read_weights
from rainstream.model.config import VARIANTS, NeRDRainConfig, variant_config
from rainstream.model.network import NeRDRain


def build_model(variant: str | NeRDRainConfig = "nerd_rain_s", dim: int | None = None) -> NeRDRain:
    """A freshly initialised network for a variant name or config, optionally at another width."""
    cfg = variant if isinstance(variant, NeRDRainConfig) else variant_config(variant)
    return NeRDRain(cfg.with_dim(dim) if dim else cfg)


def _summarise(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(ours_to_official(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_state(model: NeRDRain, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy ``state`` (our names) into ``model`` strictly; a mismatch is one line naming the keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_summarise(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_summarise(unexpected)}")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} keys of the wrong shape, e.g. {ours_to_official(k)} "
                        f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}")
    if problems:
        raise CheckpointError(f"{source} does not fit NeRD-Rain (dim {model.config.dim}): " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_model(variant: str | NeRDRainConfig = "nerd_rain_s", weights: str | Path | None = None,
               device: str | torch.device = "cpu") -> NeRDRain:
    """NeRD-Rain in eval mode on ``device``.

    ``weights`` is an official checkpoint (``{'state_dict': ...}`` or bare, ``module.`` prefixes or
    not) or a project safetensors file; the width is read from the weights, so either official
    file loads whichever variant name is given. ``None`` uses the project's default weights for
    the variant when they exist, else a freshly initialised (untrained) network. ``variant`` may
    also be a ``NeRDRainConfig`` (e.g. the ``model.architecture`` section of a YAML config).
    """
    from rainstream.model.defaults import default_weights

    cfg = variant if isinstance(variant, NeRDRainConfig) else variant_config(variant)
    name = next((k for k, v in VARIANTS.items() if v == cfg), None)
    if weights is None:
        weights = default_weights(name) if name else None
        if weights is None:
            logger.warning(f"no weights given and none bundled for {name or cfg}: the model is UNTRAINED "
                           "(random weights); give `weights`")
            return build_model(cfg).eval().to(resolve_device(device))
        logger.info(f"using the bundled default weights {weights}")
    state = read_weights(weights)
    model = build_model(cfg, dim=infer_dim(state))
    load_state(model, state, source=str(weights))
    return model.eval().to(resolve_device(device))
