"""Official checkpoint names <-> ours, for any architecture: a prefix table plus inner rename rules.

Official implementations name modules flat (``encoder_level1``, ``down1_2.body.0``...); ours are
nested module lists. A :class:`KeyMap` holds the table of official top-level prefixes (wrappers such
as ``.body`` or ``.proj`` included) and the regex rules for names inside blocks, in both
directions, so one tested object converts a whole state dict (timm's ``checkpoint_filter_fn``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

import torch

Replacement = Union[str, Callable[[re.Match], str]]
Rule = tuple[str, Replacement]


@dataclass(frozen=True)
class KeyMap:
    """``modules``: official prefix -> our prefix. ``inner`` (official -> ours) and ``inner_inverse``
    (ours -> official) are (pattern, replacement) rules for what follows the prefix, applied in order
    to the rest *with a leading dot*: ``\\.body\\.`` matches a whole name component anywhere,
    ``^\\.body\\.`` only right after the prefix."""

    modules: Mapping[str, str]
    inner: Sequence[Rule] = ()
    inner_inverse: Sequence[Rule] = ()
    _ours: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ours", {v: k for k, v in self.modules.items()})

    @staticmethod
    def _split(key: str, table: Mapping[str, str]) -> tuple[str, str] | None:
        """The longest prefix of ``key`` (whole dotted components) that is in ``table``, and the rest."""
        parts = key.split(".")
        for n in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:n])
            if prefix in table:
                return prefix, ".".join(parts[n:])
        return None

    @staticmethod
    def _rewrite(rest: str, rules: Sequence[Rule]) -> str:
        rest = "." + rest
        for pattern, repl in rules:
            rest = re.sub(pattern, repl, rest)
        return rest[1:]

    def _map(self, key: str, table: Mapping[str, str], rules: Sequence[Rule]) -> str:
        split = self._split(key, table)
        if split is None:
            return key
        prefix, rest = split
        return f"{table[prefix]}.{self._rewrite(rest, rules)}"

    def to_ours(self, key: str) -> str:
        """One official key in our naming; keys that are not official (ours included) are unchanged."""
        return self._map(key, self.modules, self.inner)

    def to_official(self, key: str) -> str:
        """One of our keys in the official naming (unknown keys unchanged)."""
        return self._map(key, self._ours, self.inner_inverse)

    def convert(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A state dict in either naming -> ours."""
        return {self.to_ours(k): v for k, v in state.items()}
