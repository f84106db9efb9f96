"""Checkpoints as safetensors: weights in the file, the model name and config in its metadata.

Loading never unpickles anything, so a checkpoint from an untrusted source cannot run code, and it
never allocates more than the file holds: the stored config is first built on the meta device (no
memory; the registry bounds its size), its tensor shapes are checked against the file's, and only
then are the weights read, straight into the model; weights holding NaN or infinity are refused. This
is the one loader of causalnet checkpoints (``predict``, ``analyze``, ``train.init``, reports); every
error names the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from causalnet.io import atomic_path
from causalnet.models.format import CHECKPOINT_FORMAT, read_checkpoint_metadata
from causalnet.models.registry import create_model

FORMAT = CHECKPOINT_FORMAT

__all__ = ["FORMAT", "build_on_meta", "check_finite", "check_state_shapes", "load_checkpoint", "materialise_buffers",
           "read_checkpoint_metadata", "save_checkpoint"]


def checkpoint_bytes(model: nn.Module, extra: dict[str, Any] | None = None) -> bytes:
    """``model``'s weights, registry name and config as the bytes of a checkpoint file.

    ``extra``: JSON-serialisable facts to keep beside them (e.g. class names, training data).
    """
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError(f"{type(model).__name__} is not a registered model; cannot checkpoint it")
    meta = {
        "format": FORMAT,
        "model": name,
        "config": json.dumps(model.config.to_dict()),
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return save(tensors, metadata=meta)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, extra: dict[str, Any] | None = None) -> None:
    """Write ``model``'s checkpoint (:func:`checkpoint_bytes`) to ``path`` atomically."""
    blob = checkpoint_bytes(model, extra)
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def build_on_meta(name: str, config: Any) -> nn.Module:
    """Build a registered model on the meta device: shapes without memory (the registry refuses
    configs out of range or above :data:`causalnet.models.registry.MAX_PARAMETERS`)."""
    with torch.device("meta"):
        return create_model(name, config)


def materialise_buffers(model: nn.Module) -> nn.Module:
    """Recompute the non-persistent buffers of a model built on the meta device (after loading its weights)."""
    for module in model.modules():
        if any(b.is_meta for b in module.buffers(recurse=False)):
            if not hasattr(module, "reset_buffers"):
                raise TypeError(f"{type(module).__name__} has buffers that cannot be rebuilt (no reset_buffers)")
            module.reset_buffers()
    return model


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: unreadable weights ({str(exc).strip() or type(exc).__name__})") from None


def check_state_shapes(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> None:
    """``ValueError`` naming the first key missing from ``found``, unexpected in it, or of another shape."""
    for key, shape in expected.items():
        if key not in found:
            raise ValueError(f"missing weight {key!r}")
        if tuple(found[key]) != tuple(shape):
            raise ValueError(f"weight {key!r} has shape {list(found[key])}, the config gives {list(shape)}")
    for key in found:
        if key not in expected:
            raise ValueError(f"unexpected weight {key!r}")


def check_finite(state: Mapping[str, torch.Tensor]) -> None:
    """``ValueError`` naming the first floating-point tensor holding NaN or infinity (a model with such weights
    predicts NaN for every input: refused at load, never run).

    >>> check_finite({"w": torch.tensor([1.0, float("nan")])})
    Traceback (most recent call last):
    ...
    ValueError: weight 'w' holds 1 non-finite value(s) (NaN or infinity)
    """
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            count = int((~torch.isfinite(value)).sum())
            raise ValueError(f"weight {key!r} holds {count} non-finite value(s) (NaN or infinity)")


def load_checkpoint(path: str | os.PathLike) -> nn.Module:
    """Rebuild the model stored at ``path`` and load its weights; returned in eval mode.

    The stored config is validated against the weights' shapes before anything is allocated; any
    mismatch is a one-line ``ValueError`` naming the file and the first key that does not fit.
    """
    path = Path(path)
    meta = read_checkpoint_metadata(path)
    shapes = _file_shapes(path)
    try:
        model = build_on_meta(meta["model"], meta["config"])
        check_state_shapes({k: tuple(v.shape) for k, v in model.state_dict().items()}, shapes)
    except (ValueError, TypeError, KeyError, OverflowError, RuntimeError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ValueError(f"{path}: the stored config does not fit its weights: {text}") from None
    from safetensors.torch import load_file

    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    state = {k: v.to(dtypes[k]) for k, v in load_file(str(path)).items()}
    try:
        check_finite(state)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    model.load_state_dict(state, strict=True, assign=True)
    materialise_buffers(model)
    model.extra = meta["extra"]
    return model.eval()

