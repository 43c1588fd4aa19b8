"""Weight files of any architecture: reading official .pth / our .safetensors, writing safetensors.

Reading only unwraps containers; which architecture a state dict belongs to and how its names map
onto ours is the registry's business (``rainstream.model.registry``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from loguru import logger

from rainstream.errors import CheckpointError

# Containers official checkpoints put the weights in, in the order they are looked for. BasicSR
# (DRSformer, MSPFN ports) saves {'params': ...} and, when trained with an EMA copy, also
# 'params_ema'; BasicSR's test configs (param_key_g: params_ema), Real-ESRGAN and spandrel take the
# EMA weights when both are present, so we do too. NeRD-Rain saves {'state_dict', 'epoch', 'optimizer'}.
WRAPPER_KEYS = ("params_ema", "params", "state_dict")


def strip_wrappers(state: dict) -> dict[str, torch.Tensor]:
    """Unwrap ``{'params_ema' | 'params' | 'state_dict': ...}`` and drop ``module.`` prefixes (saved
    from DataParallel / DDP); non-tensor entries (epoch, optimizer state) are left out."""
    for key in WRAPPER_KEYS:
        if isinstance(state.get(key), dict):
            if key == "params_ema" and isinstance(state.get("params"), dict):
                logger.debug("checkpoint holds params and params_ema: using params_ema (BasicSR's test-time choice)")
            state = state[key]
            break
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The float32 state dict of a ``.safetensors`` or PyTorch ``.pth``/``.pt`` file, unwrapped but
    with its own key names, and the safetensors metadata (empty for .pth)."""
    path = Path(path)
    from rainstream.model.tf_checkpoint import is_tf_checkpoint

    if is_tf_checkpoint(path):  # models never read TensorFlow files at run time
        raise CheckpointError(f"{path} is a TensorFlow checkpoint: convert it once with "
                              f"`rainstream convert {path} -o model.safetensors` and use that file")
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    metadata: dict[str, str] = {}
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                metadata = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one line in our words, no traceback
        raise CheckpointError(_unreadable(path, exc)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    if metadata.get(TENSORS_SHA256) and metadata[TENSORS_SHA256] != tensors_sha256(state):
        raise CheckpointError(f"{path} is damaged: its tensors do not match the sha256 in its metadata")
    state = strip_wrappers(state)
    if not state:
        raise CheckpointError(f"{path} holds no weight tensors")
    damaged = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if damaged:
        raise CheckpointError(f"{path} is damaged: {len(damaged)} weight tensor(s) hold NaN or Inf values "
                              f"(e.g. {damaged[0]})")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, metadata


# Safetensors metadata key of the sha256 over the tensors (a file cannot hold its own file hash).
TENSORS_SHA256 = "tensors_sha256"


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of the tensors, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _unreadable(path: Path, exc: Exception) -> str:
    """Why a weights file cannot be read, without torch's advice to load it with ``weights_only=False``
    (which would let the file run code)."""
    text = str(exc)
    if path.suffix == ".safetensors":
        detail = text.splitlines()[0] if text else type(exc).__name__
        return f"cannot read weights {path}: not a valid safetensors file, or damaged ({detail})"
    if any(word in text for word in ("Unsupported global", "unsupported GLOBAL", "can still be loaded")):
        return (f"cannot read weights {path}: it holds Python objects besides tensors and numbers, which "
                "are never loaded (they could run code); save the model's state_dict() instead")
    return (f"cannot read weights {path}: not a PyTorch or safetensors weights file, or damaged "
            f"({type(exc).__name__})")


def write_safetensors(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None,
                      half: bool = False) -> None:
    """Write our-named weights atomically (temporary name in the same folder, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    tmp = path.with_name(f".{path.name}.part")
    save_file(tensors, str(tmp), metadata={**(metadata or {}), TENSORS_SHA256: tensors_sha256(tensors)})
    tmp.chmod(0o644)  # safetensors creates its file 0600; weights are meant to be shared
    tmp.replace(path)
