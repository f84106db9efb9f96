"""Typed configuration helpers shared by every config dataclass.

Configs are plain dataclasses. :class:`PresetMixin` gives them named presets
(``Config.preset("paper")``), dictionary round-trips for ``config.json``,
``key=value`` overrides for the command line's ``--set`` and validation of every field.

Validation: each config class declares the allowed range of its fields in a ``FIELD_CHECKS``
table (:class:`causalnet.checks.Check` values built with ``between``, ``at_least``, ``positive``,
``one_of``, or ``ANY`` for a deliberately unbounded field); the type comes from the annotation.
Every construction — a preset, ``from_dict`` of a stored config, ``with_overrides`` of ``--set``
values — checks all fields *before* the class's own ``__post_init__`` runs, so a bad value is
one line naming the field and its range (``TrainConfig.epochs: must be an integer in [1, 100000],
got -1``) before any work starts. Sizes (widths, depths, image sizes, epochs, ...) have upper
bounds so that a crafted config cannot make the program allocate absurd amounts of memory.

>>> from causalnet.checks import between
>>> @dataclasses.dataclass
... class Demo(PresetMixin):
...     epochs: int = 10
...     FIELD_CHECKS: ClassVar[dict] = {"epochs": between(1, 1000)}
>>> Demo(epochs=0)
Traceback (most recent call last):
...
ValueError: Demo.epochs: must be an integer in [1, 1000], got 0
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from causalnet.checks import Check, check_fields

T = TypeVar("T", bound="PresetMixin")


class PresetMixin:
    """Mixin for config dataclasses: named presets, ``to_dict``/``from_dict``, ``with_overrides``,
    and validation of every field on construction (see the module docstring)."""

    PRESETS: ClassVar[dict[str, Callable[[], Any]]]
    #: field name -> allowed range or choices (the type comes from the annotation)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {}
    #: fields added after results keyed by this config were first stored (fold folders, input caches,
    #: pretrained checkpoints), each with the value that reproduces the behaviour from before it existed;
    #: :func:`config_signature` leaves such a field out at that value, so that adding a switched-off field
    #: keeps finished work valid. tests/test_signatures.py fails until a new field is listed here (or the
    #: change of results is deliberate and its recorded signature updated).
    LATER_FIELDS: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass's own __post_init__ (cross-field rules, normalisation) runs after the field checks.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")
        if own is not None and not getattr(own, "_checks_fields", False):

            @functools.wraps(own)
            def __post_init__(self: Any, *args: Any, **kw: Any) -> None:
                check_fields(self)
                own(self, *args, **kw)

            __post_init__._checks_fields = True  # type: ignore[attr-defined]
            cls.__post_init__ = __post_init__  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        check_fields(self)

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
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__name__}: expected a mapping of field names to values, got {type(data).__name__}")
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
            try:
                changes[key] = _coerce(parse_value(value) if parse else value, hints[key])
            except OverflowError:  # an integer beyond any float, e.g. --set noise_sigma=1e999 written out
                raise ValueError(f"{type(self).__name__}.{key}: {str(value)[:40]!r} is too large a number") from None
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
    except ValueError:  # not JSON (or an integer too long to convert): a string or a list
        if "," in lowered:
            return [parse_value(part) for part in lowered.split(",")]
        return lowered


def _coerce(value: Any, hint: Any) -> Any:
    """Coerce JSON values to the annotated type (lists to tuples, ints to floats, a number to a
    one-item tuple). Values that do not fit are left as they are for the field checks to report."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        return None
    if origin is tuple:
        if isinstance(value, list | tuple):
            items = args[0] if len(args) == 2 and args[1] is Ellipsis else None
            if items is None and len(args) == len(value):
                return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
            return tuple(_coerce(v, items) if items is not None else v for v in value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _coerce([value], hint)  # "--set sigmas=10" -> (10.0,)
        return value
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0]) if len(non_none) == 1 else value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
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


def config_signature(obj: Any) -> Any:
    """What results keyed by a config depend on, for the hashes that name fold folders, caches and
    checkpoints: the config as JSON values (like ``to_dict``), nested configs included, less each
    :attr:`PresetMixin.LATER_FIELDS` entry at its neutral value. A config without such entries gives its
    ``to_dict()``; non-config values pass through as JSON values."""
    return json.loads(json.dumps(_signature(obj)))


def _signature(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        later = getattr(type(obj), "LATER_FIELDS", {})
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name in later and _as_json(value) == _as_json(later[f.name]):
                continue
            out[f.name] = _signature(value)
        return out
    if isinstance(obj, list | tuple):
        return [_signature(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _signature(v) for k, v in obj.items()}
    return obj


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(_signature(value)))


def config_hash(obj: Any, digits: int = 12) -> str:
    """A short, stable hash of a JSON-serialisable object (names of cache and fold folders)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:digits]


def first_difference(stored: Any, requested: Any, prefix: str = "") -> str | None:
    """The first field in which two nested JSON-like values differ, as ``"a.b: stored X, requested Y"``
    (``None``: equal) — the one rule every "this folder/checkpoint holds something else" error uses.
    Keys absent on one side show as ``'<absent>'``.

    >>> first_difference({"train": {"lr": 0.003, "epochs": 40}}, {"train": {"lr": 0.01, "epochs": 40}})
    'train.lr: stored 0.003, requested 0.01'
    >>> first_difference({"a": 1}, {"a": 1}) is None
    True
    """
    if isinstance(stored, dict) and isinstance(requested, dict):
        for key in [*stored, *[k for k in requested if k not in stored]]:
            diff = first_difference(stored.get(key, "<absent>"), requested.get(key, "<absent>"), f"{prefix}{key}.")
            if diff:
                return diff
        return None
    if stored != requested:
        return f"{prefix.rstrip('.')}: stored {stored!r}, requested {requested!r}"
    return None
