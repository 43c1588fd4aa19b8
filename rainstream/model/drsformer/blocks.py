"""Building blocks of DRSformer: top-k sparse attention, mixed-scale feed-forward, the transformer block.

Each class is one box of Figure 2 of the paper (TKSA, MSFN, STB). Parameter names are ours; the
official names map onto them in ``checkpoint.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.model.layers import PreNormBlock, depthwise_conv

# The four masks keep the top C/2, 2C/3, 3C/4 and 4C/5 attention scores of each row.
TOPK_FRACTIONS = ((1, 2), (2, 3), (3, 4), (4, 5))


class TopKChannelAttention(nn.Module):
    """Top-k sparse "transposed" attention (TKSA): channel-to-channel attention per head, where each
    row keeps only its k largest scores, for four values of k, mixed by learnt weights.

    The scores (cosines of L2-normalised q and k, times a per-head temperature), the top-k masking
    with -inf and the softmaxes run in float32 even under fp16/bf16 autocast, so neither the mask
    nor the exponentials can overflow. The four masked softmaxes are mixed before the single product
    with v: the same sum as the reference's four products, a quarter of the work.
    """

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        channels = dim // heads
        # int(C * a / b) exactly as the reference computes it
        self.keep = tuple(int(channels * a / b) for a, b in TOPK_FRACTIONS)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = depthwise_conv(dim * 3, 3, bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)
        self.mix = nn.ParameterList(nn.Parameter(torch.full((1,), 0.2)) for _ in TOPK_FRACTIONS)

    def sparse_attention(self, scores: torch.Tensor) -> torch.Tensor:
        """(N, heads, C, C) float32 scores -> the mixed attention of the four top-k masks."""
        order = scores.topk(max(self.keep), dim=-1).indices  # descending: the first k are the top k
        attention = torch.zeros_like(scores)
        for weight, keep in zip(self.mix, self.keep):
            kept = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, order[..., :keep], True)
            attention = attention + weight * scores.masked_fill(~kept, float("-inf")).softmax(dim=-1)
        return attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        q = F.normalize(q.float(), dim=-1)
        k = F.normalize(k.float(), dim=-1)
        scores = (q @ k.transpose(-2, -1)).float() * self.temperature  # |cosine| <= 1 even if the matmul ran in fp16
        out = self.sparse_attention(scores).to(v.dtype) @ v
        return self.project_out(out.reshape(n, c, h, w))


class MixedScaleFeedForward(nn.Module):
    """Mixed-scale feed-forward network (MSFN): expand, 3x3 and 5x5 depthwise branches, each split in
    two halves; the first halves of both scales are fused by a grouped 3x3 conv, the second halves by a
    grouped 5x5 one, and the two results projected back."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.scale_convs = nn.ModuleList(depthwise_conv(hidden * 2, k, bias) for k in (3, 5))
        self.fuse_convs = nn.ModuleList(depthwise_conv(hidden * 2, k, bias, out_channels=hidden) for k in (3, 5))
        self.project_out = nn.Conv2d(hidden * 2, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project_in(x)
        scales = [F.relu(conv(x)).chunk(2, dim=1) for conv in self.scale_convs]
        halves = [torch.cat([scale[i] for scale in scales], dim=1) for i in range(2)]
        return self.project_out(torch.cat([F.relu(fuse(half)) for fuse, half in zip(self.fuse_convs, halves)], dim=1))


class SparseTransformerBlock(PreNormBlock):
    """Pre-norm residual block (STB): top-k sparse attention, then the mixed-scale feed-forward."""

    def __init__(self, dim: int, heads: int, expansion: float, bias: bool, norm_bias: bool):
        super().__init__(dim, TopKChannelAttention(dim, heads, bias), MixedScaleFeedForward(dim, expansion, bias),
                         norm_bias)
