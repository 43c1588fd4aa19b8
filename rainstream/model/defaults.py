"""The default weights shipped as package data in ``rainstream/weights/`` and their checksums.

The checksum is verified on every load. The files are found through the package
(``importlib.resources``), so a wheel install has them too; ``$RAINSTREAM_MODELS`` points elsewhere.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from rainstream.errors import CheckpointError
from rainstream.model.checkpoint import sha256_of

# variant -> (file name in rainstream/weights/, sha256 of that file): the one place that names them.
# The model card sits next to the file.
DEFAULT_WEIGHTS: dict[str, tuple[str, str]] = {
    # rainstream/weights/nerd_rain_s.md: preview weights trained on CPU on synthetic rain; see their limits there.
    "nerd_rain_s": ("nerd_rain_s.safetensors", "f21d8d2535d186a2124683566749c8d0e3115bd2c48c22e9e44518bc1b6e1468"),
}


def models_dir() -> Path:
    """The package's ``weights/`` folder, or ``$RAINSTREAM_MODELS`` (read at each call, for tests)."""
    override = os.environ.get("RAINSTREAM_MODELS")
    return Path(override) if override else Path(str(resources.files("rainstream") / "weights"))


def verify_checksum(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"{path} is corrupt or was changed: sha256 {actual[:12]}... does not match "
                              f"the expected {expected[:12]}...; reinstall rainstream (or git checkout the file) or give other `weights`")


def has_default_weights(variant: str | None) -> bool:
    """Whether weights for ``variant`` ship with the package (nothing is read or checked)."""
    return variant in DEFAULT_WEIGHTS


def default_weights(variant: str | None) -> Path | None:
    """Path of the bundled weights for ``variant`` after checking their sha256, or None."""
    if variant not in DEFAULT_WEIGHTS:
        return None
    name, digest = DEFAULT_WEIGHTS[variant]
    path = models_dir() / name
    if not path.is_file():
        raise CheckpointError(f"bundled weights {path} are missing; reinstall rainstream or give other `weights`")
    verify_checksum(path, digest)
    return path
