"""A registry of named models, each with its own config dataclass (timm-style).

``register_model("name", ConfigClass)`` decorates a model class whose constructor takes one config;
``create_model("name", config_or_preset_or_dict)`` builds it. The training loop only relies on the
common interface: ``model(x)`` with ``x [B, 4, 3, 28, 28]`` -> logits ``[B, num_classes]``.

Every config that :func:`make_config` returns has been built once on PyTorch's ``meta`` device
(no memory is allocated): a config whose fields are each in range but do not fit together, or
whose model would exceed :data:`MAX_PARAMETERS`, is a clear ValueError before anything is built.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

#: Largest model :func:`make_config` accepts (2e9 parameters = 8 GB of float32 weights; the paper's
#: CausalNet has 2.8e8). Keeps a crafted config (a checkpoint's, ``--set``) from exhausting memory.
MAX_PARAMETERS = 2_000_000_000


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


def _load_builtin_models() -> None:
    """Import the built-in model modules (they register themselves); once, on the first look-up."""
    import importlib

    importlib.import_module("causalnet.models.zoo")


def list_models() -> list[str]:
    """Names of all registered models."""
    _load_builtin_models()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; a clear error lists the known names."""
    if name not in _REGISTRY:
        _load_builtin_models()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {list_models()}")
    return _REGISTRY[name]


def make_config(name: str, config: Any = None) -> Any:
    """Resolve ``config`` for model ``name``: an instance, a preset name, a dict, or None (default).

    The result is checked to build a model of at most :data:`MAX_PARAMETERS` (:func:`check_buildable`).
    """
    cls = get_entry(name).config_cls
    if config is None:
        config = cls()
    elif isinstance(config, str):
        config = cls.preset(config)
    elif isinstance(config, Mapping):
        config = cls.from_dict(config)
    elif not isinstance(config, cls):
        raise ValueError(f"cannot make a {cls.__name__} from {type(config).__name__}")
    check_buildable(name, config)
    return config


def check_buildable(name: str, config: Any) -> int:
    """Build model ``name`` on the ``meta`` device (nothing allocated); return its parameter count.

    Raises:
        ValueError: the config does not build (fields that do not fit together, e.g. a width that
            the heads do not divide), or the model would have more than :data:`MAX_PARAMETERS`.
    """
    return _count_parameters(name, json.dumps(config.to_dict(), sort_keys=True))


@functools.lru_cache(maxsize=64)
def _count_parameters(name: str, config_json: str) -> int:
    entry = get_entry(name)
    config = entry.config_cls.from_dict(json.loads(config_json))
    try:
        with torch.device("meta"), _UninitialisedRandom():
            model = entry.model_cls(config)
    except Exception as exc:  # any failure to build is a config error, reported as one line
        raise ValueError(f"{entry.config_cls.__name__}: these settings do not build a {name} model "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"{entry.config_cls.__name__}: these settings make a {name} model of {count:.3g} parameters "
                         f"({4 * count / 2**30:.0f} GiB), more than the {MAX_PARAMETERS:.0e} allowed; "
                         "reduce its sizes (dim, depths, head widths)")
    return count


class _UninitialisedRandom(TorchFunctionMode):
    """``torch.randn``/``torch.rand`` return uninitialised meta tensors: on ``meta`` they would first
    import PyTorch's symbolic-shape machinery (about a second), and their values do not matter here."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.randn, torch.rand):
            size = args[0] if len(args) == 1 and isinstance(args[0], tuple | list | torch.Size) else args
            return torch.empty(size, dtype=kwargs.get("dtype"), device="meta", requires_grad=kwargs.get(
                "requires_grad", False))
        return func(*args, **kwargs)


def create_model(name: str, config: Any = None) -> nn.Module:
    """Build the registered model ``name`` from a config, a preset name or a dict."""
    entry = get_entry(name)
    return entry.model_cls(make_config(name, config))
