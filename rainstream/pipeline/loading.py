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

            model = load_model(NeRDRainConfig.from_dict(m.architecture), weights=m.weights, device="cpu")
        else:
            # no name: the architecture is read from the weights file (else the default model)
            model = load_model(m.name, weights=m.weights, device="cpu")
    except ValueError as exc:  # an unknown name, or architecture numbers that do not fit
        raise RainstreamError(str(exc)) from None
    return Derainer(model, config.engine)
