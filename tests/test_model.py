"""CausalNet as SPEC §3 specifies it: shapes, causality, ablation switches, sizes, gradients."""

import copy

import pytest
import torch

from causalnet.models import CausalNet, CausalNetConfig, create_model, list_models
from causalnet.models.cab import CABLayer, CausalAttentionBlock, FullAttentionLayer
from causalnet.models.masking import SparseMask

TINY = dict(dim=16, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=32)


def tiny(**kw) -> CausalNet:
    torch.manual_seed(0)
    return CausalNet(CausalNetConfig(**{**TINY, **kw})).eval()


def batch(b=3, seed=1):
    return torch.rand(b, 4, 3, 28, 28, generator=torch.Generator().manual_seed(seed)) * 255


def test_shapes_and_registry():
    model = tiny()
    x = batch()
    assert model(x).shape == (3, 3)
    d = model.config.token_dim
    assert d == 16
    assert model.forward_features(x).shape == (3, 12 * d)
    assert "causalnet" in list_models()
    assert isinstance(create_model("causalnet", "compact"), CausalNet)


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected input \[B, 4, 3, 28, 28\]"):
        tiny()(torch.zeros(2, 3, 3, 28, 28))


def test_paper_preset_parameter_count_is_the_reference_count():
    with torch.device("meta"):
        model = CausalNet(CausalNetConfig.preset("paper"))
    assert sum(p.numel() for p in model.parameters()) == 276_590_089  # shared/reference/README.md
    cfg = model.config
    assert (cfg.depths, cfg.gamma, cfg.dim, cfg.heads, cfg.cab_depth, cfg.cab_heads, cfg.cmplm_heads,
            cfg.crm_heads) == ((3, 3, 9), 0.5, 256, 3, 1, 8, 8, 8)
    assert (cfg.cmplm_attention_first, cfg.mlp_norm, cfg.qkv_bias) == (True, False, True)
    assert len(model.cmplm.layers) == 9  # CMPLM depth = l3 in the reference
    assert cfg.token_dim == 256


def test_reference_cmplm_order_and_mlp_without_norm():
    """paper: both cross attentions first (stream 2 sees stream 1 before its MLP), MLPs without LayerNorm."""
    torch.manual_seed(0)
    cfg = CausalNetConfig(**TINY, cmplm_attention_first=True, mlp_norm=False, qkv_bias=True)
    layer = CausalNet(cfg).cmplm.layers[0].eval()
    assert isinstance(layer.ff_norm, torch.nn.Identity) and layer.attn.to_q.bias is not None
    x1, x2 = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    a1, a2 = layer.norm(x1), layer.norm(x2)
    u1 = x1 + layer.attn(a1, x2)
    u2 = x2 + layer.attn(a2, u1)
    y1, y2 = layer(x1, x2)
    assert torch.allclose(y1, u1 + layer.ff(u1), atol=1e-6) and torch.allclose(y2, u2 + layer.ff(u2), atol=1e-6)
    layer.attention_first = False  # the compact preset's order: stream 1's MLP before stream 2 attends
    w2 = x2 + layer.attn(a2, u1 + layer.ff(u1))
    assert torch.allclose(layer(x1, x2)[1], w2 + layer.ff(w2), atol=1e-6)


@pytest.mark.parametrize("preset", ["paper", "compact"])
def test_ablation_switches_build_on_both_presets(preset):
    for switch in ("cmplm", "stca", "crm", "pseudo_attention"):
        cfg = CausalNetConfig.preset(preset).with_overrides({switch: False})
        with torch.device("meta"):
            model = CausalNet(cfg)
        assert model(torch.zeros(2, 4, 3, 28, 28, device="meta")).shape == (2, 3)


def test_every_compact_parameter_gets_a_gradient():
    """Every compact parameter gets a real gradient, with documented exceptions (docs/model.md):

    - the query/key rows of single-token encoder attention: not used on the fast path (the softmax
      over one key is constant, so their gradient is exactly zero on the plain path too);
    - the motion encoder's last-level position bias: one scalar added to every channel of the final
      feature, which the CAB's LayerNorm removes, so its gradient is zero up to float noise (the
      direction encoder's is used: CMPLM takes keys/values from un-normalised tokens).
    """
    cfg = CausalNetConfig.preset("compact")
    torch.manual_seed(0)
    model = CausalNet(cfg)
    model(batch(4)).logsumexp(-1).sum().backward()
    last_pos = {f"motion_encoder.stages.{2 * (len(cfg.depths) - 1)}.pos_emb"}
    grads = {n: p.grad for n, p in model.named_parameters()}
    scale = max(g.abs().max().item() for g in grads.values() if g is not None)
    for name, grad in grads.items():
        if name in last_pos:
            assert grad.abs().max().item() < 1e-5 * scale, name
        else:
            assert grad is not None and grad.abs().max().item() > 1e-6 * scale, name


def test_single_token_query_key_weights_have_zero_gradient_on_the_plain_path():
    cfg = CausalNetConfig(**{**TINY, "fast": False})
    torch.manual_seed(0)
    model = CausalNet(cfg)
    model(batch(2)).sum().backward()
    for name, p in model.named_parameters():
        if name.endswith("to_qkv.weight") and "encoder" in name:
            inner = p.shape[0] // 3
            assert torch.count_nonzero(p.grad[: 2 * inner]) == 0, name  # q and k rows
            assert torch.count_nonzero(p.grad[2 * inner:]) > 0, name  # v rows


