"""Models: CausalNet and baselines, built from typed configs through a registry.

>>> from causalnet.models import CausalNet, CausalNetConfig
>>> model = CausalNet(CausalNetConfig.preset("compact"))
"""

from causalnet.models.causalnet import CausalNet, CausalNetConfig
from causalnet.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from causalnet.models.registry import create_model, get_entry, list_models, make_config, register_model

__all__ = [
    "CausalNet",
    "CausalNetConfig",
    "create_model",
    "get_entry",
    "list_models",
    "load_checkpoint",
    "make_config",
    "read_checkpoint_metadata",
    "register_model",
    "save_checkpoint",
]
