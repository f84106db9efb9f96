"""The training hook for models with auxiliary losses (e.g. SRMCL's reconstruction and memory losses).

The training loop is model-agnostic: it computes its own cross-entropy on logits. A model that
needs more during training — the labels, a different forward (masking), an extra loss — defines

``forward_train(x, y) -> (logits [B, classes], auxiliary_loss [])``

and the loop adds ``auxiliary_loss`` to its cross-entropy on ``logits``. Models without the method
train as ``(model(x), 0)``. The two functions below are the only places that look for the hook:

- :func:`training_outputs` — for a loop that calls a model directly (``fit``);
- :func:`functional_training_outputs` — the same as a pure function of (stacked) parameters and
  buffers for ``torch.func.vmap`` over ensemble members (``fit_members``):

  >>> from torch.func import stack_module_state, vmap
  >>> from causalnet.models import CausalNet, CausalNetConfig
  >>> members = [CausalNet(CausalNetConfig(dim=8, depths=(1, 1, 1))) for _ in range(2)]
  >>> params, buffers = stack_module_state(members)
  >>> base = members[0].to("meta")
  >>> xb, yb = torch.rand(2, 3, 4, 3, 28, 28) * 255, torch.zeros(2, 3, dtype=torch.long)
  >>> step = vmap(functional_training_outputs(base), in_dims=(0, 0, 0, 0), randomness="different")
  >>> logits, aux = step(params, buffers, xb, yb)
  >>> tuple(logits.shape), tuple(aux.shape)   # [M, B, C], [M]
  ((2, 3, 3), (2,))

Buffers a hook updates in place (SRMCL's prototype memory, BatchNorm statistics) are updated in the
stacked ``buffers`` per member, like BatchNorm's running statistics under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["feature_width", "has_training_hook", "functional_training_outputs", "training_outputs"]

HOOK = "forward_train"


def feature_width(model: nn.Module, example: Tensor, purpose: str) -> int:
    """Width ``F`` of ``model.forward_features(example) -> [B, F]`` (computed in eval mode, without gradients;
    the model's training mode is restored). Sizes the extra heads of training wrappers, which also need
    ``model(x) == model.head(model.forward_features(x))``: a model without both is a ``ValueError`` naming
    ``purpose`` (e.g. ``"train.adversary"``)."""
    if not (hasattr(model, "forward_features") and isinstance(getattr(model, "head", None), nn.Module)):
        raise ValueError(f"{purpose} needs a model with forward_features() and a head; {type(model).__name__} has not")
    was_training = model.training
    with torch.no_grad():
        width = model.eval().forward_features(example.float()).shape[-1]
    model.train(was_training)
    return int(width)


def has_training_hook(model: nn.Module) -> bool:
    """Whether ``model`` defines ``forward_train(x, y) -> (logits, auxiliary_loss)``."""
    return callable(getattr(model, HOOK, None))


def training_outputs(model: nn.Module, x: Tensor, y: Tensor, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """``(logits, auxiliary_loss)`` of one training step: ``model.forward_train(x, y)``, else ``(model(x), 0)``
    (``kwargs``, e.g. an input layout's ``prepared=True``, go to the forward)."""
    if has_training_hook(model):
        return getattr(model, HOOK)(x, y, **kwargs)
    logits = model(x, **kwargs)
    return logits, logits.new_zeros(())


class _TrainingCall(nn.Module):
    """Wraps a model so that ``torch.func.functional_call`` reaches :func:`training_outputs`."""

    def __init__(self, model: nn.Module, kwargs: dict) -> None:
        super().__init__()
        self.model, self.kwargs = model, kwargs

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return training_outputs(self.model, x, y, **self.kwargs)


def functional_training_outputs(model: nn.Module, **kwargs: Any) -> Callable[[dict, dict, Tensor, Tensor],
                                                                             tuple[Tensor, Tensor]]:
    """``(params, buffers, x, y) -> (logits, auxiliary_loss)`` with ``model``'s parameter/buffer names as keys
    (``kwargs`` go to the model's forward)."""
    wrapper = _TrainingCall(model, kwargs)

    def call(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        state = {f"model.{k}": v for k, v in params.items()} | {f"model.{k}": v for k, v in buffers.items()}
        return functional_call(wrapper, state, (x, y))

    return call
