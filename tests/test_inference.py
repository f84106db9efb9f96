"""The one inference path: images -> model input, batched probabilities, mirror averaging, class names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causalnet import inference
from causalnet.data.mirror import mirror_clips
from causalnet.data.mosaic import facial_mosaic, images_to_input
from causalnet.models import CausalNet, CausalNetConfig
from causalnet.models import format as checkpoint_format


def clips(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 4, 28, 28, 3), dtype=np.uint8)


def test_images_to_input_is_the_mosaic_in_model_layout():
    images = clips()
    x = images_to_input(images)
    assert x.shape == (5, 4, 3, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[2, 3], facial_mosaic(images[2, 3]).transpose(2, 0, 1))
    assert images_to_input(list(images), dtype=np.uint8).dtype == np.uint8
    assert images_to_input([]).shape == (0, 4, 3, 28, 28)
    np.testing.assert_array_equal(images_to_input(images[0]), x[0])  # one clip, no batch axis
    with pytest.raises(ValueError, match=r"four 28x28x3 images"):
        images_to_input(np.zeros((2, 3, 28, 28, 3), np.uint8))


def test_predict_proba_batches_and_mirror_averages():
    torch.manual_seed(0)
    model = CausalNet(CausalNetConfig.preset("compact")).train()
    x = images_to_input(clips(7))
    whole = inference.predict_proba(model, x, batch_size=64)
    assert model.training  # the mode is restored
    np.testing.assert_allclose(inference.predict_proba(model, x, batch_size=3), whole, atol=1e-6)
    np.testing.assert_allclose(whole.sum(1), 1, atol=1e-5)
    with torch.no_grad():
        model.eval()
        by_hand = (model(torch.from_numpy(x)).softmax(-1) + model(torch.from_numpy(mirror_clips(x))).softmax(-1)) / 2
    np.testing.assert_allclose(inference.predict_proba(model, x, mirror=True, batch_size=4), by_hand.numpy(),
                               atol=1e-5)


def test_class_names_and_mirror_flag_from_checkpoint_extras():
    assert checkpoint_format.class_names({}, 3) == ["negative", "positive", "surprise"]
    assert checkpoint_format.class_names({"class_names": ["a", "b"]}, 3) == ["negative", "positive", "surprise"]
    assert checkpoint_format.class_names({"class_names": ["a", "b"]}, 2) == ["a", "b"]
    assert checkpoint_format.class_names({}, 4) == ["class 0", "class 1", "class 2", "class 3"]
    assert checkpoint_format.uses_mirror_tta({"train": {"mirror_tta": True}})
    assert not checkpoint_format.uses_mirror_tta({"train": "odd"}) and not checkpoint_format.uses_mirror_tta({})


def test_importing_the_inference_path_and_checkpoint_format_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, causalnet.inference as i, causalnet.models.format as f; f.read_checkpoint_metadata; "
            "print('torch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_predict_proba_device():
    """``device`` moves the model and batches there; probabilities come back as NumPy on the host."""
    torch.manual_seed(0)
    model = CausalNet(CausalNetConfig.preset("compact"))
    x = images_to_input(clips(3))
    on_cpu = inference.predict_proba(model, x, device="cpu")
    np.testing.assert_array_equal(inference.predict_proba(model, x, device=torch.device("cpu")), on_cpu)
    np.testing.assert_array_equal(inference.predict_proba(model, x), on_cpu)
    with pytest.raises(ValueError, match="--device must be one of"):
        inference.predict_proba(model, x, device="gpu0")
    if torch.cuda.is_available():
        np.testing.assert_allclose(inference.predict_proba(model, x, device="cuda"), on_cpu, atol=1e-4)
    else:
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            inference.predict_proba(model, x, device="cuda")
