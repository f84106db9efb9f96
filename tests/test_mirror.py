"""Left-right mirroring of clips: layout, flow sign, direction maps, training and test-time use."""

import dataclasses

import numpy as np
import pytest

from causalnet.data import load_composite
from causalnet.data.composite import ClipSet
from causalnet.data.mirror import direction_maps_match, mirror_clips
from causalnet.engine import FoldKey
from causalnet.flow.direction import direction_map, hue_of
from causalnet.flow.optical_flow import CHANNEL_STRAIN, CHANNEL_U, CHANNEL_V
from causalnet.train import ExperimentConfig, LosoRun
from causalnet.train.fold import run_fold


def train_fold(clips, cfg, subject, seed):
    """One fold's result, trained in this process."""
    job = LosoRun("unused", clips, cfg).make_job(FoldKey("", 0, subject))
    return run_fold(dataclasses.replace(job, seed=seed)).result


def consistent_clips(n: int, seed: int = 0) -> np.ndarray:
    """Random flow images ``[n, 4, 3, 28, 28]`` (0..255) whose direction maps follow from them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 4, 3, 28, 28)).astype(np.float32)
    for f, d in ((0, 2), (1, 3)):
        for i in range(n):
            bgr = direction_map(x[i, f, CHANNEL_U] / 255.0, x[i, f, CHANNEL_V] / 255.0)
            x[i, d] = bgr.transpose(2, 0, 1)
    return x


def test_mirror_swaps_face_halves_flips_blocks_and_negates_u():
    x = consistent_clips(3)
    m = mirror_clips(x)
    # top-left block (left eye) becomes the bottom-left block (right eye), flipped left-right
    for c in (CHANNEL_STRAIN, CHANNEL_V):
        np.testing.assert_array_equal(m[:, :2, c, 14:, :14], x[:, :2, c, :14, :14][..., ::-1])
        np.testing.assert_array_equal(m[:, :2, c, :14, 14:], x[:, :2, c, 14:, 14:][..., ::-1])
    np.testing.assert_array_equal(m[:, :2, CHANNEL_U, 14:, :14], 255 - x[:, :2, CHANNEL_U, :14, :14][..., ::-1])
    assert direction_maps_match(m) == 1.0


def test_mirroring_twice_gives_the_clip_back():
    x = consistent_clips(4, seed=1)
    back = mirror_clips(mirror_clips(x))
    np.testing.assert_array_equal(back[:, :2], x[:, :2])
    assert np.abs(back[:, 2:] - x[:, 2:]).max() <= 9  # direction maps recomputed: one hue step


def test_mirror_turns_a_rightward_motion_leftward():
    x = np.zeros((1, 4, 3, 28, 28), np.float32)
    x[:, :2, CHANNEL_U] = 255.0  # normalised u at its maximum: motion to the right everywhere
    x[:, :2, CHANNEL_V] = 128.0
    for f, d in ((0, 2), (1, 3)):
        x[0, d] = direction_map(x[0, f, CHANNEL_U] / 255, x[0, f, CHANNEL_V] / 255).transpose(2, 0, 1)
    m = mirror_clips(x)
    assert (m[:, :2, CHANNEL_U] == 0).all()
    hue_before = hue_of(x[0, 2].transpose(1, 2, 0).astype(np.uint8))
    hue_after = hue_of(m[0, 2].transpose(1, 2, 0).astype(np.uint8))
    assert hue_before.max() < 20 and hue_after.min() > 40  # angle of (1, .5) vs (0, .5): ~27° vs 90°


def test_published_direction_maps_follow_from_the_flow_images(composite_root):
    clips = load_composite(composite_root)
    assert direction_maps_match(clips.x) > 0.999


def in_memory_clips(x: np.ndarray, y: np.ndarray, subjects: list[str]) -> ClipSet:
    n = len(y)
    return ClipSet(x, y, np.array(subjects), np.array(["casme2"] * n), np.array([f"c{i}" for i in range(n)]),
                   np.zeros((n, 4, 28, 28, 3), np.uint8), root="memory")


def test_mirror_tta_predicts_a_clip_and_its_mirror_alike():
    rng = np.random.default_rng(3)
    x = consistent_clips(24, seed=3)
    y = rng.integers(0, 3, 24)
    x[-1] = mirror_clips(x[-2:-1])[0]  # the test subject's two clips are mirror images of each other
    y[-1] = y[-2]
    subjects = [f"s{i // 4}" for i in range(22)] + ["test", "test"]
    clips = in_memory_clips(x, y, subjects)
    cfg = ExperimentConfig.preset("compact").with_overrides(
        {"model.dim": 8, "model.head_hidden": 16, "train.epochs": 2, "train.members": 2, "train.mirror": True,
         "train.mirror_tta": True})
    fold = train_fold(clips, cfg, "test", seed=0)
    assert fold.probs.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(fold.probs[:, :, 0], fold.probs[:, :, 1], atol=1e-5)
    np.testing.assert_allclose(fold.probs.sum(-1), 1.0, atol=1e-5)
    assert np.isfinite(fold.val_uf1).all()
    plain = train_fold(clips, cfg.with_overrides({"train.mirror_tta": False}), "test", seed=0)
    assert np.abs(plain.probs[:, :, 0] - plain.probs[:, :, 1]).max() > 1e-4  # without TTA they differ


def test_mirror_is_refused_when_direction_maps_do_not_follow(fake_composite, tmp_path):
    import cv2

    for path in (fake_composite / "STSNet_whole_norm_u_v_os").glob("*_[23] .png"):  # maps made some other way
        cv2.imwrite(str(path), 255 - cv2.imread(str(path)))
    clips = load_composite(fake_composite)
    cfg = ExperimentConfig.preset("compact").with_overrides({"model.dim": 8, "train.epochs": 1, "train.mirror": True})
    with pytest.raises(ValueError, match=r"direction maps do not follow from the flow images"):
        LosoRun(tmp_path / "run", clips, cfg, subjects=["sub01"]).run()


def test_fit_on_train_rows_ignores_the_other_rows_unless_drawn_as_variants():
    import torch

    from causalnet.models import CausalNet
    from causalnet.train.loop import fit

    x = consistent_clips(12, seed=4)
    y = np.arange(12) % 3
    cfg = ExperimentConfig.preset("compact").with_overrides({"model.dim": 8, "model.head_hidden": 16,
                                                            "train.epochs": 2, "train.batch_size": 5})
    pool = np.concatenate([x, mirror_clips(x)])

    def trained(inputs, **kw):
        torch.manual_seed(0)
        model = CausalNet(cfg.model)
        rows = kw.pop("train_rows", np.arange(len(inputs)))
        fit([model], inputs, np.concatenate([y, y])[: len(inputs)], [rows], cfg.train, seed=1, num_classes=3,
            eval_sets=[np.zeros(0, np.int64)], **kw)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    alone = trained(x)
    torch.testing.assert_close(trained(pool, train_rows=np.arange(12)), alone)
    table = np.stack([np.arange(24), np.r_[np.arange(12, 24), np.arange(12)]], axis=1)
    assert (trained(pool, train_rows=np.arange(12), variants=table) - alone).abs().max() > 1e-4


def test_train_all_uses_mirror_images_when_asked():
    import torch

    from causalnet.train import train_all

    x = consistent_clips(12, seed=5)
    clips = in_memory_clips(x, np.arange(12) % 3, ["a"] * 6 + ["b"] * 6)
    cfg = ExperimentConfig.preset("compact").with_overrides({"model.dim": 8, "train.epochs": 2, "train.batch_size": 5})

    def weights(mirror: bool) -> torch.Tensor:
        model = train_all(clips, cfg.with_overrides({"train.mirror": mirror}))
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert (weights(True) - weights(False)).abs().max() > 1e-4
    torch.testing.assert_close(weights(False), weights(False))  # same seed, same model: the difference is mirroring
