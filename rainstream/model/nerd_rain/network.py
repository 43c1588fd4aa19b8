"""NeRD-Rain: UNets at 1/4, 1/2 and full scale linked by implicit decoders and feedback fusion.

Data flow (Figure 2 of the paper):

1. coarse to fine: each scale's first UNet encodes its input; the coarser scales decode their
   latent into an image with an implicit decoder (INR), which is added to the next finer input;
2. fine to coarse: each scale runs its UNets one after another (context conv in between); the
   latents of successive UNets are fused and, halved, added to the coarser scale's latents before
   they are decoded (bidirectional feedback);
3. coarse to fine again: each scale's last decoder features plus the upsampled coarser features
   give that scale's restored image (a residual on its input).
"""
from __future__ import annotations

import torch
from torch import nn

from rainstream.model.layers import Upsample, pad_to_multiple
from rainstream.model.nerd_rain.blocks import resize_nearest
from rainstream.model.nerd_rain.config import NeRDRainConfig
from rainstream.model.nerd_rain.inr import ImplicitDecoder
from rainstream.model.nerd_rain.unet import BidirectionalFusion, Encoding, UNet

SIZE_MULTIPLE = 16  # 1/4 input scale, then two stride-2 levels inside each UNet


class ScaleBranch(nn.Module):
    """All modules working at one scale: input embedding, its chain of UNets, the context convs
    that pass one UNet's output to the next, the fusions of their latents, the output head, and
    (except at full scale) the implicit decoder that produces this scale's INR image."""

    def __init__(self, cfg: NeRDRainConfig, unets: int, with_inr: bool, reuse_reduce1: bool = False):
        super().__init__()
        d = cfg.dim
        self.patch_embed = nn.Conv2d(cfg.in_channels, d, 3, padding=1, bias=cfg.bias)
        self.unets = nn.ModuleList(UNet(cfg) for _ in range(unets))
        self.contexts = nn.ModuleList(nn.Conv2d(d, d, 3, padding=1, bias=cfg.bias) for _ in range(unets - 1))
        self.fusions = nn.ModuleList(BidirectionalFusion(4 * d) for _ in range(unets - 1))
        self.output = nn.Conv2d(d, cfg.out_channels, 3, padding=1, bias=cfg.bias)
        if with_inr:
            # latent (4d, 1/4 of this scale) -> (d, this scale) for the implicit decoder
            self.inr_lift = nn.Sequential(Upsample(4 * d), Upsample(2 * d))
            self.inr = ImplicitDecoder(d, cfg.inr_hidden, cfg.inr_frequencies)
        else:
            self.inr_lift = self.inr = None
        # Reference quirk: the last UNet of the full scale decodes with the level-1 channel
        # reduction of the UNet before it; its own exists in the checkpoint but is never used.
        self.reuse_reduce1 = reuse_reduce1

    def inr_image(self, latent: torch.Tensor) -> torch.Tensor:
        return self.inr(self.inr_lift(latent))

    def run_unets(self, first: Encoding, feedback: list[torch.Tensor] | None
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the chain of UNets from the first one's encoding.

        ``feedback`` (one map per UNet, from the finer scale) is added to each latent before
        decoding. Returns the last decoder's features and the raw (pre-feedback) latents.
        """
        enc, features, latents = first, None, []
        last = len(self.unets) - 1
        for i, unet in enumerate(self.unets):
            if i > 0:
                enc = unet.encode(self.contexts[i - 1](features))
            latents.append(enc.latent)
            latent = enc.latent if feedback is None else enc.latent + feedback[i]
            reduce1 = self.unets[i - 1].reduce1 if self.reuse_reduce1 and i == last and i > 0 else None
            features = unet.decode(latent, enc, reduce1)
        return features, latents

    def feedback(self, latents: list[torch.Tensor]) -> list[torch.Tensor]:
        """Fused pairs of successive latents, halved to the coarser scale's latent size."""
        return [resize_nearest(fuse(a, b), 0.5) for fuse, a, b in zip(self.fusions, latents, latents[1:])]


class NeRDRain(nn.Module):
    """NeRD-Rain / NeRD-Rain-S (the variant is only the width ``cfg.dim``)."""

    def __init__(self, cfg: NeRDRainConfig):
        super().__init__()
        self.config = cfg
        n = len(cfg.unets_per_scale)
        self.scales = nn.ModuleList(
            ScaleBranch(cfg, unets, with_inr=s < n - 1, reuse_reduce1=s == n - 1)
            for s, unets in enumerate(cfg.unets_per_scale)
        )

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The reference's 7 outputs for an input whose sides are multiples of 16:
        [full, 1/2, 1/4 restored, 1/2 INR image, 1/2 input-with-INR / 2, 1/4 INR image, 1/4 input]."""
        n = len(self.scales)
        inputs = [resize_nearest(x, 0.5 ** (n - 1 - s)) if s < n - 1 else x for s in range(n)]

        # 1. coarse to fine: first encodings; INR images refine the next finer input.
        scale_inputs, firsts, inr_images = [], [], []
        for s, branch in enumerate(self.scales):
            inp = inputs[s] if s == 0 else inputs[s] + resize_nearest(inr_images[-1], 2.0)
            first = branch.unets[0].encode(branch.patch_embed(inp))
            scale_inputs.append(inp)
            firsts.append(first)
            if branch.inr is not None:
                inr_images.append(branch.inr_image(first.latent) + inp)

        # 2. fine to coarse: run each scale's UNets with the feedback of the finer scale.
        decoded: list[torch.Tensor] = [x] * n
        feedback = None
        for s in reversed(range(n)):
            decoded[s], latents = self.scales[s].run_unets(firsts[s], feedback)
            feedback = self.scales[s].feedback(latents)

        # 3. coarse to fine: accumulate decoder features upward and predict each scale's image.
        restored, features = [], None
        for s, branch in enumerate(self.scales):
            features = decoded[s] if features is None else decoded[s] + resize_nearest(features, 2.0)
            restored.append(branch.output(features) + inputs[s])

        return [restored[2], restored[1], restored[0],
                inr_images[1], scale_inputs[1] / 2, inr_images[0], inputs[0]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Derain (N, 3, H, W) images in [0, 1] of any size: pad to a multiple of 16, crop back."""
        h, w = x.shape[-2:]
        return self.forward_all(pad_to_multiple(x, SIZE_MULTIPLE))[0][..., :h, :w]
