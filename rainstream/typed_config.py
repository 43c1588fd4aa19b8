"""Typed, frozen config dataclasses filled from YAML mappings and ``key=value`` overrides.

One machinery for every config of the project (training, ``rainstream run``): a config is a frozen
dataclass whose fields are plain values or nested section dataclasses. Values are type-checked
against the annotations (one line naming the key, the value and the expected type); a misspelt key
is an error that names the closest valid keys. Overrides use dotted names (``optim.lr=2e-4``) and
Python literal syntax (``ast.literal_eval``); anything that is not a literal stays a string, so
paths need no quotes.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

from rainstream.errors import RainstreamError


def is_section(tp: Any) -> bool:
    """A nested config section: a dataclass type."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation, for the dataclass's init fields only."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """All dotted keys a config (or an override) may set."""
    keys = []
    for name, tp in field_types(cls).items():
        if is_section(tp):
            keys.extend(valid_keys(tp, f"{prefix}{name}."))
        else:
            keys.append(prefix + name)
    return keys


def unknown_key_error(key: str, cls: type) -> RainstreamError:
    """``unknown config key 'x'; did you mean a or b?`` (or the valid keys of its section)."""
    keys = valid_keys(cls)
    # Compare the last part with the last parts (a misspelt name), then whole keys (a wrong section).
    by_leaf: dict[str, list[str]] = {}
    for k in keys:
        by_leaf.setdefault(k.rpartition(".")[2], []).append(k)
    close = [k for leaf in difflib.get_close_matches(key.rpartition(".")[2], list(by_leaf), n=3, cutoff=0.6)
             for k in by_leaf[leaf]][:3]
    close = close or difflib.get_close_matches(key, keys, n=3, cutoff=0.75)
    if close:
        return RainstreamError(f"unknown config key {key!r}; did you mean {' or '.join(close)}?")
    section = key.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == section] or keys
    return RainstreamError(f"unknown config key {key!r}; valid keys: {', '.join(siblings)}")


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "list of " + ", ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def check_type(key: str, value: Any, tp: Any) -> Any:
    """Accept ``value`` for a field annotated ``tp`` (ints for floats, lists for tuples) or fail in one line."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return check_type(key, value, option)
            except RainstreamError:
                continue
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            args = typing.get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(check_type(key, v, args[0]) for v in value)
            if len(args) == len(value):
                return tuple(check_type(key, v, a) for v, a in zip(value, args))
    elif tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:  # NaN (YAML .nan) compares false with everything: no setting means it
            raise RainstreamError(f"config key {key!r} expects a number, got nan")
        return float(value)
    elif tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif tp in (str, bool, dict) and isinstance(value, tp):
        return value
    elif tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a folder named 2024 is still a path
    raise RainstreamError(f"config key {key!r} expects {type_name(tp)}, got {value!r}")


def build(cls: type, values: dict[str, Any], prefix: str = "", root: type | None = None) -> Any:
    """``cls`` from a nested mapping, every value type-checked; unknown keys name the closest valid ones
    (searched among all keys of ``root``, the top-level config)."""
    if not isinstance(values, dict):
        raise RainstreamError(f"config section {prefix.rstrip('.') or 'top level'!r} must be a mapping, "
                              f"got {values!r}")
    types_ = field_types(cls)
    root = root or cls
    kwargs = {}
    for key, value in values.items():
        dotted = prefix + str(key)
        if key not in types_:
            raise unknown_key_error(dotted, root)
        tp = types_[key]
        kwargs[key] = build(tp, value or {}, dotted + ".", root) if is_section(tp) else check_type(dotted, value, tp)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=2e-4"`` -> ``("optim.lr", 0.0002)``; non-literals stay strings (paths)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RainstreamError(f"override {text!r} must look like key=value (e.g. optim.lr=2e-4)")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


def set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """``values["a"]["b"] = value`` for ``key = "a.b"``, creating sections as needed."""
    node = values
    *parents, leaf = key.split(".")
    for n, part in enumerate(parents):
        if node.get(part) is not None and not isinstance(node[part], dict):
            section = ".".join(parents[:n + 1])
            raise RainstreamError(f"config section {section!r} must be a mapping, got {node[part]!r}")
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def apply_overrides(values: dict[str, Any], overrides: list[str], cls: type) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy); unknown keys fail naming the closest valid ones."""
    result = deep_copy(values)
    known = set(valid_keys(cls))
    for text in overrides:
        key, value = parse_override(text)
        if key not in known:
            raise unknown_key_error(key, cls)
        set_dotted(result, key, value)
    return result


def deep_copy(values: dict[str, Any]) -> dict[str, Any]:
    return {k: deep_copy(v) if isinstance(v, dict) else v for k, v in values.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping (``yaml.safe_load``); a missing file or bad YAML is one line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise RainstreamError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RainstreamError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise RainstreamError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if not isinstance(values, dict):
        raise RainstreamError(f"{path} must hold a mapping of config keys")
    return values


def to_plain(value: Any) -> Any:
    """A config as YAML/JSON-friendly nested dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
