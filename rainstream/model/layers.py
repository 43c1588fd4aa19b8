"""Layers shared by the Restormer-family architectures of the zoo (NeRD-Rain, DRSformer).

Parameter names are the ones the architectures' checkpoint converters map official names onto.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of each pixel of a (N, C, H, W) map.

    ``with_bias=False`` is Restormer's "BiasFree" variant: it scales by the standard deviation but
    does not subtract the mean. The statistics are taken in float32 even under fp16/bf16 autocast
    (a variance of fp16 activations overflows long before the activations do); the result goes back
    to the input's dtype.
    """

    def __init__(self, channels: int, with_bias: bool = True, eps: float = 1e-5):
        super().__init__()
        self.with_bias = with_bias
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        var = x32.var(dim=1, keepdim=True, unbiased=False)
        if self.bias is None:
            out = x32 * torch.rsqrt(var + self.eps) * self.weight[:, None, None]
        else:
            centred = x32 - x32.mean(dim=1, keepdim=True)
            out = centred * torch.rsqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]
        return out.to(x.dtype)


def depthwise_conv(channels: int, kernel: int, bias: bool, out_channels: int | None = None) -> nn.Conv2d:
    """A grouped k x k convolution with "same" padding: depthwise by default.

    With ``out_channels`` = channels / 2 each output channel mixes two neighbouring input channels
    (DRSformer's mixed-scale fusion).
    """
    out_channels = out_channels or channels
    groups = min(channels, out_channels)
    return nn.Conv2d(channels, out_channels, kernel, padding=kernel // 2, groups=groups, bias=bias)


class PreNormBlock(nn.Module):
    """The Restormer-family transformer block: x + attn(norm1(x)), then + ffn(norm2(x)).

    Subclasses choose the attention and the feed-forward network (NeRD-Rain: channel attention and
    the gated feed-forward; DRSformer: top-k sparse attention and the mixed-scale feed-forward).
    """

    def __init__(self, dim: int, attn: nn.Module, ffn: nn.Module, norm_bias: bool):
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim, norm_bias)
        self.attn = attn
        self.norm2 = ChannelLayerNorm(dim, norm_bias)
        self.ffn = ffn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Downsample(nn.Sequential):
    """Halve the resolution, double the channels (3x3 conv to C/2, then pixel-unshuffle by 2)."""

    def __init__(self, channels: int):
        super().__init__(nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))


class Upsample(nn.Sequential):
    """Double the resolution, halve the channels (3x3 conv to 2C, then pixel-shuffle by 2)."""

    def __init__(self, channels: int):
        super().__init__(nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of (N, C, H, W) so both sides are multiples of ``multiple``.

    The border is mirrored (the reference test scripts' 'reflect'), so the padding looks like more
    scene, not a black frame; an image too small to mirror by that much repeats its edge instead.
    Callers crop the output back to the input size.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
