"""Pretraining and initialising members from a pretrained checkpoint (``train.init``), then fine-tuning.

A checkpoint written by ``causalnet train --save-model`` (e.g. trained on a large synthetic set made
by ``causalnet synth`` and preprocessed like the real data — sim-to-real) can initialise every ensemble
member of every fold; each member then fine-tunes it on its own training subjects. The checkpoint must
hold the same registered model with the same config (the check names the first field that differs).

Self-supervised pretraining (``causalnet train --save-model P --objective masked``): labels are not used.
:class:`MaskedReconstruction` hides half of the 7 × 7 patches of every input image and trains the model's
feature extractor, through a linear decoder, to reconstruct the hidden pixels (a masked autoencoder on
the flow images and direction maps). Run on a folder's every clip, test subjects included, it is
**transductive** (it sees the test subjects' unlabelled images), as ``train.input_norm=subject`` is.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from causalnet.models.auxiliary import feature_width

__all__ = ["OBJECTIVES", "MaskedReconstruction", "init_members", "load_init"]

#: training objectives of ``train_all``: ``classify`` (the labels) or ``masked`` (self-supervised)
OBJECTIVES = ("classify", "masked")


def load_init(path: str | Path, model_name: str, config) -> dict[str, torch.Tensor]:
    """The weights of the checkpoint at ``path`` (read by :func:`causalnet.models.load_checkpoint`, the one
    checkpoint reader), after checking that they are ``model_name`` with ``config``; every problem is a
    ``ValueError`` naming ``train.init``, the file and the first differing field.

    ``path`` is a file: ``train.init=synthetic`` is resolved by the driver before any fold starts
    (:func:`causalnet.train.simtoreal.resolve_experiment`), so workers receive a path.
    """
    from causalnet.config import first_difference
    from causalnet.models.checkpoint import load_checkpoint

    if str(path) == "synthetic":
        raise ValueError("train.init=synthetic has not been resolved to a checkpoint path; resolve it first "
                         "(causalnet.train.simtoreal.resolve_experiment)")
    try:
        model = load_checkpoint(path)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"train.init {exc}") from None
    if model.model_name != model_name:
        raise ValueError(f"train.init {path}: holds model {model.model_name!r}, the run trains {model_name!r}")
    diff = first_difference(model.config.to_dict(), config.to_dict())
    if diff is not None:
        raise ValueError(f"train.init {path}: the checkpoint's model config differs from the run's "
                         f"(model.{diff.replace('requested', 'run')})")
    return model.state_dict()


def init_members(models: list[nn.Module], path: str | Path, model_name: str, config) -> None:
    """Load the checkpoint at ``path`` into every model of ``models`` (in place)."""
    state = load_init(path, model_name, config)
    for model in models:
        model.load_state_dict(state, strict=True)


class MaskedReconstruction(nn.Module):
    """A model trained to reconstruct hidden patches of its inputs from its pre-head features.

    ``forward_train(x, y)`` (the training loop's hook, :mod:`causalnet.models.auxiliary`) draws a mask
    per image (``[B, I]`` images, a ``patch × patch`` grid, ``ratio`` of the patches hidden, all channels
    of a patch together), sets the hidden pixels to mid-grey (127.5 of 0–255), and returns constant zero
    logits — the loop's cross-entropy on them is the constant log C, without gradient — and the mean
    squared error of the decoder's reconstruction on the hidden pixels (targets ``x / 255``) as the loss.
    ``forward(x)`` is the wrapped model's. The labels ``y`` are not used.

    Args:
        model: a registered model with ``forward_features(x) -> [B, F]`` and ``head``.
        example: one input ``[1, I, C, H, W]`` (sizes the decoder ``F -> I*C*H*W``).
        ratio: fraction of patches hidden per image; patch: side of a patch in pixels (divides H and W).
    """

    def __init__(self, model: nn.Module, example: Tensor, ratio: float = 0.5, patch: int = 7) -> None:
        super().__init__()
        if example.dim() != 5 or example.shape[-1] % patch or example.shape[-2] % patch:
            raise ValueError(f"masked pretraining needs inputs [B, I, C, H, W] with H, W multiples of {patch}, "
                             f"got {list(example.shape)}")
        if not 0 < ratio < 1:
            raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
        self.model, self.ratio, self.patch = model, ratio, patch
        self.shape = tuple(example.shape[1:])
        self.decoder = nn.Linear(feature_width(model, example, "masked pretraining"), example[0].numel())

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def mask(self, x: Tensor) -> Tensor:
        """Boolean mask ``[B, I, 1, H, W]`` of hidden pixels (a ``ratio`` of the patches of each image)."""
        b, i, _, h, w = x.shape
        gh, gw = h // self.patch, w // self.patch
        hidden = torch.rand(b, i, gh * gw, device=x.device).argsort(dim=-1) < round(self.ratio * gh * gw)
        grid = rearrange(hidden, "b i (gh gw) -> b i gh gw", gh=gh)
        return repeat(grid, "b i gh gw -> b i 1 (gh ph) (gw pw)", ph=self.patch, pw=self.patch)

    def forward_train(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(zero logits ``[B, C]``, reconstruction loss ``[]``) for inputs ``x [B, I, C, H, W]`` (0–255)."""
        hidden = self.mask(x)
        masked = torch.where(hidden, torch.full_like(x, 127.5), x)
        features = self.model.forward_features(masked)
        recon = self.decoder(features).view(-1, *self.shape).float()
        weight = hidden.expand_as(x).float()
        loss = (F.mse_loss(recon, x.float() / 255.0, reduction="none") * weight).sum() / weight.sum().clamp(min=1)
        logits = self.model.head(features).detach() * 0.0  # constant: the cross-entropy adds no gradient
        return logits, loss
