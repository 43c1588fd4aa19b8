"""MSPFN (CVPR 2020, kuijiang94/MSPFN) as small modules, and its TensorFlow checkpoint's names."""
from rainstream.model.mspfn.checkpoint import config_from_state, detect, to_official, to_ours
from rainstream.model.mspfn.config import VARIANTS, MSPFNConfig, variant_config
from rainstream.model.mspfn.network import SIZE_MULTIPLE, MSPFN

__all__ = ["MSPFN", "MSPFNConfig", "VARIANTS", "SIZE_MULTIPLE", "variant_config", "config_from_state", "detect",
           "to_official", "to_ours"]
