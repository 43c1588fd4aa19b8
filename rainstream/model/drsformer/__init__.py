"""DRSformer (CVPR 2023, cschenxiang/DRSformer) as small modules: TKSA, MSFN, MEFC, U-Net, names."""
from rainstream.model.drsformer.checkpoint import KEYMAP, config_from_state, is_drsformer
from rainstream.model.drsformer.config import VARIANTS, DRSformerConfig
from rainstream.model.drsformer.network import SIZE_MULTIPLE, DRSformer

__all__ = ["DRSformer", "DRSformerConfig", "VARIANTS", "KEYMAP", "SIZE_MULTIPLE", "config_from_state",
           "is_drsformer"]
