"""The layers of the released MSPFN graph, with TensorFlow's padding and gate conventions.

The graph was written for TensorFlow 1, whose 'SAME' padding puts the odd pixel after (bottom /
right) and whose transposed convolutions are cropped to an explicit output size. PyTorch's symmetric
``padding=1`` gives a different function (169 % relative error on the reference output), so the
strided layers here pad and crop exactly as TensorFlow does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one dimension of ``size`` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def prelu(channels: int) -> nn.PReLU:
    """One slope per channel, starting at 0 (a ReLU) as in the reference's initialisation."""
    return nn.PReLU(channels, init=0.0)


class StridedConv(nn.Module):
    """``conv_layer`` + PReLU: 3x3, stride 2, no bias, 'SAME' (pad 0/1 on an even side, 1/1 on an odd one)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.prelu = prelu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], 3, 2)
        left, right = same_padding(x.shape[-1], 3, 2)
        return self.prelu(F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, stride=2))


class TransposedConv(nn.Module):
    """``deconv_layer`` (+ PReLU unless ``activation=False``): 3x3 transposed convolution, no bias.

    Stride 1 keeps the size. Stride 2 takes the output ``size`` (TensorFlow's ``output_shape``): the
    full transposed output is cropped from the 'SAME' offset of that size, which keeps ``[0, 2n)``
    for an even size (PyTorch's ``padding=1, output_padding=1`` would keep ``[1, 2n]``).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels, 3, 3))
        self.prelu = prelu(out_channels) if activation else None

    def forward(self, x: torch.Tensor, size: tuple[int, int] | torch.Size | None = None) -> torch.Tensor:
        if self.stride == 1:
            y = F.conv_transpose2d(x, self.weight, padding=1)
        else:
            if size is None:
                raise ValueError("a stride-2 TransposedConv needs the output size")
            height, width = size[-2:]
            top, left = same_padding(height, 3, 2)[0], same_padding(width, 3, 2)[0]
            y = F.conv_transpose2d(x, self.weight, stride=2)[..., top:top + height, left:left + width]
        return y if self.prelu is None else self.prelu(y)


class RCAB(nn.Module):
    """Residual channel attention block: ``x + f * sigmoid(excite(prelu(squeeze(mean(f)))))`` with
    ``f = conv2(prelu(conv1(x)))``; 3x3 convs with bias, 1x1 squeeze by ``reduction``, no scaling."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act1 = prelu(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.squeeze = nn.Conv2d(channels, channels // reduction, 1)
        self.act2 = prelu(channels // reduction)
        self.excite = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv2(self.act1(self.conv1(x)))
        attention = torch.sigmoid(self.excite(self.act2(self.squeeze(f.mean(dim=(2, 3), keepdim=True)))))
        return x + f * attention


class ConvLSTMCell(nn.Module):
    """``BasicConvLSTMCell``: one 3x3 conv over ``[x, h]`` gives the gates in the order i, j, f, o;
    ``c' = c * sigmoid(f + 1) + sigmoid(i) * tanh(j)``, ``h' = tanh(c') * sigmoid(o)``.

    The released graph calls each cell once from a zero state, so there the conv's ``h`` input
    channels and the forget gate meet only zeros: with ``state=None`` they are skipped (the result
    is the same; at full scale it saves ~90 % of the cell's work). Their weights stay in the
    module, so checkpoints keep every variable.
    """

    def __init__(self, in_channels: int, features: int, forget_bias: float = 1.0):
        super().__init__()
        self.in_channels, self.features, self.forget_bias = in_channels, features, forget_bias
        self.conv = nn.Conv2d(in_channels + features, 4 * features, 3, padding=1)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Returns ``h'`` and the new state ``(c', h')``."""
        if state is None:
            n = self.features
            weight, bias = self.conv.weight[:, :self.in_channels], self.conv.bias
            gates = [slice(0, 2 * n), slice(3 * n, 4 * n)]  # i, j and o; f multiplies c = 0
            z = F.conv2d(x, torch.cat([weight[g] for g in gates]), torch.cat([bias[g] for g in gates]), padding=1)
            i, j, o = z.chunk(3, dim=1)
            c = torch.sigmoid(i) * torch.tanh(j)
        else:
            c, h = state
            i, j, f, o = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
            c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        h = torch.tanh(c) * torch.sigmoid(o)
        return h, (c, h)
