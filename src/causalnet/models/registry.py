"""A registry of named models, each with its own config dataclass (timm-style).

``register_model("name", ConfigClass)`` decorates a model class whose constructor takes one config;
``create_model("name", config_or_preset_or_dict)`` builds it. The training loop only relies on the
common interface: ``model(x)`` with ``x [B, 4, 3, 28, 28]`` -> logits ``[B, num_classes]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its class and its config class (with presets)."""

    name: str
    model_cls: type[nn.Module]
    config_cls: type


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, config_cls: type) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a model under ``name`` with its config class."""

    def wrap(model_cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY and _REGISTRY[name].model_cls is not model_cls:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, model_cls, config_cls)
        model_cls.model_name = name
        return model_cls

    return wrap


def list_models() -> list[str]:
    """Names of all registered models."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; a clear error lists the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {list_models()}")
    return _REGISTRY[name]


def make_config(name: str, config: Any = None) -> Any:
    """Resolve ``config`` for model ``name``: an instance, a preset name, a dict, or None (default)."""
    cls = get_entry(name).config_cls
    if config is None:
        return cls()
    if isinstance(config, cls):
        return config
    if isinstance(config, str):
        return cls.preset(config)
    if isinstance(config, Mapping):
        return cls.from_dict(config)
    raise TypeError(f"cannot make a {cls.__name__} from {type(config).__name__}")


def create_model(name: str, config: Any = None) -> nn.Module:
    """Build the registered model ``name`` from a config, a preset name or a dict."""
    entry = get_entry(name)
    return entry.model_cls(make_config(name, config))
