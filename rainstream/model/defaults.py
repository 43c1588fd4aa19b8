"""The default weights shipped in ``models/`` and their checksums (verified on every load)."""
from __future__ import annotations

import os
from pathlib import Path

from rainstream.errors import CheckpointError
from rainstream.model.checkpoint import sha256_of

# variant -> (file name in models/, sha256 of that file). The model card sits next to the file.
DEFAULT_WEIGHTS: dict[str, tuple[str, str]] = {
    # models/nerd_rain_s.md: preview weights trained on CPU on synthetic rain; see their limits there.
    "nerd_rain_s": ("nerd_rain_s.safetensors", "3898a40626e838325bf9358d7825ef68cafd2cb8c5faba945b95d287d67df1a2"),
}


def models_dir() -> Path:
    """``models/`` of the source tree, or ``$RAINSTREAM_MODELS`` (read at each call, for tests)."""
    return Path(os.environ.get("RAINSTREAM_MODELS") or Path(__file__).resolve().parents[2] / "models")


def verify_checksum(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"{path} is corrupt or was changed: sha256 {actual[:12]}... does not match "
                              f"the expected {expected[:12]}...; restore it (git checkout) or pass --weights")


def default_weights(variant: str | None) -> Path | None:
    """Path of the bundled weights for ``variant`` after checking their sha256, or None."""
    if variant not in DEFAULT_WEIGHTS:
        return None
    name, digest = DEFAULT_WEIGHTS[variant]
    path = models_dir() / name
    if not path.is_file():
        raise CheckpointError(f"bundled weights {path} are missing; reinstall or pass --weights")
    verify_checksum(path, digest)
    return path
