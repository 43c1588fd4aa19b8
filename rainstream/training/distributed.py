"""Process-group setup for ``torchrun`` (single- and multi-node): read the env vars torchrun sets.

No launcher of our own: ``torchrun --nproc_per_node N -m rainstream.cli.main train ...`` (or the
``rainstream`` script) starts the processes; this module only joins them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files, logs progress and runs validation."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                    int(os.environ.get("WORLD_SIZE", 1)))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when torchrun started several processes (nccl on CUDA, gloo on CPU)."""
    info = env_info()
    if info.enabled and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info


def device_for(requested: str, info: DistInfo) -> torch.device:
    """``auto``: this process's GPU (LOCAL_RANK) if CUDA is available, else the CPU."""
    from rainstream.model import resolve_device

    device = resolve_device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank)
    return device


def all_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over processes (for logging the global loss)."""
    if info.enabled and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values)
        values /= info.world_size
    return values


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
