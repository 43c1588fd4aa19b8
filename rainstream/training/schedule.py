"""Learning-rate schedule: linear warmup, an optional hold at the peak, then cosine decay to a floor.

NeRD-Rain: warmup then cosine 1e-4 -> 1e-6. DRSformer (BasicSR's CosineAnnealingRestartCyclicLR with
periods [92k, 208k] and eta_mins [3e-4, 1e-6]): 3e-4 held for 92k iterations, then cosine to 1e-6.
The reference warms up over epochs; fine-tuning runs are counted in steps, so this one is per step.
A ``LambdaLR`` keeps the schedule inside the scheduler's state_dict for resuming.
"""
from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float,
                         hold_steps: int = 0) -> float:
    """Multiplier of the base lr at ``step`` (0-based): (step+1)/warmup during warmup, 1 for
    ``hold_steps`` more, then cosine down to ``min_ratio`` at ``total_steps``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    start = warmup_steps + hold_steps
    span = max(total_steps - start, 1)
    progress = min(max(step - start, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, lr: float,
                  min_lr: float, hold_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    ratio = min_lr / lr
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, total_steps, warmup_steps, ratio, hold_steps))
