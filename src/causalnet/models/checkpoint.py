"""Checkpoints as safetensors: weights in the file, the model name and config in its metadata.

Loading never unpickles anything, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from causalnet.io import atomic_path
from causalnet.models.registry import create_model

FORMAT = "causalnet-checkpoint-v1"


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


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The model name, config dict and extras stored in a checkpoint, without loading weights."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a safetensors checkpoint ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a causalnet checkpoint (format {meta.get('format')!r})")
    return {"model": meta["model"], "config": json.loads(meta["config"]), "extra": json.loads(meta["extra"])}


def load_checkpoint(path: str | os.PathLike) -> nn.Module:
    """Rebuild the model stored at ``path`` and load its weights; returned in eval mode."""
    meta = read_checkpoint_metadata(path)
    model = create_model(meta["model"], meta["config"])
    from safetensors.torch import load_file

    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    model.extra = meta["extra"]
    return model.eval()
