"""Implicit neural representation decoder (LIIF-style) that turns a feature map into an image.

Every pixel's colour is an MLP of: its 3x3 neighbourhood of features, its coordinate relative to
the feature's coordinate (both positionally encoded), and the cell size. LIIF blends four "local
ensemble" predictions with area weights.

Reference behaviour kept for checkpoint compatibility: queries sit exactly on the feature grid
and the ensemble's corner shifts are never used to pick features, so the four ensemble members
receive identical inputs and their normalised area weights sum to one. The ensemble is therefore
one MLP evaluation; we compute it once, the same function at a quarter of the MLP cost.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def pixel_centres(height: int, width: int, device=None) -> torch.Tensor:
    """(H, W, 2) coordinates of pixel centres in [-1, 1], (row, column) order."""
    rows = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    cols = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)


def positional_encoding(coord: torch.Tensor, frequencies: int) -> torch.Tensor:
    """sin/cos of each coordinate at 2^k * pi, k < L: (..., D) -> (..., D * 2 * L).

    Laid out per coordinate as [sin(f_0..f_L-1), cos(f_0..f_L-1)], the order the weights expect.
    """
    freq = (2.0 ** torch.arange(frequencies, device=coord.device, dtype=torch.float32)) * math.pi
    spectrum = coord[..., None] * freq
    return torch.stack([spectrum.sin(), spectrum.cos()], dim=-2).flatten(-3)


def neighbourhood3x3(feat: torch.Tensor) -> torch.Tensor:
    """Stack each pixel's zero-padded 3x3 neighbourhood: (N, C, H, W) -> (N, 9C, H, W).

    Same layout as ``F.unfold(feat, 3, padding=1)`` (channel-major, then row-major offsets), written
    with slices so it exports to ONNX/TensorRT without an im2col op.
    """
    n, c, h, w = feat.shape
    padded = F.pad(feat, (1, 1, 1, 1))
    shifted = [padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    return torch.stack(shifted, dim=2).reshape(n, c * 9, h, w)


class PixelMLP(nn.Module):
    """The per-pixel MLP; ``layers`` is a Sequential of Linear/ReLU so official names map 1:1."""

    def __init__(self, in_features: int, out_features: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ImplicitDecoder(nn.Module):
    """Decode a (N, C, H, W) feature map into an (N, 3, H, W) image at the same resolution."""

    def __init__(self, channels: int, hidden: tuple[int, ...] = (256, 256, 256), frequencies: int = 4):
        super().__init__()
        self.frequencies = frequencies
        coord_features = 2 + 2 * 2 * frequencies  # raw (row, col) + their encoding
        self.imnet = PixelMLP(channels * 9 + coord_features + 2, 3, hidden)

    def coordinate_inputs(self, h: int, w: int, device=None) -> torch.Tensor:
        """(H*W, 2 + 4L + 2): each query's encoded offset from its feature, and the cell size.

        Both query and feature coordinates carry their positional encoding before subtracting
        (a reference quirk); the raw offset and the cell are measured in feature pixels.
        """
        query = pixel_centres(h, w, device).reshape(h * w, 2)
        feature = query  # the reference queries exactly at the feature positions
        encode = lambda p: torch.cat([p, positional_encoding(p, self.frequencies)], dim=-1)  # noqa: E731
        rel = encode(query) - encode(feature)
        pixels = torch.tensor([h, w], device=device, dtype=torch.float32)
        rel = torch.cat([rel[:, :2] * pixels, rel[:, 2:]], dim=-1)
        cell = (2 / pixels).expand(h * w, 2) * pixels
        return torch.cat([rel, cell], dim=-1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feat.shape
        local = neighbourhood3x3(feat).flatten(2).transpose(1, 2)  # (N, HW, 9C)
        coords = self.coordinate_inputs(h, w, feat.device).to(local.dtype)
        rgb = self.imnet(torch.cat([local, coords.expand(n, -1, -1)], dim=-1))
        return rgb.transpose(1, 2).reshape(n, 3, h, w)
