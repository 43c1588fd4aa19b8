"""Architecture numbers of NeRD-Rain as a frozen dataclass, and the named variants."""
from __future__ import annotations

from dataclasses import dataclass

from rainstream.model.config import NetworkConfig


@dataclass(frozen=True)
class NeRDRainConfig(NetworkConfig):
    """Everything that fixes the shape of the network (and so of its checkpoint).

    ``unets_per_scale`` is the paper's (1, 2, 3): one UNet at 1/4 scale, two at 1/2, three at full.
    ``inr_hidden`` / ``inr_frequencies`` are the implicit decoder's MLP widths and the number L of
    positional-encoding frequencies (4 in the reference).
    """

    dim: int = 32
    num_blocks: tuple[int, int, int] = (2, 3, 3)
    heads: tuple[int, int, int] = (1, 2, 4)
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    layernorm_type: str = "WithBias"
    in_channels: int = 3
    out_channels: int = 3
    unets_per_scale: tuple[int, ...] = (1, 2, 3)
    inr_hidden: tuple[int, ...] = (256, 256, 256)
    inr_frequencies: int = 4

    def __post_init__(self) -> None:
        self._freeze_sequences()
        if self.layernorm_type not in ("WithBias", "BiasFree"):
            raise ValueError(f"layernorm_type must be WithBias or BiasFree, not {self.layernorm_type!r}")
        if self.unets_per_scale != (1, 2, 3):
            # The bidirectional feedback wiring (and the official checkpoints) assume 1-2-3.
            raise ValueError("unets_per_scale must be (1, 2, 3)")
        if self.dim % 4 or any(self.dim * 2**i % h for i, h in enumerate(self.heads)):
            raise ValueError(f"dim {self.dim} must be a multiple of 4 and divisible by the heads")


VARIANTS: dict[str, NeRDRainConfig] = {
    # Table 2 of the paper: 10.53 M parameters, 79.2 GMACs at 256x256.
    "nerd_rain_s": NeRDRainConfig(dim=32),
    # 22.89 M parameters, 156.3 GMACs at 256x256.
    "nerd_rain": NeRDRainConfig(dim=48),
    # Tiny width for tests: same topology, a few hundred times cheaper.
    "nerd_rain_tiny": NeRDRainConfig(dim=8),
}

