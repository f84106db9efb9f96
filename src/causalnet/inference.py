"""The one prediction path: model inputs -> class probabilities, batched, with test-time mirror averaging.

Everything that runs a trained model on clips goes through :func:`predict_proba` (``causalnet predict``,
``analyze``, ``causalnet convert``, the benchmarks). The input layout lives in
:func:`causalnet.data.mosaic.images_to_input`; the checkpoint format (metadata, class names, whether the
model averages with mirror images) in :mod:`causalnet.models.format`.

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

__all__ = ["predict_proba"]


def predict_proba(model: nn.Module, x: np.ndarray | torch.Tensor, mirror: bool = False, batch_size: int = 256,
                  device: Any = None, amp: bool = False) -> np.ndarray:
    """Class probabilities ``[N, C]`` (float32) of ``model`` (run in eval mode) for inputs ``x [N, 4, 3, 28, 28]``
    (NumPy or a CPU tensor, any real dtype: uint8 inputs are converted batch by batch).

    ``mirror``: average each clip's probabilities with those of its mirror image
    (:func:`causalnet.data.mirror.mirror_clips`), as a model trained with ``train.mirror_tta`` expects.
    ``device``: a ``torch.device`` or a ``--device`` string (``auto|cpu|cuda|cuda:N``, see
    :func:`causalnet.device.resolve_device`); the model is moved there and batches follow it.
    Default: where the model's parameters already are. ``amp``: bfloat16 autocast there (``train.amp``).
    The probabilities come back as NumPy.
    """
    import numpy as np
    import torch

    from causalnet.data.mirror import mirror_clips
    from causalnet.device import autocast

    if device is not None:
        if isinstance(device, str):
            from causalnet.device import resolve_device

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
