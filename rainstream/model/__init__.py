"""NeRD-Rain (CVPR 2024) as small modules; ``load_model`` is the entry point."""
from rainstream.model.config import VARIANTS, NeRDRainConfig, variant_config
from rainstream.model.loading import build_model, load_model, load_state, resolve_device
from rainstream.model.network import NeRDRain

__all__ = ["NeRDRain", "NeRDRainConfig", "VARIANTS", "variant_config", "build_model", "list_models", "load_model",
           "load_state", "resolve_device"]


def list_models() -> list[str]:
    """Names ``load_model`` accepts."""
    return sorted(VARIANTS)
