"""Looking inside a trained model: CMPLM attention weights, gradient saliency, pre-head features.

Attention is captured with forward hooks, found by what modules *do* rather than by their class
names: every module inside the model's CMPLM sub-module (the first module whose qualified name
contains ``cmplm``) is hooked, and an output shaped like attention weights ``[B, heads, n, n]`` (the
last two sizes equal) is recorded while CMPLM runs. The sparse-mask module shared with the causal
attention block is therefore only recorded during CMPLM's forward pass. Each CMPLM layer updates the
contraction stream first and the relaxation stream second, so recorded calls alternate between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from causalnet.data.mosaic import mosaic_to_face

#: Name fragment of the module whose attention is captured.
CMPLM_SCOPE = "cmplm"


def find_module(model: nn.Module, fragment: str) -> nn.Module | None:
    """The outermost sub-module whose qualified name contains ``fragment`` (case-insensitive)."""
    for name, module in model.named_modules():
        if name and fragment in name.lower():
            return module
    return None


@contextmanager
def capture_attention(model: nn.Module, scope: str = CMPLM_SCOPE) -> Iterator[list[Tensor]]:
    """Record the attention weights ``[B, heads, n, n]`` computed inside ``scope`` while the block runs.

    Yields the list the weights are appended to (in call order); empty when the model has no such
    module or computes its weights without a sub-module.
    """
    calls: list[Tensor] = []
    root = find_module(model, scope)
    if root is None:
        yield calls
        return
    active = [False]
    seen: set[int] = set()

    def start(*_):
        active[0] = True
        seen.clear()

    def stop(*_):
        active[0] = False

    def record(_module, _inputs, out):
        if active[0] and isinstance(out, Tensor) and out.dim() == 4 and out.shape[-1] == out.shape[-2]:
            key = out.data_ptr()
            if key not in seen:  # a wrapper returning the same tensor is recorded once
                seen.add(key)
                calls.append(out.detach())

    handles = [root.register_forward_pre_hook(start), root.register_forward_hook(stop)]
    handles += [m.register_forward_hook(record) for m in root.modules() if m is not root]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def stream_attention(calls: list[Tensor]) -> list[np.ndarray]:
    """Recorded CMPLM calls ``[B, h, n, n]`` -> per stream ``[B, n, n]`` (mean over heads and layers).

    With an even number of calls they alternate between the two streams; otherwise all are averaged
    into one map.
    """
    if not calls:
        return []
    per_call = [c.float().mean(dim=1).cpu().numpy() for c in calls]
    if len(per_call) % 2:
        return [np.mean(per_call, axis=0)]
    return [np.mean(per_call[0::2], axis=0), np.mean(per_call[1::2], axis=0)]


def gradient_saliency(model: nn.Module, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """|∂ logit_target / ∂ input|, the largest over colour channels, placed back on the face.

    ``x`` ``[B, 4, 3, 28, 28]`` (mosaic inputs, 0-255), ``target`` ``[B]`` -> ``[B, 4, 28, 28]`` in the
    coordinates of the original 28x28 images (:func:`causalnet.data.mosaic.mosaic_to_face`).
    """
    inputs = torch.as_tensor(x, dtype=torch.float32).clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(inputs)
        logits.gather(1, torch.as_tensor(target, dtype=torch.long)[:, None]).sum().backward()
    grad = inputs.grad.abs().amax(dim=2).numpy()
    return mosaic_to_face(grad)


@torch.no_grad()
def model_features(model: nn.Module, x: np.ndarray, batch: int = 256) -> np.ndarray | None:
    """Pre-head features ``[B, F]`` of a model with ``forward_features`` (None without one)."""
    if not hasattr(model, "forward_features"):
        return None
    out = [model.forward_features(torch.as_tensor(x[i: i + batch], dtype=torch.float32)).cpu().numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else None


@torch.no_grad()
def look_inside(model: nn.Module, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Class probabilities ``[B, C]`` and the per-stream CMPLM attention of a batch ``[B, 4, 3, 28, 28]``."""
    with capture_attention(model) as calls:
        probs = model(torch.as_tensor(x, dtype=torch.float32)).softmax(-1).cpu().numpy()
    return probs, stream_attention(calls)
