"""Pretrained weights shipped inside the package (``causalnet/weights/<name>.safetensors`` + ``<name>.md``).

The one place that finds them: ``causalnet predict`` and ``causalnet analyze`` use
:func:`shipped_checkpoint` when no ``--checkpoint`` is given, ``causalnet models`` lists
:func:`list_shipped`. Each file is an ordinary causalnet checkpoint, read by the one loader
(:func:`causalnet.models.load_checkpoint`, through :func:`load_shipped`); its model card (training data
and licence, recipe, scores, expected input, limits) lies beside it. Importing this module imports
neither torch nor numpy.

>>> DEFAULT_SHIPPED
'compact-composite'
>>> [m.name for m in list_shipped()]
['compact-composite']
>>> shipped_checkpoint().name
'compact-composite.safetensors'
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = ["DEFAULT_SHIPPED", "ShippedModel", "list_shipped", "load_shipped", "shipped_checkpoint", "shipped_model",
           "shipped_notice"]

#: the model used when a command is given no ``--checkpoint``
DEFAULT_SHIPPED = "compact-composite"
#: what the shipped weights may be used for (their training data's licences)
USE = "research use"
_SUFFIX = ".safetensors"


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """A shipped checkpoint: its name, file, model card and size in bytes."""

    name: str
    path: Path
    card: Path
    size: int


def weights_dir() -> Path:
    """The package's ``weights`` folder (a real folder: the package is installed unzipped)."""
    folder = importlib.resources.files("causalnet").joinpath("weights")
    return Path(str(folder))


def list_shipped() -> list[ShippedModel]:
    """Every shipped checkpoint (sorted by name)."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    return [ShippedModel(p.name[: -len(_SUFFIX)], p, p.with_suffix(".md"), p.stat().st_size)
            for p in sorted(folder.glob(f"*{_SUFFIX}")) if p.is_file()]


def shipped_model(name: str | None = None) -> ShippedModel:
    """The shipped model ``name`` (default :data:`DEFAULT_SHIPPED`); an error lists the shipped names."""
    name = name or DEFAULT_SHIPPED
    found = {m.name: m for m in list_shipped()}
    if name not in found:
        have = ", ".join(found) or "none (the package was installed without its weights folder)"
        raise FileNotFoundError(f"no shipped model {name!r}; shipped: {have}")
    return found[name]


def shipped_checkpoint(name: str | None = None) -> Path:
    """The path of the shipped checkpoint ``name`` (default :data:`DEFAULT_SHIPPED`)."""
    return shipped_model(name).path


def load_shipped(name: str | None = None) -> nn.Module:
    """The shipped model ``name``, loaded by :func:`causalnet.models.load_checkpoint` (eval mode)."""
    from causalnet.models.checkpoint import load_checkpoint

    return load_checkpoint(shipped_checkpoint(name))


def shipped_notice(name: str | None = None) -> str:
    """The one line a command prints when it falls back on a shipped model."""
    model = shipped_model(name)
    return (f"using the shipped model {model.name} ({USE}; see its card: causalnet models, {model.card}); "
            f"--checkpoint CKPT to use another")
