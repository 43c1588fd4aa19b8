"""Training any registered model on paired rain data: its paper's loss, datasets, a resumable DDP trainer."""
from rainstream.training.losses import CharbonnierLoss, EdgeLoss, FFTLoss, NeRDRainLoss, PixelL1Loss
from rainstream.training.pyramid import gaussian_pyramid
from rainstream.training.config import TrainConfig, load_config


__all__ = ["NeRDRainLoss", "PixelL1Loss", "CharbonnierLoss", "EdgeLoss", "FFTLoss", "gaussian_pyramid", "TrainConfig",
           "load_config", "Trainer", "train"]


def __getattr__(name):
    # The trainer pulls in the model and data stacks; import it only when asked for.
    if name in ("Trainer", "train"):
        from rainstream.training import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