def test_fast_path_equals_plain_path():
    """The single-token shortcut computes what full block attention computes (outputs and gradients)."""
    plain = tiny(fast=False).train()
    fast = copy.deepcopy(plain)
    for m in fast.modules():
        if hasattr(m, "fast"):
            m.fast = True
    x = batch(4)
    out_p, out_f = plain(x), fast(x)
    assert torch.allclose(out_p, out_f, atol=1e-5)
    out_p.sum().backward()
    out_f.sum().backward()
    for (name, p), (_, f) in zip(plain.named_parameters(), fast.named_parameters(), strict=True):
        if f.grad is None:  # q/k weights unused on the fast path: zero on the plain path
            assert torch.count_nonzero(p.grad) == 0, name
        else:
            assert torch.allclose(p.grad, f.grad, atol=1e-5, rtol=1e-4), name


def test_causality_second_token_does_not_reach_first_short_range_output():
    torch.manual_seed(0)
    cab = CausalAttentionBlock(16, depth=2, heads=2, mask=SparseMask((2, 2))).eval()
    x1, x2 = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    y1_for, y2_for, y1_back, y2_back = cab(x1, x2)
    y1_for_b, y2_for_b, y1_back_b, _ = cab(x1, x2 + torch.randn_like(x2))
    assert torch.equal(y1_for, y1_for_b)  # forward short-range sees only x1
    assert not torch.allclose(y2_for, y2_for_b)  # the long-range output sees both
    assert not torch.allclose(y1_back, y1_back_b)
    # backward ordering: its short-range output sees only x2
    _, _, y1_back_c, _ = cab(x1 + torch.randn_like(x1), x2)
    assert torch.equal(y1_back, y1_back_c)


def test_forward_and_backward_orderings_share_weights():
    torch.manual_seed(0)
    cab = CausalAttentionBlock(16, depth=1, heads=2, mask=SparseMask((2, 2))).eval()
    x1, x2 = torch.randn(1, 4, 16), torch.randn(1, 4, 16)
    y1_for, y2_for, y1_back, y2_back = cab(x1, x2)
    s1_for, s2_for, s1_back, s2_back = cab(x2, x1)  # swapping inputs swaps the orderings
    assert torch.allclose(y1_for, s1_back) and torch.allclose(y2_for, s2_back)
    assert torch.allclose(y1_back, s1_for) and torch.allclose(y2_back, s2_for)


def test_ablation_cmplm_off_drops_direction_input():
    model = tiny(cmplm=False)
    assert not hasattr(model, "direction_encoder") and not hasattr(model, "cmplm")
    x = batch()
    x2 = x.clone()
    x2[:, 2:] = torch.rand_like(x2[:, 2:]) * 255
    assert torch.equal(model(x), model(x2))
    full = tiny()
    assert not torch.allclose(full(x), full(x2))  # with CMPLM the direction maps matter


def test_ablation_stca_off_is_ordinary_attention():
    model = tiny(stca=False)
    assert all(isinstance(layer, FullAttentionLayer) for layer in model.cab.layers)
    assert all(isinstance(layer, CABLayer) for layer in tiny().cab.layers)
    torch.manual_seed(0)
    cab = CausalAttentionBlock(16, depth=1, heads=2, mask=SparseMask((2, 2)), stca=False).eval()
    x1, x2 = torch.randn(1, 4, 16), torch.randn(1, 4, 16)
    y1_for = cab(x1, x2)[0]
    assert not torch.allclose(y1_for, cab(x1, x2 + torch.randn_like(x2))[0])  # non-causal: x1's output sees x2


def test_ablation_crm_off_sums_long_range_outputs():
    model = tiny(crm=False)
    assert model.crm is None
    x = batch()
    feats = model.forward_features(x)
    y1_for, y2_for, y1_back, y2_back = model.cab(*model.motion_tokens(model.prepare_input(x)))
    expected = torch.cat([y2_for + y2_back, y1_for, y1_back], dim=1).flatten(1)
    assert torch.allclose(feats, expected)
    assert tiny().crm is not None


def test_ablation_pseudo_attention_off_zeroes_p_everywhere():
    model = tiny(pseudo_attention=False)
    masks = [m for m in model.modules() if isinstance(m, SparseMask)]
    assert masks and all(torch.count_nonzero(m.pseudo) == 0 for m in masks)
    on = [m for m in tiny().modules() if isinstance(m, SparseMask)]
    assert all(torch.count_nonzero(m.pseudo) == 4 for m in on)


def test_config_roundtrip_and_overrides():
    cfg = CausalNetConfig.preset("compact")
    assert CausalNetConfig.from_dict(cfg.to_dict()) == cfg
    cfg2 = cfg.with_overrides({"gamma": "0.3", "depths": "2,2,3", "crm": "false"})
    assert (cfg2.gamma, cfg2.depths, cfg2.crm) == (0.3, (2, 2, 3), False)
    with pytest.raises(ValueError, match="no field"):
        cfg.with_overrides({"nope": "1"})
    with pytest.raises(ValueError, match="preset"):
        CausalNetConfig.preset("huge")
