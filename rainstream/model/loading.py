"""Build any registered network, fill it from a weights file (official .pth or our .safetensors), list the zoo."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from loguru import logger
from torch import nn

from rainstream.devices import resolve_device
from rainstream.errors import CheckpointError, RainstreamError
from rainstream.model.checkpoint import read_state_dict
from rainstream.model.registry import (ARCHITECTURES, DEFAULT_MODEL, Architecture, all_variants, architecture_of,
                                       detect, resolve)


def build_model(name: str | Any = DEFAULT_MODEL, dim: int | None = None) -> nn.Module:
    """A freshly initialised network for a model name or config, optionally at another width."""
    arch, _, cfg = resolve(name)
    return arch.build(cfg.with_dim(dim) if dim else cfg)


def _summarise(keys: list[str], official, limit: int = 4) -> str:
    shown = ", ".join(official(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy ``state`` (our names) into ``model`` strictly; a mismatch is one line naming the keys the
    official way."""
    arch = architecture_of(model)
    official = arch.to_official if arch else (lambda k: k)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_summarise(missing, official)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_summarise(unexpected, official)}")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} keys of the wrong shape, e.g. {official(k)} "
                        f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}")
    if problems:
        size = f"dim {model.config.dim}" if hasattr(model.config, "dim") else str(model.config)
        what = f"{arch.title} ({size})" if arch else type(model).__name__
        raise CheckpointError(f"{source} does not fit {what}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def identify(state: dict[str, torch.Tensor], source: str, name: str | Any = None,
             metadata: dict[str, str] | None = None) -> tuple[Architecture, Any]:
    """The architecture of an (unwrapped, official- or our-named) state dict, and the config to read
    its size onto: the named one (a file of another architecture is refused), else the config a
    project file records in its metadata, else the architecture's default variant."""
    found = detect(state)
    if len(found) > 1:
        raise CheckpointError(f"{source} matches several architectures ({', '.join(a.name for a in found)}); "
                              "name the model")
    keys = ", ".join(list(state)[:3])
    if name is None:
        if not found:
            raise CheckpointError(f"{source} is not a checkpoint of a known architecture "
                                  f"({', '.join(ARCHITECTURES)}); its first keys: {keys}")
        arch = found[0]
        recorded = (metadata or {}).get("config") if (metadata or {}).get("architecture") == arch.name else None
        try:
            return arch, arch.config_type.from_dict(json.loads(recorded)) if recorded else arch.variants[
                arch.default_variant]
        except (ValueError, TypeError, RainstreamError) as exc:
            raise CheckpointError(f"{source}: its metadata does not describe a {arch.title} config ({exc})") from None
    arch, _, base = resolve(name)
    if not found:
        raise CheckpointError(f"{source} is not a {arch.title} checkpoint (nor of another known architecture); "
                              f"its first keys: {keys}")
    if found[0] is not arch:
        raise CheckpointError(f"{source} is a {found[0].title} checkpoint, not {arch.title} as model "
                              f"{_shown(name)!r} needs; leave the model name out to load it as {found[0].name}")
    return arch, base


def _shown(name: str | Any) -> str:
    return name if isinstance(name, str) else type(name).__name__


def load_weights(weights: str | Path, name: str | Any = None) -> nn.Module:
    """The network a weights file describes, filled from it (on the CPU, train mode as built)."""
    state, metadata = read_state_dict(weights)
    model = model_from_state(state, str(weights), name, metadata)
    model.weights_source = str(weights)  # named by the engine if the model's output goes non-finite
    return model


def model_from_state(state: dict[str, torch.Tensor], source: str, name: str | Any = None,
                     metadata: dict[str, str] | None = None) -> nn.Module:
    """The network an unwrapped state dict (official or our names) describes, filled from it."""
    arch, base = identify(state, source, name, metadata)
    state = arch.to_ours(state)
    try:
        config = arch.config_from_state(state, base)
    except (KeyError, IndexError, ValueError) as exc:
        raise CheckpointError(f"{source}: cannot read the {arch.title} size from it ({type(exc).__name__}: "
                              f"{exc})") from None
    model = arch.build(config)
    load_state(model, state, source=source)
    logger.debug(f"loaded {source} as {arch.title}: {config}")
    return model


def load_model(name: str | Any = None, weights: str | Path | None = None,
               device: str | torch.device = "cpu") -> nn.Module:
    """A deraining network in eval mode on ``device``.

    ``name``: a model name (``list_models()``), an architecture name (its default variant) or a config
    dataclass (e.g. the ``model.architecture`` section of a YAML config). ``weights``: an official
    checkpoint (``{'params' | 'params_ema' | 'state_dict': ...}`` or bare, ``module.`` prefixes or not)
    or a project safetensors file. With weights and no name, the architecture and its size are read
    from the file; with a name, the size still comes from the file but a file of another architecture
    is refused. Without weights: the bundled default weights of that variant when they exist (sha256
    checked), else the untrained network, with a warning.
    """
    from rainstream.model.defaults import default_weights

    if weights is None:
        arch, variant, cfg = resolve(DEFAULT_MODEL if name is None else name)
        weights = default_weights(variant) if variant else None
        if weights is None:
            logger.warning(f"no weights given and none bundled for {variant or cfg}: the model is UNTRAINED "
                           "(random weights); give `weights`")
            return arch.build(cfg).eval().to(resolve_device(device))
        logger.info(f"using the bundled default weights {weights}")
    return load_weights(weights, name).eval().to(resolve_device(device))


@dataclass(frozen=True)
class ModelInfo:
    """One registered model, as ``list_models()`` and ``rainstream models`` show it."""

    name: str
    architecture: str
    title: str
    is_default: bool  # what the architecture's name means
    parameters: int
    bundled_weights: bool
    config: Any
    size_multiple: int
    default_tile: int
    default_overlap: int
    weights: str
    licence: str


def count_parameters(config: Any) -> int:
    """Parameters of the network a config describes, built on the meta device (no memory, no init)."""
    arch, _, _ = resolve(config)
    with torch.device("meta"):
        model = arch.build(config)
    return sum(p.numel() for p in model.parameters())


def list_models() -> list[ModelInfo]:
    """Every registered model name with its architecture, size and where its weights come from."""
    from rainstream.model.defaults import DEFAULT_WEIGHTS

    return [ModelInfo(name=name, architecture=arch.name, title=arch.title, is_default=name == arch.default_variant,
                      parameters=count_parameters(cfg), bundled_weights=name in DEFAULT_WEIGHTS, config=cfg,
                      size_multiple=arch.size_multiple, default_tile=arch.default_tile,
                      default_overlap=arch.default_overlap, weights=arch.weights, licence=arch.licence)
            for name, (arch, cfg) in all_variants().items()]
