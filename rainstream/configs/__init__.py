"""The YAML configs shipped with the package (run: ``nerd_rain_s``, ``nerd_rain``; training: ``train_*``).

They are package data, so a wheel install has them too: ``--config nerd_rain_s`` and
``rainstream train train_spa`` find them by name; a path to any other YAML file works as well.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def bundled_config(name_or_path: str | os.PathLike) -> Path:
    """An existing file as given, else the bundled config of that name (``x`` or ``x.yaml``).

    A name that is neither comes back unchanged, so the caller's "does not exist" error names it.
    """
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    name = path.name if path.suffix == ".yaml" else f"{path.name}.yaml"
    bundled = resources.files(__name__) / name
    return Path(str(bundled)) if bundled.is_file() else path
