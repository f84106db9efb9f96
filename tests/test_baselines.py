"""Baselines of the robustness comparison: registry, presets, shapes, and which input images each reads."""

import numpy as np
import pytest
import torch

from causalnet.models import (
    APEX_VIEW,
    FLOW_VIEW,
    ApexNet,
    HTNet,
    HTNetConfig,
    OffApexNet,
    OffApexNetConfig,
    create_model,
    get_entry,
    input_view_of,
    list_models,
)
from causalnet.models.encoder import HierarchicalEncoder
from causalnet.train import ExperimentConfig
from causalnet.train.loop import fit_members

BASELINES = ("htnet", "offapexnet", "apexnet")


def batch(b: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, 4, 3, 28, 28, generator=torch.Generator().manual_seed(seed)) * 255


def compact(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, "compact").eval()


@pytest.mark.parametrize("name", BASELINES)
def test_registered_with_paper_and_compact_presets(name):
    assert name in list_models()
    cfg_cls = get_entry(name).config_cls
    assert {"paper", "compact"} <= set(cfg_cls.preset_names())
    model = compact(name)
    assert model(batch()).shape == (3, 3)
    assert model.config == cfg_cls.from_dict(model.config.to_dict())  # config.json round trip
    exp = ExperimentConfig.preset("compact", model_name=name)  # what `causalnet train --model NAME` builds
    assert exp.model_name == name and isinstance(exp.model, cfg_cls) and exp.protocol == "val"
    assert ExperimentConfig.from_dict(exp.to_dict()).model == exp.model


def test_input_views():
    assert input_view_of(get_entry("causalnet").model_cls) == FLOW_VIEW
    assert input_view_of(HTNet) == FLOW_VIEW and input_view_of(OffApexNet) == FLOW_VIEW
    assert input_view_of(ApexNet) == APEX_VIEW


def _changed(model: torch.nn.Module, image: int, channel: int | None = None) -> bool:
    x = batch()
    y = x.clone()
    if channel is None:
        y[:, image] = torch.rand_like(y[:, image]) * 255
    else:
        y[:, image, channel] = torch.rand_like(y[:, image, channel]) * 255
    with torch.no_grad():
        return not torch.allclose(model(x), model(y))


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_read_image_zero_only(name):
    model = compact(name)
    assert _changed(model, 0)
    for image in (1, 2, 3):
        assert not _changed(model, image), f"{name} must ignore image {image}"


def test_offapexnet_reads_u_and_v_not_strain_and_apexnet_one_grey_channel():
    off, apex = compact("offapexnet"), compact("apexnet")
    assert _changed(off, 0, 2) and _changed(off, 0, 1) and not _changed(off, 0, 0)
    assert _changed(apex, 0, 0) and not _changed(apex, 0, 1) and not _changed(apex, 0, 2)


def test_htnet_reuses_the_hierarchical_encoder_and_can_read_another_image():
    model = compact("htnet")
    assert isinstance(model.encoder, HierarchicalEncoder)
    # the compact encoder is exactly compact CausalNet's motion encoder
    cn = compact("causalnet")
    shapes = {k: v.shape for k, v in model.encoder.state_dict().items()}
    assert shapes == {k: v.shape for k, v in cn.motion_encoder.state_dict().items()}
    torch.manual_seed(0)
    other = HTNet(HTNetConfig.preset("compact").with_overrides({"image": 1})).eval()
    assert _changed(other, 1) and not _changed(other, 0)


def test_paper_sizes():
    with torch.device("meta"):
        ht = create_model("htnet", "paper")
        off = create_model("offapexnet", "paper")
    assert ht.config.depths == (2, 2, 10) and ht.config.dim == 256 and ht.encoder.out_dim == 1024
    assert off.config.conv_widths == (6, 16) and off.config.fc_widths == (1024, 1024)
    # two 5x5 'same' conv + 2x2 pool stages leave 7x7 maps: 2 streams x 16 x 7 x 7 features
    assert off.head[0].in_features == 2 * 16 * 7 * 7


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="HTNetConfig.image: must be an integer in \\[0, 3\\]"):
        HTNetConfig(image=4)
    with pytest.raises(ValueError, match="channels"):
        OffApexNetConfig(channels=(3,))
    with pytest.raises(ValueError, match="divisible"):
        OffApexNetConfig(conv_widths=(4, 4, 4))
    with pytest.raises(ValueError, match=r"expected input \[B, 4, 3, 28, 28\]"):
        compact("offapexnet")(torch.zeros(2, 3, 3, 28, 28))


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_train_with_the_shared_loop(name):
    """The shared vectorised loop trains every baseline; an easy task is learned."""
    from causalnet.train import TrainConfig

    rng = np.random.default_rng(0)
    y = np.tile(np.arange(3), 8)
    x = (rng.random((24, 4, 3, 28, 28)) * 60).astype(np.float32)
    x[np.arange(24), 0, :, (y * 9) + 2] += 180  # the class shows as a bright row band in image 0, all channels
    cfg = TrainConfig(epochs=15, lr=3e-3, batch_size=24)
    models = []
    for k in range(2):
        torch.manual_seed(k)
        models.append(create_model(name, "compact"))
    hist = fit_members(models, x, y, [np.arange(24)] * 2, cfg, seed=0, num_classes=3, eval_sets=[np.arange(24)] * 2)
    assert (hist[0][-1].argmax(-1) == y).mean() > 0.9
