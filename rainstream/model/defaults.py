"""The default weights shipped in ``models/`` and their checksums (verified on every load)."""
from __future__ import annotations

import os
from pathlib import Path

from rainstream.errors import CheckpointError
from rainstream.model.checkpoint import sha256_of

MODELS_DIR = Path(os.environ.get("RAINSTREAM_MODELS", Path(__file__).resolve().parents[2] / "models"))

# variant -> (file name in models/, sha256). Filled in when default weights are trained.
DEFAULT_WEIGHTS: dict[str, tuple[str, str]] = {}


def verify_checksum(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"{path} is corrupt or was changed: sha256 {actual[:12]}... does not match "
                              f"the expected {expected[:12]}...")


def default_weights(variant: str) -> Path | None:
    """Path of the bundled weights for ``variant`` after checking their sha256, or None."""
    if variant not in DEFAULT_WEIGHTS:
        return None
    name, digest = DEFAULT_WEIGHTS[variant]
    path = MODELS_DIR / name
    if not path.is_file():
        raise CheckpointError(f"bundled weights {path} are missing; reinstall or pass --weights")
    verify_checksum(path, digest)
    return path
