"""One UNet of NeRD-Rain (three levels of transformer blocks) and the bidirectional fusion unit."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rainstream.model.layers import Downsample, Upsample
from rainstream.model.nerd_rain.blocks import TransformerBlock
from rainstream.model.nerd_rain.config import NeRDRainConfig


class Encoding(NamedTuple):
    """What the encoder hands to the decoder: the two skip connections and the latent."""

    skip1: torch.Tensor  # dim channels, full resolution of this UNet
    skip2: torch.Tensor  # 2*dim channels, 1/2
    latent: torch.Tensor  # 4*dim channels, 1/4


def transformer_stage(cfg: NeRDRainConfig, level: int) -> nn.Sequential:
    """``num_blocks[level]`` transformer blocks at width dim * 2**level."""
    return nn.Sequential(*[
        TransformerBlock(cfg.dim * 2**level, cfg.heads[level], cfg.ffn_expansion_factor, cfg.bias,
                         norm_bias=cfg.layernorm_type == "WithBias")
        for _ in range(cfg.num_blocks[level])
    ])


class UNet(nn.Module):
    """Encoder (level 1, 2, latent) and decoder (level 2, 1) joined by skip connections.

    Split into ``encode`` and ``decode`` because NeRD-Rain edits the latent between the two:
    the bidirectional feedback from the finer scale is added there.
    """

    def __init__(self, cfg: NeRDRainConfig):
        super().__init__()
        d = cfg.dim
        self.encoder1 = transformer_stage(cfg, 0)
        self.down1 = Downsample(d)
        self.encoder2 = transformer_stage(cfg, 1)
        self.down2 = Downsample(2 * d)
        self.latent = transformer_stage(cfg, 2)
        self.up2 = Upsample(4 * d)
        self.reduce2 = nn.Conv2d(4 * d, 2 * d, 1, bias=cfg.bias)
        self.decoder2 = transformer_stage(cfg, 1)
        self.up1 = Upsample(2 * d)
        self.reduce1 = nn.Conv2d(2 * d, d, 1, bias=cfg.bias)
        self.decoder1 = transformer_stage(cfg, 0)

    def encode(self, x: torch.Tensor) -> Encoding:
        skip1 = self.encoder1(x)
        skip2 = self.encoder2(self.down1(skip1))
        return Encoding(skip1, skip2, self.latent(self.down2(skip2)))

    def decode(self, latent: torch.Tensor, enc: Encoding, reduce1: nn.Module | None = None) -> torch.Tensor:
        """Decode ``latent`` with the skips of ``enc``; ``reduce1`` replaces this UNet's own
        level-1 channel reduction (needed to reproduce the reference, see ``ScaleBranch``)."""
        x = self.decoder2(self.reduce2(torch.cat([self.up2(latent), enc.skip2], dim=1)))
        x = torch.cat([self.up1(x), enc.skip1], dim=1)
        return self.decoder1((self.reduce1 if reduce1 is None else reduce1)(x))


class BidirectionalFusion(nn.Module):
    """Fuse the latents of two successive UNets of one scale (the paper's feedback unit).

    A shared sigmoid gate from the product of the two maps' projections weights each map; per-
    pixel 2-channel gammas mix each map with its gated self; the two results are summed.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.key_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.gamma1 = nn.Conv2d(channels * 2, 2, 3, padding=1)
        self.gamma2 = nn.Conv2d(channels * 2, 2, 3, padding=1)

    @staticmethod
    def _mix(x: torch.Tensor, gated: torch.Tensor, gamma: nn.Conv2d) -> torch.Tensor:
        g = gamma(torch.cat([x, gated], dim=1))
        return x * g[:, 0:1] + gated * g[:, 1:2]

    def forward(self, earlier: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.query_conv(earlier) * self.key_conv(later))
        return self._mix(earlier, earlier * gate, self.gamma1) + self._mix(later, later * gate, self.gamma2)
