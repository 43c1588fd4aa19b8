"""Gaussian image pyramid, the same one kornia's ``build_pyramid`` builds (without depending on kornia).

The NeRD-Rain loss compares each restored scale with a blurred-and-halved target, so the pyramid has
to match the reference training exactly: 5x5 binomial blur ([1,4,6,4,1]/16 in each direction) with
reflect borders, then a bilinear resize to half size (``align_corners=False``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def binomial_kernel(channels: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Depthwise (channels, 1, 5, 5) kernel of the separable binomial blur, summing to 1."""
    row = torch.tensor(_BINOMIAL_5, dtype=dtype, device=device) / 16.0
    return torch.outer(row, row).expand(channels, 1, 5, 5).contiguous()


def pyr_down(image: torch.Tensor) -> torch.Tensor:
    """Blur (reflect border) then halve a (N, C, H, W) batch with bilinear sampling."""
    n, c, h, w = image.shape
    blurred = F.conv2d(F.pad(image, (2, 2, 2, 2), mode="reflect"),
                       binomial_kernel(c, dtype=image.dtype, device=image.device), groups=c)
    return F.interpolate(blurred, size=(h // 2, w // 2), mode="bilinear", align_corners=False)


def gaussian_pyramid(image: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """``[image, 1/2, 1/4, ...]`` with ``levels`` entries (kornia's ``build_pyramid(image, levels)``)."""
    if image.ndim != 4:
        raise ValueError(f"expected a (N, C, H, W) batch, got shape {tuple(image.shape)}")
    if levels < 1:
        raise ValueError("levels must be >= 1")
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.append(pyr_down(pyramid[-1]))
    return pyramid
