"""Which torch device a ``device`` setting means (shared by the model loader, engine and trainer)."""
from __future__ import annotations

import torch

from rainstream.errors import RainstreamError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` picks the first CUDA GPU when there is one; asking for a missing GPU is a user error."""
    spec = str(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise RainstreamError(f"`device` must be auto, cpu, cuda or cuda:N, not {spec!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise RainstreamError(f"`device` must be auto, cpu, cuda or cuda:N, not {spec!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RainstreamError(f"`device` {spec} was asked for, but no CUDA GPU is available (try `device` cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RainstreamError(f"`device` {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device
