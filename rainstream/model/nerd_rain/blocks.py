"""Building blocks of one NeRD-Rain UNet: the Restormer-style transformer block and resampling.

Each class is one box of Figure 2 of the paper. Parameter names are chosen so that the official
checkpoints map onto them with a few mechanical rules (see ``checkpoint.py``). The layer norm and
the resampling convolutions are shared with DRSformer (``rainstream.model.layers``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.model.layers import PreNormBlock, depthwise_conv


class GatedFeedForward(nn.Module):
    """Gated-Dconv feed-forward network: expand, depthwise 3x3, GELU gate, project back."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = depthwise_conv(hidden * 2, 3, bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class ChannelAttention(nn.Module):
    """Multi-Dconv head "transposed" attention: attention between channels, so cost is linear in pixels."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = depthwise_conv(dim * 3, 3, bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.project_out((attn @ v).reshape(n, c, h, w))


class TransformerBlock(PreNormBlock):
    """Pre-norm residual block: channel attention, then the gated feed-forward network."""

    def __init__(self, dim: int, heads: int, expansion: float, bias: bool, norm_bias: bool):
        super().__init__(dim, ChannelAttention(dim, heads, bias), GatedFeedForward(dim, expansion, bias), norm_bias)


def resize_nearest(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Nearest-neighbour resize by ``factor``.

    The paper says bilinear, but every resize in the reference forward pass uses the default
    'nearest' mode; the official weights were trained that way, so we keep it.
    """
    return F.interpolate(x, scale_factor=factor, mode="nearest")
