"""MSPFN (CVPR 2020) as small PyTorch modules, and the converter for its TensorFlow checkpoint."""
from rainstream.model.mspfn.config import VARIANTS, MSPFNConfig, variant_config
from rainstream.model.mspfn.network import MSPFN

__all__ = ["MSPFN", "MSPFNConfig", "VARIANTS", "variant_config"]
