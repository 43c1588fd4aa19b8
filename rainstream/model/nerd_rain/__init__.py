"""NeRD-Rain (CVPR 2024, cschenxiang/NeRD-Rain) as small modules: blocks, UNet, INR, network, names."""
from rainstream.model.nerd_rain.checkpoint import KEYMAP, config_from_state, is_nerd_rain
from rainstream.model.nerd_rain.config import VARIANTS, NeRDRainConfig
from rainstream.model.nerd_rain.network import SIZE_MULTIPLE, NeRDRain

__all__ = ["NeRDRain", "NeRDRainConfig", "VARIANTS", "KEYMAP", "SIZE_MULTIPLE", "config_from_state",
           "is_nerd_rain"]
