"""Dataset-adversarial training (issue 16, lever 3): features that do not tell CASME II, SMIC and SAMM apart.

A small classifier (the *domain head*) learns to name the source dataset of each training clip from the
model's pre-head features (``forward_features``), and the gradient it sends back into the features is
reversed and scaled by ``train.adversary`` = λ (a gradient-reversal layer, Ganin & Lempitsky 2015): the
domain head minimises its loss, the feature extractor maximises it, so the features lose what identifies
the dataset (recording set-up, frame rate, face alignment) while the class head keeps what identifies the
emotion. The domain labels are the training clips' own datasets — no test-subject information is used.
At evaluation the wrapped model is the plain model: ``forward(x) = model(x)``.

Training loss per member: ``CE(head(f), y) + CE(domain_head(R_λ(f)), d)`` with ``f = forward_features(x)``
and ``R_λ`` the identity whose gradient is ``-λ`` times the incoming one; λ is constant over training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causalnet.models.auxiliary import feature_width, has_training_hook

__all__ = ["DomainAdversarial", "pack_targets", "reverse_gradient"]

#: width of the domain head's hidden layer
DOMAIN_HIDDEN = 64


def reverse_gradient(x: Tensor, weight: float) -> Tensor:
    """The identity in the forward pass whose backward pass multiplies the gradient by ``-weight``.

    Written as ``(1 + w) * stop_grad(x) - w * x`` so that it is a plain tensor expression (it works
    under ``torch.func.vmap`` and ``functional_call`` without a custom autograd function).
    """
    return (1.0 + weight) * x.detach() - weight * x


def pack_targets(y: Tensor, domains: Tensor) -> Tensor:
    """Class and domain labels ``[..., B]`` each → the ``[..., B, 2]`` targets ``forward_train`` takes."""
    return torch.stack([y, domains], dim=-1)


class DomainAdversarial(nn.Module):
    """A model plus a domain head trained through a gradient-reversal layer (see the module docstring).

    Args:
        model: a registered model with ``forward_features(x) -> [B, F]`` and ``head`` (``model(x) ==
            head(forward_features(x))``), and without a training hook of its own.
        num_domains: source datasets (domain labels are ``0..num_domains-1``).
        weight: λ, the scale of the reversed gradient.
        example: one input ``[1, ...]`` to size the domain head (the feature width ``F``).
    """

    def __init__(self, model: nn.Module, num_domains: int, weight: float, example: Tensor) -> None:
        super().__init__()
        if has_training_hook(model):
            raise ValueError(f"train.adversary cannot be combined with {type(model).__name__}'s own training losses")
        if num_domains < 2:
            raise ValueError(f"train.adversary needs at least 2 source datasets, got {num_domains}")
        self.model = model
        self.weight = weight
        width = feature_width(model, example, "train.adversary")
        self.domain_head = nn.Sequential(nn.Linear(width, DOMAIN_HIDDEN), nn.GELU(),
                                         nn.Linear(DOMAIN_HIDDEN, num_domains))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[B, C]`` of the wrapped model."""
        return self.model(x)

    def forward_train(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """``targets [B, 2]`` (class, domain; :func:`pack_targets`) → (class logits ``[B, C]``, domain loss ``[]``)."""
        features = self.model.forward_features(x)
        domain_logits = self.domain_head(reverse_gradient(features, self.weight))
        return self.model.head(features), F.cross_entropy(domain_logits.float(), targets[..., 1])
