"""Fine-tuning NeRD-Rain on paired rain data: the paper's loss, datasets, a resumable DDP trainer."""
from rainstream.training.losses import CharbonnierLoss, EdgeLoss, FFTLoss, NeRDRainLoss
from rainstream.training.pyramid import gaussian_pyramid

__all__ = ["NeRDRainLoss", "CharbonnierLoss", "EdgeLoss", "FFTLoss", "gaussian_pyramid"]
