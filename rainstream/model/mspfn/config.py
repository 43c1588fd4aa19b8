"""Architecture numbers of MSPFN as a frozen dataclass, and the named variants."""
from __future__ import annotations

from dataclasses import dataclass

from rainstream.model.config import NetworkConfig


@dataclass(frozen=True)
class MSPFNConfig(NetworkConfig):
    """Everything that fixes the shape of the network (and so of its checkpoint).

    ``dim`` is the feature width at every scale (64 in the paper); the ConvLSTM memories take
    ``dim // 2`` inputs and hold 1x, 2x and 4x ``dim`` features at 1/4, 1/2 and full scale, and the
    reconstruction narrows to ``dim // 2`` before the 3-channel rain layer.
    ``iterations`` is the number of progressive fusion (BCM) iterations, the M of M17N1.
    ``reduction`` is the RCAB channel-attention squeeze.
    """

    dim: int = 64
    iterations: int = 17
    reduction: int = 4

    def __post_init__(self) -> None:
        if self.dim < 2 or self.dim % 2 or self.dim % self.reduction:
            raise ValueError(f"dim {self.dim} must be even and divisible by reduction {self.reduction}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, not {self.iterations}")

    @property
    def memory_features(self) -> tuple[int, int, int]:
        """ConvLSTM state width at 1/4, 1/2 and full scale."""
        return self.dim, 2 * self.dim, 4 * self.dim


VARIANTS: dict[str, MSPFNConfig] = {
    # The released graph, model/TEST_MSPFN_M17N1.py: 17 fusion iterations, one RCAB per stage,
    # 15,823,424 parameters.
    "mspfn": MSPFNConfig(),
    # Tiny for tests: same wiring and names, two iterations, width 8.
    "mspfn_tiny": MSPFNConfig(dim=8, iterations=2),
}


def variant_config(name: str) -> MSPFNConfig:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown MSPFN variant {name!r}; choose one of {sorted(VARIANTS)}") from None
