"""DRSformer: a four-level U-Net of sparse transformer blocks, with MEFC cells at both ends.

Data flow (Figure 2 of the paper): 3x3 patch embedding -> MEFC -> encoder levels 1-3, each followed by
a conv + PixelUnshuffle downsampling -> latent level 4 -> decoder levels 3-1, each after a conv +
PixelShuffle upsampling and concatenation with the encoder's skip (reduced back to the level's width
at levels 3 and 2; level 1 keeps 2*dim) -> MEFC -> 3x3 output conv, added to the input.
"""
from __future__ import annotations

import torch
from torch import nn

from rainstream.model.drsformer.blocks import SparseTransformerBlock
from rainstream.model.drsformer.config import DRSformerConfig
from rainstream.model.drsformer.mefc import MEFC
from rainstream.model.layers import Downsample, Upsample, pad_to_multiple

SIZE_MULTIPLE = 8  # three stride-2 levels


class DRSformer(nn.Module):
    """DRSformer with or without MEFC (``cfg.mefc``). ``forward`` takes any size; ``restore`` is the
    reference forward for sides that are multiples of 8."""

    def __init__(self, cfg: DRSformerConfig):
        super().__init__()
        self.config = cfg
        d = cfg.dim

        def stage(width: int, level: int) -> nn.Sequential:
            return nn.Sequential(*[
                SparseTransformerBlock(width, cfg.heads[level], cfg.ffn_expansion_factor, cfg.bias,
                                       norm_bias=cfg.layernorm_type == "WithBias")
                for _ in range(cfg.num_blocks[level])
            ])

        self.patch_embed = nn.Conv2d(cfg.in_channels, d, 3, padding=1, bias=False)  # bias-free in the reference
        self.mefc_in = MEFC(d, cfg.mefc_steps) if cfg.mefc else None
        self.encoders = nn.ModuleList(stage(d * 2**level, level) for level in range(3))
        self.downs = nn.ModuleList(Downsample(d * 2**level) for level in range(3))
        self.latent = stage(d * 8, 3)
        self.ups = nn.ModuleList(Upsample(d * 2**(level + 1)) for level in range(3))
        self.reduces = nn.ModuleList(
            [nn.Identity()] + [nn.Conv2d(d * 2**(level + 1), d * 2**level, 1, bias=cfg.bias) for level in (1, 2)])
        self.decoders = nn.ModuleList(stage(d * 2**max(level, 1), level) for level in range(3))
        self.mefc_out = MEFC(2 * d, cfg.mefc_steps) if cfg.mefc else None
        self.output = nn.Conv2d(2 * d, cfg.out_channels, 3, padding=1, bias=cfg.bias)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The reference forward: (N, 3, H, W) with H and W multiples of 8."""
        features = self.patch_embed(x)
        if self.mefc_in is not None:
            features = self.mefc_in(features)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            features = encoder(features)
            skips.append(features)
            features = down(features)
        features = self.latent(features)
        for level in reversed(range(3)):
            features = torch.cat([self.ups[level](features), skips[level]], dim=1)
            features = self.decoders[level](self.reduces[level](features))
        if self.mefc_out is not None:
            features = self.mefc_out(features)
        return self.output(features) + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Derain (N, 3, H, W) images in [0, 1] of any size: reflect-pad to a multiple of 8 (as the
        reference test script does), crop back. Not clamped."""
        h, w = x.shape[-2:]
        return self.restore(pad_to_multiple(x, SIZE_MULTIPLE))[..., :h, :w]
