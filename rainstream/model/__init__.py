"""The model zoo: NeRD-Rain, DRSformer and MSPFN as small modules, one registry, ``load_model`` as the entry point."""
from rainstream.devices import resolve_device
from rainstream.model.drsformer import DRSformer, DRSformerConfig
from rainstream.model.loading import ModelInfo, build_model, list_models, load_model, load_state, load_weights
from rainstream.model.nerd_rain import NeRDRain, NeRDRainConfig
from rainstream.model.registry import ARCHITECTURES, DEFAULT_MODEL, Architecture, architecture_of, resolve

VARIANTS = {name: cfg for arch in ARCHITECTURES.values() for name, cfg in arch.variants.items()}


def variant_config(name: str):
    """The config of a registered model name (``ValueError`` naming the valid ones if unknown)."""
    return resolve(name)[2]


__all__ = ["NeRDRain", "NeRDRainConfig", "DRSformer", "DRSformerConfig", "VARIANTS", "variant_config",
           "Architecture", "ARCHITECTURES", "DEFAULT_MODEL", "ModelInfo", "architecture_of", "build_model",
           "list_models", "load_model", "load_state", "load_weights", "resolve", "resolve_device"]
