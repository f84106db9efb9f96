"""Initialising members from a pretrained checkpoint (``train.init``): pretraining, then fine-tuning.

A checkpoint written by ``causalnet train --save-model`` (e.g. trained on a large synthetic set made
by ``causalnet synth`` and preprocessed like the real data) can initialise every ensemble member of
every fold; each member then fine-tunes it on its own training subjects. The checkpoint must hold the
same registered model with the same config (the check names the first field that differs).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["load_init", "init_members"]


def load_init(path: str | Path, model_name: str, config) -> dict[str, torch.Tensor]:
    """The weights stored at ``path``, after checking that they are ``model_name`` with ``config``."""
    from safetensors.torch import load_file

    from causalnet.models.checkpoint import read_checkpoint_metadata

    meta = read_checkpoint_metadata(path)
    if meta["model"] != model_name:
        raise ValueError(f"train.init {path}: holds model {meta['model']!r}, the run trains {model_name!r}")
    wanted = config.to_dict()
    stored = type(config).from_dict(meta["config"]).to_dict()
    diff = next((k for k in wanted if wanted[k] != stored.get(k)), None)
    if diff is not None:
        raise ValueError(f"train.init {path}: model.{diff} is {stored.get(diff)!r} in the checkpoint, "
                         f"{wanted[diff]!r} in the run")
    return load_file(str(path))


def init_members(models: list[nn.Module], path: str | Path, model_name: str, config) -> None:
    """Load the checkpoint at ``path`` into every model of ``models`` (in place)."""
    state = load_init(path, model_name, config)
    for model in models:
        model.load_state_dict(state, strict=True)
