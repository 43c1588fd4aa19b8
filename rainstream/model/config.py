"""What every architecture's config dataclass shares: built from a YAML mapping, written back to one."""
from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any, TypeVar, get_type_hints

Config = TypeVar("Config", bound="NetworkConfig")


class NetworkConfig:
    """Mixin for the frozen dataclasses that hold an architecture's numbers (``dim``, blocks, heads...).

    Lists from YAML become tuples (so configs compare and hash), unknown keys fail naming the valid
    ones, and ``to_dict`` gives back plain lists for YAML and safetensors metadata.
    """

    def _freeze_sequences(self) -> None:
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

    @classmethod
    def from_dict(cls: type[Config], values: dict[str, Any], prefix: str = "model.architecture.") -> Config:
        """The config from a mapping; each value type-checked (one line naming the key, value and type)."""
        from rainstream.typed_config import check_type

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; valid keys: {sorted(known)}")
        hints = get_type_hints(cls)
        return cls(**{k: check_type(prefix + k, v, hints[k]) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def with_dim(self: Config, dim: int) -> Config:
        return replace(self, dim=dim)
