"""MSPFN's training loss (``MODEL.inference_losses`` of the reference): Charbonnier on the image plus
0.05 x Charbonnier on its 3x3 Laplacian, both with eps 1e-3, on the full-resolution output only."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.training.losses import charbonnier


def laplacian_3x3(image: torch.Tensor) -> torch.Tensor:
    """Per-channel Laplacian: 8 at the centre, -1 on the 8 neighbours, zero padding ('SAME')."""
    c = image.shape[1]
    kernel = -torch.ones(3, 3, dtype=image.dtype, device=image.device)
    kernel[1, 1] = 8
    return F.conv2d(image, kernel.expand(c, 1, 3, 3), padding=1, groups=c)


class MSPFNLoss(nn.Module):
    """``loss(output, target)`` -> dict(total, char, edge) for RGB images in [0, 1].

    The reference computes it on images scaled to [-1, 1]; both are rescaled here so the value (and
    the balance of the eps against the errors) is the reference's. Channel order does not matter.
    """

    def __init__(self, edge_weight: float = 0.05, eps: float = 1e-3):
        super().__init__()
        self.edge_weight = edge_weight
        self.eps = eps

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        output, target = output.float() * 2 - 1, target.float() * 2 - 1  # float32 even under autocast
        char = charbonnier(output, target, self.eps)
        edge = charbonnier(laplacian_3x3(output), laplacian_3x3(target), self.eps)
        return {"total": char + self.edge_weight * edge, "char": char, "edge": edge}
