"""Typed configuration helpers shared by every config dataclass.

Configs are plain dataclasses. :class:`PresetMixin` gives them named presets
(``Config.preset("paper")``), dictionary round-trips for ``config.json`` and
``key=value`` overrides for the command line's ``--set``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="PresetMixin")


class PresetMixin:
    """Mixin for config dataclasses: named presets, ``to_dict``/``from_dict``, ``with_overrides``."""

    PRESETS: ClassVar[dict[str, Callable[[], Any]]]

    @classmethod
    def preset(cls: type[T], name: str) -> T:
        """Return the named preset (a fresh instance)."""
        presets = cls.PRESETS
        if name not in presets:
            raise ValueError(f"unknown {cls.__name__} preset {name!r}; choose from {sorted(presets)}")
        return presets[name]()

    @classmethod
    def preset_names(cls) -> list[str]:
        """Names of the available presets."""
        return sorted(cls.PRESETS)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary of every field."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build from a dictionary made by :meth:`to_dict`; unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        hints = typing.get_type_hints(cls)
        kwargs = {k: _coerce(v, hints[k]) for k, v in data.items()}
        return cls(**kwargs)

    def with_overrides(self: T, overrides: Mapping[str, Any]) -> T:
        """A copy with some fields replaced; string values are parsed to the field's type."""
        fields = {f.name for f in dataclasses.fields(self)}
        hints = typing.get_type_hints(type(self))
        changes = {}
        for key, value in overrides.items():
            if key not in fields:
                raise ValueError(f"{type(self).__name__} has no field {key!r}; fields: {sorted(fields)}")
            parse = isinstance(value, str) and hints[key] is not str  # a str field keeps "none" as text
            changes[key] = _coerce(parse_value(value) if parse else value, hints[key])
        return dataclasses.replace(self, **changes)


def parse_key_values(items: list[str] | None) -> dict[str, str]:
    """Command-line ``--set`` items ``["a=1", "train.lr=1e-3"]`` -> ``{"a": "1", "train.lr": "1e-3"}``.

    Values stay strings; :meth:`PresetMixin.with_overrides` parses them to each field's type.
    """
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_value(text: str) -> Any:
    """Parse a command-line value: JSON if it parses (numbers, booleans, lists), else the string."""
    lowered = text.strip()
    if lowered.lower() in {"true", "false"}:
        return lowered.lower() == "true"
    if lowered.lower() in {"none", "null"}:
        return None
    try:
        return json.loads(lowered)
    except json.JSONDecodeError:
        if "," in lowered:
            return [parse_value(part) for part in lowered.split(",")]
        return lowered


def _coerce(value: Any, hint: Any) -> Any:
    """Coerce JSON values to the annotated type (lists to tuples, ints to floats)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        return None
    if origin is tuple:
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0]) if len(non_none) == 1 else value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint is bool and not isinstance(value, bool):
        raise ValueError(f"expected true/false, got {value!r}")
    return value


def split_scopes(overrides: Mapping[str, Any], scopes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Group ``{"scope.field": value}`` overrides by scope — the one ``--set`` syntax of every command.

    ``scopes`` maps each allowed scope to its config (a dataclass or dataclass instance, whose field
    names are checked) or to None (the scope's fields are checked later, by whoever applies them).
    A bare field name or an unknown scope/field is a clear error; for a bare name that belongs to one
    scope the message says which ``scope.field`` to write.
    """
    out: dict[str, dict[str, Any]] = {}
    fields = {name: {f.name for f in dataclasses.fields(cfg)} if cfg is not None else None
              for name, cfg in scopes.items()}
    for key, value in overrides.items():
        scope, dot, name = str(key).strip().partition(".")
        if not dot or not name or not scope:
            owners = [s for s, names in fields.items() if names and key in names]
            hint = f"; did you mean {owners[0]}.{key}?" if len(owners) == 1 else ""
            raise ValueError(f"setting {key!r}: write SCOPE.FIELD=VALUE with SCOPE one of "
                             f"{', '.join(scopes)}{hint}")
        if scope not in scopes:
            raise ValueError(f"setting {key!r}: unknown scope {scope!r}; choose from {', '.join(scopes)}")
        known = fields[scope]
        if known is not None and name not in known:
            cfg = scopes[scope]
            cls = cfg if isinstance(cfg, type) else type(cfg)
            raise ValueError(f"setting {key!r}: {cls.__name__} has no field {name!r}; "
                             f"fields: {', '.join(sorted(known))}")
        out.setdefault(scope, {})[name] = value
    return out


def config_hash(obj: Any, digits: int = 12) -> str:
    """A short, stable hash of a JSON-serialisable object (names of cache and fold folders)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:digits]
