"""Architecture numbers of DRSformer as a frozen dataclass, and the named variants."""
from __future__ import annotations

from dataclasses import dataclass

from rainstream.model.config import NetworkConfig


@dataclass(frozen=True)
class DRSformerConfig(NetworkConfig):
    """Everything that fixes the shape of the network (and so of its checkpoint).

    ``num_blocks`` / ``heads``: sparse transformer blocks and attention heads of levels 1-3 and the
    latent (level 4); level-l features have dim * 2**(l-1) channels, except decoder level 1, which keeps
    the 2*dim of its skip concatenation (with level 1's heads). ``mefc``: the mixture-of-experts feature
    compensator after the patch embedding and before the output conv (the official Rain200H / DID /
    DDN checkpoints have it, Rain200L / SPA-Data ones do not). ``mefc_steps``: its chained operation
    layers (4 in the reference).
    """

    dim: int = 48
    num_blocks: tuple[int, int, int, int] = (4, 6, 6, 8)
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    layernorm_type: str = "WithBias"
    in_channels: int = 3
    out_channels: int = 3
    mefc: bool = True
    mefc_steps: int = 4

    def __post_init__(self) -> None:
        self._freeze_sequences()
        if self.layernorm_type not in ("WithBias", "BiasFree"):
            raise ValueError(f"layernorm_type must be WithBias or BiasFree, not {self.layernorm_type!r}")
        if len(self.num_blocks) != 4 or len(self.heads) != 4 or min(self.num_blocks) < 1:
            raise ValueError("num_blocks and heads need 4 entries (levels 1-3 and the latent), blocks >= 1")
        widths = [self.dim * 2**level for level in range(4)] + [2 * self.dim]
        for width, heads in zip(widths, [*self.heads, self.heads[0]]):
            # top-k keeps int(C/2) scores per row: a head needs at least 2 channels
            if width % heads or width // heads < 2:
                raise ValueError(f"dim {self.dim}: {width} channels cannot be split into {heads} heads "
                                 "of at least 2 channels")


VARIANTS: dict[str, DRSformerConfig] = {
    # The published size (Options/Deraining.yml): 33,655,424 parameters with MEFC.
    "drsformer": DRSformerConfig(),
    # 32,610,304 parameters: the official Rain200L and SPA-Data checkpoints were trained without MEFC.
    "drsformer_no_mefc": DRSformerConfig(mefc=False),
    # Tiny width for tests (the size of ../shared/reference/drsformer_equivalence_dim8.pt).
    "drsformer_tiny": DRSformerConfig(dim=8, num_blocks=(1, 1, 1, 2), heads=(1, 2, 2, 4)),
}
