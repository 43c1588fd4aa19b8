"""MSPFN: multi-scale progressive fusion of rain features at 1/4, 1/2 and full scale (CVPR 2020).

Data flow of the released test graph (``model/TEST_MSPFN_M17N1.py``), coarse scales first:

1. the input and its 2x and 4x average-pooled copies each get a 64-channel stem;
2. the residual memory (RMM) passes each scale through a ConvLSTM cell, the coarser result
   upsampled into the finer scales' inputs;
3. 17 progressive fusion iterations (BCM): at each scale a stride-2 conv, an RCAB and a transposed
   conv over both add a residual; the updated coarser features are upsampled into the finer scales
   within the same iteration;
4. reconstruction merges each scale's fused and memory features, upsamples coarse to fine and
   predicts the rain layer, which is subtracted from the input.

The graph works on BGR images in [-1, 1]; ``forward`` takes RGB in [0, 1] like every model here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rainstream.model.mspfn.blocks import RCAB, ConvLSTMCell, StridedConv, TransposedConv
from rainstream.model.mspfn.config import MSPFNConfig

SIZE_MULTIPLE = 4  # the graph halves twice and upsamples back to exactly 2x and 4x
# The three scales by name: coarse = 1/4, middle = 1/2, fine = full size; the graph runs them in
# this order. ("half" would clash with nn.Module.half in a ModuleDict.)
SCALES = ("coarse", "middle", "fine")
Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (coarse, middle, fine)


def cross_scale_upsamplers(channels: int) -> nn.ModuleDict:
    """The three stride-2 transposed convs that carry features to the next finer scale.
    ``coarse_to_fine`` is applied to the output of ``coarse_to_middle`` (already at 1/2 scale), as
    in the reference."""
    return nn.ModuleDict({name: TransposedConv(channels, channels, stride=2)
                          for name in ("coarse_to_middle", "coarse_to_fine", "middle_to_fine")})


class InputPyramid(nn.Module):
    """The input at the three scales (1/4, 1/2, full). The reference down-scales with a constant
    stride-k conv of weight 1/k^2 per channel; on sides divisible by k that is average pooling."""

    def forward(self, x: torch.Tensor) -> Features:
        return F.avg_pool2d(x, 4), F.avg_pool2d(x, 2), x


class MemoryBranch(nn.Module):
    """One scale of the residual memory: narrow to the cell's input, one ConvLSTM step from a zero
    state, widen back, add the scale's stem features."""

    def __init__(self, channels: int, features: int):
        super().__init__()
        self.to_cell = TransposedConv(channels, channels // 2)
        self.cell = ConvLSTMCell(channels // 2, features)
        self.from_cell = TransposedConv(features, channels)

    def forward(self, x: torch.Tensor, stem: torch.Tensor) -> torch.Tensor:
        h, _ = self.cell(self.to_cell(x))
        return self.from_cell(h) + stem


class ResidualMemory(nn.Module):
    """RMM: the memory branches, coarse to fine, each finer input plus the upsampled coarser output."""

    def __init__(self, cfg: MSPFNConfig):
        super().__init__()
        self.branches = nn.ModuleDict({scale: MemoryBranch(cfg.dim, features)
                                       for scale, features in zip(SCALES, cfg.memory_features)})
        self.up = cross_scale_upsamplers(cfg.dim)

    def forward(self, coarse: torch.Tensor, middle: torch.Tensor, fine: torch.Tensor) -> Features:
        branch, up = self.branches, self.up
        coarse_out = branch["coarse"](coarse, coarse)
        coarse_to_middle = up["coarse_to_middle"](coarse_out, middle.shape)
        middle_out = branch["middle"](middle + coarse_to_middle, middle)
        coarse_to_fine = up["coarse_to_fine"](coarse_to_middle, fine.shape)
        middle_to_fine = up["middle_to_fine"](middle_out, fine.shape)
        fine_out = branch["fine"](fine + middle_to_fine + coarse_to_fine, fine)
        return coarse_out, middle_out, fine_out


class FusionStage(nn.Module):
    """One scale of a fusion iteration: ``up([d, RCAB(d)])`` with ``d`` the stride-2 conv of the input."""

    def __init__(self, cfg: MSPFNConfig):
        super().__init__()
        self.down = StridedConv(cfg.dim, cfg.dim)
        self.rcab = RCAB(cfg.dim, cfg.reduction)
        self.up = TransposedConv(2 * cfg.dim, cfg.dim, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.down(x)
        return self.up(torch.cat([d, self.rcab(d)], dim=1), x.shape)


class FusionIteration(nn.Module):
    """One progressive fusion (BCM) iteration: each scale adds its stage's residual, coarse first;
    a finer stage sees the coarser features already updated in this iteration."""

    def __init__(self, cfg: MSPFNConfig):
        super().__init__()
        self.stages = nn.ModuleDict({scale: FusionStage(cfg) for scale in SCALES})
        self.up = cross_scale_upsamplers(cfg.dim)

    def forward(self, coarse: torch.Tensor, middle: torch.Tensor, fine: torch.Tensor) -> Features:
        stage, up = self.stages, self.up
        coarse = coarse + stage["coarse"](coarse)
        coarse_to_middle = up["coarse_to_middle"](coarse, middle.shape)
        middle = middle + stage["middle"](middle + coarse_to_middle)
        coarse_to_fine = up["coarse_to_fine"](coarse_to_middle, fine.shape)
        middle_to_fine = up["middle_to_fine"](middle, fine.shape)
        fine = fine + stage["fine"](fine + coarse_to_fine + middle_to_fine)
        return coarse, middle, fine


class Reconstruction(nn.Module):
    """Merge fused and memory features per scale, upsample coarse to fine, predict the rain layer."""

    def __init__(self, cfg: MSPFNConfig):
        super().__init__()
        c = cfg.dim
        self.merge = nn.ModuleDict({scale: TransposedConv(2 * c, c) for scale in SCALES})
        self.coarse_to_middle = TransposedConv(c, c, stride=2)
        self.middle_to_fine = TransposedConv(2 * c, c, stride=2)
        self.fuse = TransposedConv(2 * c, c // 2)
        self.rain = TransposedConv(c // 2, 3, activation=False)

    def forward(self, fused: Features, memory: Features) -> torch.Tensor:
        coarse, middle, fine = (self.merge[s](torch.cat([f, m], dim=1)) for s, f, m in zip(SCALES, fused, memory))
        up = self.coarse_to_middle(coarse, middle.shape)
        up = self.middle_to_fine(torch.cat([up, middle], dim=1), fine.shape)
        return self.rain(self.fuse(torch.cat([fine, up], dim=1)))


class MSPFN(nn.Module):
    """The released MSPFN test graph (M17N1 by default)."""

    def __init__(self, cfg: MSPFNConfig):
        super().__init__()
        self.config = cfg
        self.pyramid = InputPyramid()
        self.stem = nn.ModuleDict({scale: TransposedConv(3, cfg.dim) for scale in SCALES})
        self.memory = ResidualMemory(cfg)
        self.fusion = nn.ModuleList(FusionIteration(cfg) for _ in range(cfg.iterations))
        self.reconstruction = Reconstruction(cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation: Glorot-uniform filters, zero biases and PReLU slopes, and
        N(0, 1e-3) truncated at 2 sigma for the ConvLSTM convs."""
        for module in self.modules():
            if isinstance(module, (StridedConv, TransposedConv)):
                nn.init.xavier_uniform_(module.weight)
            elif isinstance(module, ConvLSTMCell):
                nn.init.trunc_normal_(module.conv.weight, std=1e-3, a=-2e-3, b=2e-3)
                nn.init.zeros_(module.conv.bias)
            elif isinstance(module, RCAB):
                for conv in (module.conv1, module.conv2, module.squeeze, module.excite):
                    nn.init.xavier_uniform_(conv.weight)
                    nn.init.zeros_(conv.bias)

    def rain_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's ``rain_res`` for BGR input in [-1, 1] whose sides are multiples of 4."""
        stems = [self.stem[scale](image) for scale, image in zip(SCALES, self.pyramid(x))]
        memory = self.memory(*stems)
        fused = memory
        for iteration in self.fusion:
            fused = iteration(*fused)
        return self.reconstruction(fused, memory)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's output ``imitation = x - rain_res``, in its own convention (BGR, [-1, 1])."""
        h, w = x.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"the MSPFN graph needs sides divisible by {SIZE_MULTIPLE}, got {h}x{w}")
        return x - self.rain_layer(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Derain (N, 3, H, W) RGB images in [0, 1] of any size (padded to a multiple of 4 and cropped
        back); the result is RGB on the same scale, not clamped."""
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
        if pad_h or pad_w:
            # Mirror the border so the padding looks like more scene; images too small to mirror
            # by that much repeat the edge.
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        bgr = x.flip(1) * 2 - 1
        return ((self.forward_reference(bgr) + 1) / 2).flip(1)[..., :h, :w]
