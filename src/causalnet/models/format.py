"""The checkpoint format: a safetensors file whose metadata names the model, its config and extras.

:func:`read_checkpoint_metadata` reads a checkpoint's model name, config and extras from the
safetensors header without loading the weights, with the standard library only (``predict`` starts
its image job before torch is imported); :mod:`causalnet.models.checkpoint` reads and writes the
weights and is the one loader every command and experiment uses. Importing this module imports
neither torch nor numpy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT_FORMAT", "DEFAULT_CLASS_NAMES", "MAX_HEADER_BYTES", "class_names", "read_checkpoint_metadata",
           "uses_mirror_tta"]

#: the ``format`` entry of a causalnet checkpoint's metadata.
CHECKPOINT_FORMAT = "causalnet-checkpoint-v1"
#: Class names by number of model outputs, when the checkpoint does not store its own.
DEFAULT_CLASS_NAMES = {
    3: ("negative", "positive", "surprise"),
    5: ("disgust", "fear", "happiness", "others", "surprise"),
}


def uses_mirror_tta(extra: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's model was trained (and validated) with test-time mirror averaging.

    >>> uses_mirror_tta({"train": {"mirror_tta": True}}), uses_mirror_tta({})
    (True, False)
    """
    train = extra.get("train")
    return isinstance(train, Mapping) and bool(train.get("mirror_tta"))


def class_names(extra: Mapping[str, Any], n: int) -> list[str]:
    """The ``n`` class names stored in a checkpoint's extras, else the defaults for ``n`` classes.

    >>> class_names({}, 3)
    ['negative', 'positive', 'surprise']
    >>> class_names({"class_names": ["a", "b"]}, 2)
    ['a', 'b']
    """
    names = extra.get("class_names")
    if isinstance(names, list | tuple) and len(names) == n:
        return [str(x) for x in names]
    return list(DEFAULT_CLASS_NAMES.get(n, tuple(f"class {k}" for k in range(n))))


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """``{"model": name, "config": dict, "extra": dict}`` of a checkpoint, without loading its weights.

    Reads only the safetensors header (8-byte length + JSON), bounded by :data:`MAX_HEADER_BYTES` and
    by the file's size, with the standard library alone (fast: ``predict`` calls it before importing
    anything heavy). The weights themselves are validated by the safetensors library when loaded.
    Every problem is a ``ValueError`` / ``FileNotFoundError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    meta = _safetensors_metadata(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a causalnet checkpoint (format {meta.get('format')!r})")
    out: dict[str, Any] = {"model": meta.get("model")}
    if not isinstance(out["model"], str) or not out["model"]:
        raise ValueError(f"{path}: the checkpoint names no model")
    for field in ("config", "extra"):
        try:
            value = json.loads(meta.get(field, "{}"))
        except ValueError:
            raise ValueError(f"{path}: the checkpoint's {field!r} metadata is not valid JSON") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}: the checkpoint's {field!r} metadata is a {type(value).__name__}, "
                             "expected a JSON object")
        out[field] = value
    return out


#: largest safetensors header read (the safetensors library's own limit).
MAX_HEADER_BYTES = 100_000_000


def _safetensors_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` string map of a safetensors file's header."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"{path}: not a safetensors checkpoint (no valid header)")
        try:
            header = json.loads(fh.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValueError(f"{path}: not a safetensors checkpoint (header is not JSON)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if meta is None:
        return {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: not a safetensors checkpoint (malformed __metadata__)")
    return meta
