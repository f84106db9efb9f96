"""Models: CausalNet and baselines, built from typed configs through a registry.

Registered models (``causalnet models`` lists them with their presets and input views):
``causalnet``; the flow baselines ``htnet`` (HTNet-style), ``offapexnet``, ``dualinception``,
``offtanet`` and ``srmcl`` (SRMCL-style; onset→apex flow only); the apex-frame models ``apexnet`` and
``microattention``; and ``mmnet`` (MMNet-style, onset and apex faces). All take
``x [B, 4, 3, 28, 28]`` (see :mod:`causalnet.models.views`) and return logits; models with auxiliary
training losses expose them through :mod:`causalnet.models.auxiliary`.

Checkpoints: :mod:`causalnet.models.format` reads a checkpoint's metadata with the standard library
alone; :mod:`causalnet.models.checkpoint` is the one reader and writer of the weights.
Exports are imported lazily, so ``causalnet.models.format`` does not import torch.

>>> from causalnet.models import CausalNet, CausalNetConfig
>>> model = CausalNet(CausalNetConfig.preset("compact"))
>>> sum(p.numel() for p in model.parameters()) > 0
True
"""

from causalnet._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("CausalNet", "CausalNetConfig"), "causalnet"),
    **dict.fromkeys(("load_checkpoint", "save_checkpoint"), "checkpoint"),
    **dict.fromkeys(("CHECKPOINT_FORMAT", "class_names", "read_checkpoint_metadata", "uses_mirror_tta"), "format"),
    **dict.fromkeys(("DualInception", "DualInceptionConfig"), "dualinception"),
    **dict.fromkeys(("HTNet", "HTNetConfig"), "htnet"),
    **dict.fromkeys(("MicroAttention", "MicroAttentionConfig"), "microattention"),
    **dict.fromkeys(("MMNet", "MMNetConfig"), "mmnet"),
    **dict.fromkeys(("ApexNet", "ApexNetConfig", "OffApexNet", "OffApexNetConfig"), "offapexnet"),
    **dict.fromkeys(("OffTANet", "OffTANetConfig"), "offtanet"),
    **dict.fromkeys(("from_reference_state_dict", "load_reference"), "reference"),
    **dict.fromkeys(("create_model", "get_entry", "list_models", "make_config", "register_model"), "registry"),
    **dict.fromkeys(("SRMCL", "SRMCLConfig"), "srmcl"),
    **dict.fromkeys(("APEX_VIEW", "FLOW_VIEW", "INPUT_VIEWS", "ONSET_APEX_VIEW", "input_view_of"), "views"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
