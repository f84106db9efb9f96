"""Models: CausalNet and baselines, built from typed configs through a registry.

Registered models (``causalnet models`` lists them with their presets and input views):
``causalnet``; the flow baselines ``htnet`` (HTNet-style), ``offapexnet``, ``dualinception``,
``offtanet`` and ``srmcl`` (SRMCL-style; onset→apex flow only); the apex-frame models ``apexnet`` and
``microattention``; and ``mmnet`` (MMNet-style, onset and apex faces). All take
``x [B, 4, 3, 28, 28]`` (see :mod:`causalnet.models.views`) and return logits; models with auxiliary
training losses expose them through :mod:`causalnet.models.auxiliary`.

>>> from causalnet.models import CausalNet, CausalNetConfig
>>> model = CausalNet(CausalNetConfig.preset("compact"))
"""

from causalnet.models.causalnet import CausalNet, CausalNetConfig
from causalnet.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from causalnet.models.dualinception import DualInception, DualInceptionConfig
from causalnet.models.htnet import HTNet, HTNetConfig
from causalnet.models.microattention import MicroAttention, MicroAttentionConfig
from causalnet.models.mmnet import MMNet, MMNetConfig
from causalnet.models.offapexnet import ApexNet, ApexNetConfig, OffApexNet, OffApexNetConfig
from causalnet.models.offtanet import OffTANet, OffTANetConfig
from causalnet.models.reference import from_reference_state_dict, load_reference
from causalnet.models.registry import create_model, get_entry, list_models, make_config, register_model
from causalnet.models.srmcl import SRMCL, SRMCLConfig
from causalnet.models.views import APEX_VIEW, FLOW_VIEW, INPUT_VIEWS, ONSET_APEX_VIEW, input_view_of

__all__ = [
    "APEX_VIEW",
    "FLOW_VIEW",
    "INPUT_VIEWS",
    "ONSET_APEX_VIEW",
    "SRMCL",
    "ApexNet",
    "ApexNetConfig",
    "CausalNet",
    "CausalNetConfig",
    "DualInception",
    "DualInceptionConfig",
    "HTNet",
    "HTNetConfig",
    "MMNet",
    "MMNetConfig",
    "MicroAttention",
    "MicroAttentionConfig",
    "OffApexNet",
    "OffApexNetConfig",
    "OffTANet",
    "OffTANetConfig",
    "SRMCLConfig",
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
