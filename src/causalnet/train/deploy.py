"""One model trained on every clip: for deployment (``causalnet train --save-model``) or as a
pretrained start (``--objective masked``; the sim-to-real checkpoint of :mod:`causalnet.train.simtoreal`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from causalnet.data.composite import ClipSet
from causalnet.device import resolve_device
from causalnet.models.registry import create_model
from causalnet.train.config import ExperimentConfig
from causalnet.train.inputs import dataset_codes, with_mirror_images
from causalnet.train.loop import fit
from causalnet.train.pretrain import OBJECTIVES, MaskedReconstruction, init_members

__all__ = ["train_all"]


def train_all(clips: ClipSet, cfg: ExperimentConfig, seed: int | None = None,
              on_epoch: Callable[[int], None] | None = None, device: str = "cpu",
              objective: str = "classify") -> nn.Module:
    """Train one model on every clip; returns the model in eval mode, on the CPU.

    ``objective``: ``"classify"`` (the labels) or ``"masked"`` (self-supervised masked reconstruction of
    the inputs, labels unused; :class:`causalnet.train.pretrain.MaskedReconstruction`). ``cfg.train.init``
    is a checkpoint path or ``""``; ``"synthetic"`` must be resolved by the caller first
    (:func:`causalnet.train.simtoreal.resolve_experiment`).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")
    seed = cfg.train.seed if seed is None else seed
    if cfg.train.input_norm != "none":
        raise ValueError(f"train.input_norm={cfg.train.input_norm!r} needs the same centring of every input at "
                         "prediction time, which a deployed model cannot do; train with train.input_norm=none")
    if cfg.train.stack != "none":
        raise ValueError(f"train.stack={cfg.train.stack!r}: a saved model holds the network only; "
                         "train with train.stack=none")
    torch.manual_seed(seed)
    model = create_model(cfg.model_name, cfg.model)
    if cfg.train.init:
        init_members([model], cfg.train.init, cfg.model_name, cfg.model)
    x, y, variants = clips.x, clips.y, None
    if cfg.train.mirror:
        x, y, variants = with_mirror_images(clips)
    trained = model
    if objective == "masked":
        trained = MaskedReconstruction(model, torch.from_numpy(np.ascontiguousarray(x[:1])).float())
    fit([trained], x, y, [np.arange(len(clips))], cfg.train, seed=seed, num_classes=clips.num_classes,
        eval_sets=[np.zeros(0, np.int64)], device=resolve_device(device), on_epoch=on_epoch, variants=variants,
        domains=dataset_codes(clips, len(x)) if cfg.train.adversary > 0 else None)
    return model.eval()
