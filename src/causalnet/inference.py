"""The one inference path: a clip's four images -> model input -> class probabilities.

Everything that runs a trained model on clips goes through here (``causalnet predict``, ``analyze``,
``causalnet convert``, the data loader's input layout, the robustness inputs, the benchmarks):

- :func:`images_to_input`: four 28x28 BGR images per clip (``[..., 4, 28, 28, 3]``, as OpenCV reads
  them) -> the facial-block mosaics (SPEC §2) in the model's layout ``[..., 4, 3, 28, 28]``,
  0-255 values (float32 by default);
- :func:`predict_proba`: batched class probabilities, averaged with the mirror image of every clip
  when the model was trained with test-time mirror averaging (:func:`uses_mirror_tta`);
- :func:`class_names`: the checkpoint's class names, or the defaults for its number of outputs;
- :func:`read_checkpoint_metadata`: a checkpoint's model name, config and extras, read from the
  safetensors header without loading the weights and with the standard library only (``predict``
  starts its image job before torch is imported).

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

#: the ``format`` entry of a causalnet checkpoint's metadata.
CHECKPOINT_FORMAT = "causalnet-checkpoint-v1"
#: Class names by number of model outputs, when the checkpoint does not store its own.
DEFAULT_CLASS_NAMES = {
    3: ("negative", "positive", "surprise"),
    5: ("disgust", "fear", "happiness", "others", "surprise"),
}
#: images per clip and their size (SPEC §2).
NUM_IMAGES, IMAGE_SIZE, CHANNELS = 4, 28, 3


def images_to_input(images: np.ndarray | Sequence[np.ndarray], dtype: Any = None) -> np.ndarray:
    """Clips' four images ``[..., 4, 28, 28, 3]`` (BGR, 0-255) -> model input ``[..., 4, 3, 28, 28]``.

    Each image becomes its facial-block mosaic (:func:`causalnet.data.mosaic.facial_mosaic`); values
    are kept (0-255), cast to ``dtype`` (default float32). An empty sequence gives ``[0, 4, 3, 28, 28]``.
    """
    import numpy as np

    from causalnet.data.mosaic import facial_mosaic

    dtype = np.float32 if dtype is None else dtype
    if len(images) == 0:
        return np.zeros((0, NUM_IMAGES, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), dtype)
    arr = np.asarray(images)
    if arr.shape[-4:] != (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE, CHANNELS):
        raise ValueError(f"expected clips of four {IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS} images "
                         f"[..., {NUM_IMAGES}, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}], got shape {arr.shape}")
    return np.ascontiguousarray(np.moveaxis(facial_mosaic(arr), -1, -3), dtype=dtype)


def uses_mirror_tta(extra: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's model was trained (and validated) with test-time mirror averaging."""
    train = extra.get("train")
    return isinstance(train, Mapping) and bool(train.get("mirror_tta"))


def class_names(extra: Mapping[str, Any], n: int) -> list[str]:
    """The ``n`` class names stored in a checkpoint's extras, else the defaults for ``n`` classes."""
    names = extra.get("class_names")
    if isinstance(names, list | tuple) and len(names) == n:
        return [str(x) for x in names]
    return list(DEFAULT_CLASS_NAMES.get(n, tuple(f"class {k}" for k in range(n))))


def predict_proba(model: nn.Module, x: np.ndarray | torch.Tensor, mirror: bool = False, batch_size: int = 256,
                  device: Any = None, amp: bool = False) -> np.ndarray:
    """Class probabilities ``[N, C]`` (float32) of ``model`` (run in eval mode) for inputs ``x [N, 4, 3, 28, 28]``
    (NumPy or a CPU tensor, any real dtype: uint8 inputs are converted batch by batch).

    ``mirror``: average each clip's probabilities with those of its mirror image
    (:func:`causalnet.data.mirror.mirror_clips`), as a model trained with ``train.mirror_tta`` expects.
    ``device``: a ``torch.device`` or a ``--device`` string (``auto|cpu|cuda|cuda:N``, see
    :func:`causalnet.engine.device.resolve_device`); the model is moved there and batches follow it.
    Default: where the model's parameters already are. ``amp``: bfloat16 autocast there (``train.amp``).
    The probabilities come back as NumPy.
    """
    import numpy as np
    import torch

    from causalnet.data.mirror import mirror_clips
    from causalnet.engine.device import autocast

    if device is not None:
        if isinstance(device, str):
            from causalnet.engine.device import resolve_device

            device = resolve_device(device)
        model.to(device)
    else:
        device = next(model.parameters(), torch.empty(0)).device
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                batch = np.asarray(x[start: start + batch_size], dtype=np.float32)
                if mirror:
                    batch = np.concatenate([batch, mirror_clips(batch)])
                with autocast(device, amp):
                    logits = model(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
                probs = logits.float().softmax(dim=-1)
                if mirror:
                    probs = _mean_with_mirror(probs)
                out.append(probs.cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _mean_with_mirror(probs):
    """``[2N, C]`` probabilities of N clips followed by their N mirror images -> their mean ``[N, C]``."""
    from einops import reduce

    return reduce(probs, "(two n) c -> n c", "mean", two=2)


# -- checkpoint metadata ---------------------------------------------------------------------------
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
