"""Models: CausalNet and baselines, built from typed configs through a registry.

Registered models (``causalnet models`` lists them with their presets): ``causalnet``, the
HTNet-style baseline ``htnet`` and ``offapexnet`` (onset→apex flow only) and the apex-frame-only
``apexnet``. All take ``x [B, 4, 3, 28, 28]`` (see :mod:`causalnet.models.views`) and return logits.

>>> from causalnet.models import CausalNet, CausalNetConfig
>>> model = CausalNet(CausalNetConfig.preset("compact"))
"""

from causalnet.models.causalnet import CausalNet, CausalNetConfig
from causalnet.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from causalnet.models.htnet import HTNet, HTNetConfig
from causalnet.models.offapexnet import ApexNet, ApexNetConfig, OffApexNet, OffApexNetConfig
from causalnet.models.reference import from_reference_state_dict, load_reference
from causalnet.models.registry import create_model, get_entry, list_models, make_config, register_model
from causalnet.models.views import APEX_VIEW, FLOW_VIEW, INPUT_VIEWS, input_view_of

__all__ = [
    "APEX_VIEW",
    "FLOW_VIEW",
    "INPUT_VIEWS",
    "ApexNet",
    "ApexNetConfig",
    "CausalNet",
    "CausalNetConfig",
    "HTNet",
    "HTNetConfig",
    "OffApexNet",
    "OffApexNetConfig",
    "create_model",
    "from_reference_state_dict",
    "get_entry",
    "input_view_of",
    "list_models",
    "load_checkpoint",
    "load_reference",
    "make_config",
    "read_checkpoint_metadata",
    "register_model",
    "save_checkpoint",
]
