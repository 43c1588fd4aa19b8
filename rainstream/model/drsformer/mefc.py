"""DRSformer's mixture-of-experts feature compensator (MEFC): a searched cell of CNN operations whose
mixing weights a small router predicts per image.

The reference builds it from DARTS-style candidates (``sep_conv``, ``dil_conv``, ``avg_pool``) but,
unlike DARTS, without BatchNorm: the published checkpoints hold no BatchNorm parameters or buffers, so
the cell behaves the same in train and eval mode and per image within a batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.model.layers import depthwise_conv


class SeparableConv(nn.Sequential):
    """Depthwise k x k, pointwise, ReLU, depthwise k x k, pointwise."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(depthwise_conv(channels, kernel, bias=False), nn.Conv2d(channels, channels, 1, bias=False),
                         nn.ReLU(), depthwise_conv(channels, kernel, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False))


class DilatedConv(nn.Sequential):
    """Depthwise k x k with dilation 2 ("same" padding), then pointwise."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(nn.Conv2d(channels, channels, kernel, padding=kernel - 1, dilation=2, groups=channels,
                                   bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False))


def candidate_operations(channels: int) -> list[nn.Module]:
    """The eight experts, in the order the router's weights and the checkpoints number them."""
    return ([SeparableConv(channels, k) for k in (1, 3, 5, 7)] + [DilatedConv(channels, k) for k in (3, 5, 7)]
            + [nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)])


NUM_OPERATIONS = 8


class OperationRouter(nn.Module):
    """Per image: global average pool, two-layer MLP, softmax over the operations for every step."""

    def __init__(self, channels: int, steps: int):
        super().__init__()
        self.steps = steps
        logits = steps * NUM_OPERATIONS
        self.fc = nn.Sequential(nn.Linear(channels, 2 * logits), nn.ReLU(), nn.Linear(2 * logits, logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, steps, operations) weights summing to one over the operations."""
        return self.fc(x.mean(dim=(2, 3))).view(-1, self.steps, NUM_OPERATIONS).softmax(dim=-1)


class OperationMixture(nn.Module):
    """One step of the cell: every operation on the input, each scaled by its weight for that image,
    concatenated and fused back to C channels by a 1x1 conv and ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.experts = nn.ModuleList(candidate_operations(channels))
        self.fuse = nn.Sequential(nn.Conv2d(channels * NUM_OPERATIONS, channels, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        scaled = [op(x) * w[:, None, None, None] for op, w in zip(self.experts, weights.unbind(1))]
        return self.fuse(torch.cat(scaled, dim=1))


class MEFC(nn.Module):
    """Router weights from the input, a 1x1 conv + ReLU, then ``steps`` residual operation mixtures."""

    def __init__(self, channels: int, steps: int = 4):
        super().__init__()
        self.router = OperationRouter(channels, steps)
        self.preprocess = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.ReLU())
        self.steps = nn.ModuleList(OperationMixture(channels) for _ in range(steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.router(x)
        x = self.preprocess(x)
        for i, step in enumerate(self.steps):
            x = F.relu(step(x, weights[:, i]) + x)
        return x
