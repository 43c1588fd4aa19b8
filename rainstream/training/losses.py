"""Training losses: NeRD-Rain's Charbonnier + FFT + edge terms on three scales plus L1 on the INR images,
and DRSformer's plain L1.

Each term is a plain function (easy to test and reuse); the ``nn.Module`` classes only carry the
weights so a trainer can hold one object. The pairing of outputs with pyramid levels follows the
reference training: restored images 0/1/2 against target levels 0/1/2, the INR images (outputs 3 and 5)
against levels 1 and 2; outputs 4 and 6 are downsampled inputs and are not supervised.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.training.pyramid import gaussian_pyramid

# Separable 5-tap kernel of the edge loss' Laplacian (the reference's [.05, .25, .4, .25, .05]).
_EDGE_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt((x - y)^2 + eps^2): a smooth L1 that keeps gradients finite at zero error."""
    diff = x - y
    return torch.sqrt(diff * diff + eps * eps).mean()


def fft_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean magnitude of the difference of the 2-D spectra; penalises lost high-frequency detail."""
    # FFT in float32 even under autocast: half-precision FFTs need power-of-two sizes.
    return (torch.fft.fft2(x.float()) - torch.fft.fft2(y.float())).abs().mean()


def _edge_blur(image: torch.Tensor) -> torch.Tensor:
    c = image.shape[1]
    taps = torch.tensor(_EDGE_TAPS, dtype=image.dtype, device=image.device)
    kernel = torch.outer(taps, taps).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(image, (2, 2, 2, 2), mode="replicate"), kernel, groups=c)


def laplacian_edges(image: torch.Tensor) -> torch.Tensor:
    """One Laplacian-pyramid band: the image minus its blurred, decimated and re-expanded self."""
    blurred = _edge_blur(image)
    expanded = torch.zeros_like(blurred)
    expanded[:, :, ::2, ::2] = blurred[:, :, ::2, ::2] * 4  # x4 restores the energy of the zeros
    return image - _edge_blur(expanded)


def edge_charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier distance between the Laplacian edge maps of ``x`` and ``y``."""
    return charbonnier(laplacian_edges(x), laplacian_edges(y), eps)


class CharbonnierLoss(nn.Module):
    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return charbonnier(x, y, self.eps)


class FFTLoss(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return fft_l1(x, y)


class EdgeLoss(nn.Module):
    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return edge_charbonnier(x, y, self.eps)


class NeRDRainLoss(nn.Module):
    """``loss(outputs, target)`` -> dict(total, char, fft, edge, inr_l1).

    ``outputs`` are the 7 tensors of ``model.forward_all``; ``target`` is the full-size clean batch,
    from which the 3-level Gaussian pyramid is built here.
    """

    def __init__(self, fft_weight: float = 0.01, edge_weight: float = 0.05, inr_weight: float = 0.1,
                 eps: float = 1e-3) -> None:
        super().__init__()
        self.fft_weight = fft_weight
        self.edge_weight = edge_weight
        self.inr_weight = inr_weight
        self.eps = eps

    def forward(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        if len(outputs) != 7:
            raise ValueError(f"expected the 7 outputs of forward_all, got {len(outputs)}")
        # Losses in float32 even when the forward ran under autocast.
        outputs = [o.float() for o in outputs]
        pyramid = gaussian_pyramid(target.float(), 3)
        restored = outputs[:3]
        char = sum(charbonnier(r, t, self.eps) for r, t in zip(restored, pyramid))
        fft = sum(fft_l1(r, t) for r, t in zip(restored, pyramid))
        edge = sum(edge_charbonnier(r, t, self.eps) for r, t in zip(restored, pyramid))
        inr_l1 = F.l1_loss(outputs[3], pyramid[1]) + F.l1_loss(outputs[5], pyramid[2])
        total = char + self.fft_weight * fft + self.edge_weight * edge + self.inr_weight * inr_l1
        return {"total": total, "char": char, "fft": fft, "edge": edge, "inr_l1": inr_l1}


class PixelL1Loss(nn.Module):
    """``loss(output, target)`` -> dict(total, l1): the mean absolute error of the restored image
    (DRSformer's training loss: BasicSR's L1Loss, weight 1, mean reduction)."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        l1 = F.l1_loss(output.float(), target.float())
        return {"total": l1, "l1": l1}
