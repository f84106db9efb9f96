"""Training inputs prepared once per fold (models/layout.py) compute exactly what raw images compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causalnet.models import CausalNet, CausalNetConfig
from causalnet.models.layout import ImageLayout, PatchLayout, input_layout, patchify
from causalnet.train import TrainConfig, loop


def _model(**overrides) -> CausalNet:
    torch.manual_seed(0)
    return CausalNet(CausalNetConfig.preset("compact").with_overrides(overrides) if overrides
                     else CausalNetConfig.preset("compact"))


@pytest.mark.parametrize("max_shift", [1, 2])
def test_a_patch_shift_is_the_image_shift_patchified(max_shift):
    model = _model()
    layout = input_layout(model)
    assert isinstance(layout, PatchLayout) and layout.call_kwargs == {"prepared": True}
    raw = torch.randint(0, 256, (40, 4, 3, 28, 28)).float()
    offsets = torch.randint(0, 2 * max_shift + 1, (40, 2), generator=torch.Generator().manual_seed(1))
    expected = model.prepare_input(ImageLayout().shift(raw, offsets, max_shift))
    got = layout.shift(layout.prepare(raw), offsets, max_shift)
    assert torch.equal(got, expected)  # the same floats, bit for bit
    assert not torch.equal(got, layout.prepare(raw))  # and the shift moved something


def test_prepared_inputs_give_the_same_logits_and_layouts_default_to_images():
    model = _model().eval()
    raw = torch.randint(0, 256, (6, 4, 3, 28, 28)).float()
    with torch.no_grad():
        assert torch.equal(model(raw), model(model.prepare_input(raw), prepared=True))
    assert patchify(raw, 7).shape == (6, 4, 4, 4, 147)
    assert isinstance(input_layout(torch.nn.Linear(2, 2)), ImageLayout)  # a model without the hook


def _fit(monkeypatch, layout_of):
    monkeypatch.setattr(loop, "input_layout", layout_of)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 4, 3, 28, 28)).astype(np.uint8)
    y = rng.integers(0, 3, 60)
    models = []
    for k in range(2):
        torch.manual_seed(10 + k)
        models.append(CausalNet(CausalNetConfig.preset("compact")))
    cfg = TrainConfig.preset("compact").with_overrides({"epochs": 2, "batch_size": 16, "shift": 1})
    sets = [np.arange(0, 40), np.arange(20, 60)]
    history = loop.fit(models, x, y, sets, cfg, seed=3, num_classes=3, eval_sets=[np.arange(40, 60), np.arange(10)])
    return history, [m.state_dict() for m in models]


def test_fit_trains_bit_for_bit_as_with_raw_images(monkeypatch):
    prepared, weights = _fit(monkeypatch, input_layout)
    images, weights_images = _fit(monkeypatch, lambda model: ImageLayout())
    for a, b in zip(weights, weights_images, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    for a, b in zip(prepared, images, strict=True):
        np.testing.assert_array_equal(a, b)


def test_evaluation_member_by_member_agrees_with_vmap():
    from torch.func import functional_call, stack_module_state, vmap

    models = []
    for k in range(2):
        torch.manual_seed(k)
        models.append(CausalNet(CausalNetConfig.preset("compact")).eval())
    params, buffers = stack_module_state(models)
    _, eval_fn = loop._member_functions(models[0], 2, {"prepared": True})
    x = torch.stack([models[0].prepare_input(torch.randint(0, 256, (8, 4, 3, 28, 28)).float()) for _ in range(2)])
    batched = vmap(lambda p, b, i: functional_call(models[0], (p, b), (i,), {"prepared": True}))
    with torch.no_grad():
        torch.testing.assert_close(eval_fn(params, buffers, x), batched(params, buffers, x), rtol=0, atol=1e-5)
