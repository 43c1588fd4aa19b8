"""The engine a run config asks for: the model (name, weights or architecture) inside a ``Derainer``."""
from __future__ import annotations

from rainstream.errors import RainstreamError
from rainstream.pipeline.config import RunConfig


def build_derainer(config: RunConfig):
    """Load the model on the CPU (the engine moves it to its device) and wrap it in a ``Derainer``."""
    from rainstream.engine import Derainer
    from rainstream.model import load_model

    m = config.model
    try:
        if m.architecture:
            from rainstream.model import NeRDRainConfig

            target = NeRDRainConfig.from_dict(m.architecture)
        else:
            target = m.name  # None: the architecture is read from the weights file (else the default model)
        if m.weights is None and not m.allow_untrained:
            refuse_untrained(target)
        model = load_model(target, weights=m.weights, device="cpu")
    except ValueError as exc:  # an unknown name, or architecture numbers that do not fit
        raise RainstreamError(str(exc)) from None
    return Derainer(model, config.engine)


def refuse_untrained(target) -> None:
    """A model with neither given nor bundled weights would derain with random weights (coloured
    noise, exit 0): refuse, unless the config allows it (tests, speed benchmarks)."""
    from rainstream.model.defaults import has_default_weights
    from rainstream.model.registry import DEFAULT_MODEL, resolve

    arch, variant, cfg = resolve(DEFAULT_MODEL if target is None else target)
    if not has_default_weights(variant):
        what = f"model {variant}" if variant else f"the {arch.title} network of the config ({cfg})"
        raise RainstreamError(f"{what} has no bundled weights, so it would derain with "
                              "random weights: give `weights` (an official checkpoint or a .safetensors file), "
                              "or set `allow_untrained` (tests, speed benchmarks)")
