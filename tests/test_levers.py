"""Accuracy levers of issue 16 (switchable, off by default): input centring, mixup, weight averaging."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from causalnet.data import load_composite
from causalnet.data.normalise import center_groups
from causalnet.models import CausalNet, CausalNetConfig
from causalnet.train import ExperimentConfig, LosoRun, TrainConfig
from causalnet.train.loop import fit, mixup_batch

TINY = CausalNetConfig(dim=8, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=16,
                       input_scale=1 / 127.5, input_shift=-1.0)


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 4, 3, 28, 28)) * 255).astype(np.float32), rng.integers(0, 3, n)


def _train(cfg: TrainConfig, seed: int = 0):
    x, y = _data()
    torch.manual_seed(0)
    model = CausalNet(TINY)
    start = copy.deepcopy(model)
    hist = fit([model], x, y, [np.arange(len(y))], cfg, seed=seed, num_classes=3, eval_sets=[np.arange(6)])[0]
    return model, start, hist


def _distance(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_new_fields_default_to_the_old_behaviour():
    cfg = TrainConfig()
    assert (cfg.input_norm, cfg.mixup, cfg.ema) == ("none", 0.0, 0.0)
    for field, bad in (("input_norm", "test"), ("mixup", -1), ("ema", 1.0)):
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: bad})


def test_center_groups_equalises_group_means_using_fit_rows_only():
    rng = np.random.default_rng(1)
    x = rng.random((9, 2, 3)).astype(np.float32) + np.repeat([0.0, 5.0, 10.0], 3)[:, None, None]
    groups = np.repeat(["a", "b", "c"], 3)
    out = center_groups(x, groups)
    means = [out[groups == g].mean(axis=0) for g in "abc"]
    assert np.allclose(means[0], means[1], atol=1e-5) and np.allclose(means[1], means[2], atol=1e-5)
    assert np.allclose(means[0], x.mean(axis=0), atol=1e-5)  # the overall mean is kept
    # rows outside ``fit`` do not influence any mean: changing them changes only themselves
    fit_rows = np.arange(9) != 8
    x2 = x.copy()
    x2[8] += 100
    a, b = center_groups(x, groups, fit_rows), center_groups(x2, groups, fit_rows)
    assert np.allclose(a[:8], b[:8]) and np.allclose(b[8] - a[8], 100, atol=1e-4)
    with pytest.raises(ValueError, match="groups"):
        center_groups(x, groups[:5])


def test_subject_norm_centres_every_subject_and_dataset_norm_ignores_the_test_subject(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    base = ExperimentConfig.preset("compact").with_overrides({"train.members": "2"})
    run = LosoRun(tmp_path / "s", clips, base.with_overrides({"train.input_norm": "subject"}))
    x, _, _ = run.inputs()
    n = len(clips)
    plain = LosoRun(tmp_path / "p", clips, base).inputs()[0].astype(np.float32)
    for copy_rows in (slice(0, n), slice(n, 2 * n)):  # the clips, then their mirror images
        sub = clips.subjects
        means = np.stack([x[copy_rows][sub == s].mean(axis=0) for s in clips.subject_list()])
        assert np.allclose(means, means[0], atol=1e-3)
        assert not np.allclose(plain[copy_rows][sub == "sub01"].mean(axis=0), plain[copy_rows].mean(axis=0), atol=1)
    # dataset centring: the test subject's own clips never enter the means
    drun = LosoRun(tmp_path / "d", clips, base.with_overrides({"train.input_norm": "dataset"}))
    job = drun.make_job(drun.keys()[0])
    test = clips.subjects == drun.keys()[0].subject
    train_rows = np.tile(~test, 2)
    groups = np.char.add(np.tile(clips.datasets.astype(str), 2), np.repeat(["#0", "#1"], n))
    for g in np.unique(groups):
        rows = (groups == g) & train_rows
        assert np.allclose(job.x[rows].mean(axis=0), plain[train_rows].mean(axis=0), atol=1e-3)
    with pytest.raises(ValueError, match="input_norm"):
        from causalnet.train import train_all
        train_all(clips, base.with_overrides({"train.input_norm": "subject"}))


def test_mixup_batch_mixes_each_member_with_a_shuffled_copy():
    xb = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 6, 1)
    out, mixes = mixup_batch(xb, 0.4, torch.Generator().manual_seed(0), np.random.default_rng(0))
    for k, (lam, partner) in enumerate(mixes):
        assert 0 <= lam <= 1 and sorted(partner.tolist()) == list(range(6))
        assert torch.allclose(out[k], lam * xb[k] + (1 - lam) * xb[k, partner])


def test_mixup_changes_training_and_is_deterministic():
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=8)
    plain, _, _ = _train(cfg)
    mixed, _, h1 = _train(TrainConfig(epochs=2, lr=1e-3, batch_size=8, mixup=0.4))
    again, _, h2 = _train(TrainConfig(epochs=2, lr=1e-3, batch_size=8, mixup=0.4))
    assert _distance(plain, mixed) > 1e-4
    assert np.array_equal(h1, h2) and _distance(mixed, again) == 0


def test_ema_weights_are_evaluated_and_kept():
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=8)
    plain, start, _ = _train(cfg)
    assert _distance(plain, start) > 1e-3  # plain training moves the weights
    # a decay close to 1 keeps the average at the initial weights: evaluation and final weights stay there
    slow, start, hist = _train(TrainConfig(epochs=2, lr=1e-2, batch_size=8, ema=1 - 1e-9))
    assert _distance(slow, start) < 1e-6
    assert np.allclose(hist[0], hist[1], atol=1e-6)
    some, _, _ = _train(TrainConfig(epochs=2, lr=1e-2, batch_size=8, ema=0.5))
    assert 1e-6 < _distance(some, plain)


def test_fold_results_can_keep_the_members_validation_predictions(fake_composite, tmp_path):
    from causalnet.engine import FoldResult

    clips = load_composite(fake_composite)
    cfg = ExperimentConfig.preset("compact").with_overrides(
        {"model.dim": "8", "model.head_hidden": "16", "train.epochs": "2", "train.members": "2"})
    run = LosoRun(tmp_path / "r", clips, cfg, subjects=["sub01"], val_probs=True)
    run.train()
    fold = FoldResult.load(run.fold_path(0, "sub01"))
    assert fold.val_probs.shape[:2] == (2, 2) and fold.val_rows.shape == (2, fold.val_probs.shape[2])
    held = [set(clips.subjects[r[r >= 0]]) for r in fold.val_rows]
    assert not held[0] & held[1] and "sub01" not in held[0] | held[1]  # disjoint training subjects
    for k in range(2):  # the stored predictions are the ones the validation scores were computed from
        valid = fold.val_rows[k] >= 0
        from causalnet.eval.protocols import validation_scores
        uf1, _ = validation_scores(fold.val_probs[k][:, valid], clips.y[fold.val_rows[k][valid]])
        assert np.allclose(uf1, fold.val_uf1[k])
    plain = LosoRun(tmp_path / "p", clips, cfg, subjects=["sub01"])
    plain.train()
    assert FoldResult.load(plain.fold_path(0, "sub01")).val_probs is None


def test_stacking_weight_and_cross_fitting():
    from causalnet.train.stacking import choose_weight, linear_features, stack_fold

    labels = np.array([0, 1, 2, 0])
    sure = np.eye(3)[labels] * 0.9 + 0.1 / 3
    flat = np.full((4, 3), 1 / 3)
    assert choose_weight(sure, flat, labels) == 1.0 and choose_weight(flat, sure, labels) == 0.0
    assert linear_features(np.zeros((2, 4, 3, 28, 28))).shape == (2, 3 * 14 * 14)
    # a fold whose class shows in the linear model's pixels but whose deep predictions are uninformative
    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2], 20)
    x = rng.random((60, 4, 3, 28, 28)).astype(np.float32) * 60
    x[np.arange(60), 0, y] += 150
    test, val = np.arange(3), [np.arange(3, 30), np.arange(30, 60)]
    train_sets = [np.arange(30, 60), np.arange(3, 30)]
    eval_sets = [np.concatenate([test, v]) for v in val]
    history = [np.full((2, len(e), 3), 1 / 3, np.float32) for e in eval_sets]
    stacked, facts = stack_fold(history, x, y, train_sets, eval_sets, 3, 3)
    assert facts["weight"] < 0.5 and len(facts["val_weights"]) == 2
    for k, h in enumerate(stacked):
        assert h.shape == history[k].shape and np.allclose(h.sum(-1), 1, atol=1e-5)
        assert (h[-1, 3:].argmax(-1) == y[val[k]]).mean() > 0.9  # the linear model's knowledge came through
    # without validation rows nothing is stacked
    same, facts = stack_fold([h[:, :3] for h in history], x, y, train_sets, [test, test], 3, 3)
    assert facts["weight"] == 1.0 and same[0] is history[0] or np.array_equal(same[0], history[0][:, :3])


def test_stacked_runs_store_stacked_predictions(fake_composite, tmp_path):
    from causalnet.engine import FoldResult

    clips = load_composite(fake_composite)
    cfg = ExperimentConfig.preset("compact").with_overrides(
        {"model.dim": "8", "model.head_hidden": "16", "train.epochs": "2", "train.members": "2"})
    plain = LosoRun(tmp_path / "p", clips, cfg, subjects=["sub01"])
    stacked = LosoRun(tmp_path / "s", clips, cfg.with_overrides({"train.stack": "linear"}), subjects=["sub01"])
    plain.train()
    stacked.train()
    a, b = (FoldResult.load(r.fold_path(0, "sub01")) for r in (plain, stacked))
    assert a.probs.shape == b.probs.shape and not np.allclose(a.probs, b.probs)
    from causalnet.train import train_all
    with pytest.raises(ValueError, match="train.stack"):
        train_all(clips, cfg.with_overrides({"train.stack": "linear"}))


def test_members_start_from_a_pretrained_checkpoint(fake_composite, tmp_path):
    from causalnet.engine import FoldKey
    from causalnet.models import save_checkpoint
    from causalnet.train.fold import FoldJob, run_fold

    torch.manual_seed(5)
    pretrained = CausalNet(TINY)
    path = tmp_path / "pre.safetensors"
    save_checkpoint(path, pretrained)
    x, y = _data(12)
    cfg = TrainConfig(epochs=1, lr=1e-9, batch_size=64, members=2, init=str(path))
    job = FoldJob(FoldKey("", 0, "t"), "causalnet", TINY, cfg, 0, x, y, [np.arange(4, 12)] * 2,
                  [np.arange(4)] * 2, 4, np.array(["a", "b", "c", "d"]), 3, checkpoint=True)
    out = run_fold(job)
    # a tiny learning rate: the members end where the checkpoint started, whatever the seed
    from safetensors.torch import load as load_bytes
    state = load_bytes(out.checkpoint)
    assert all(torch.allclose(state[k], v, atol=1e-5) for k, v in pretrained.state_dict().items())
    other = dataclasses.replace(TINY, head_hidden=8)
    with pytest.raises(ValueError, match="head_hidden"):
        run_fold(FoldJob(FoldKey("", 0, "t"), "causalnet", other, cfg, 0, x, y, [np.arange(4, 12)] * 2,
                         [np.arange(4)] * 2, 4, np.array(["a", "b", "c", "d"]), 3))


def test_reverse_gradient_is_the_identity_with_a_negated_scaled_gradient():
    from causalnet.train.adversarial import reverse_gradient

    x = torch.randn(5, 3, requires_grad=True)
    out = reverse_gradient(x, 0.3)
    assert torch.allclose(out, x)
    out.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.3))


def _adversarial_fit(adversary: float, members: int, domains=None):
    x, y = _data()
    domains = np.arange(len(y)) % 3 if domains is None else domains
    models = []
    for k in range(members):
        torch.manual_seed(k)
        models.append(CausalNet(TINY))
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=8, adversary=adversary)
    sets = [np.arange(len(y))[k::members] if members > 1 else np.arange(len(y)) for k in range(members)]
    hist = fit(models, x, y, sets, cfg, seed=0, num_classes=3, eval_sets=[np.arange(6)] * members, domains=domains)
    return models, hist


@pytest.mark.parametrize("members", [1, 2])
def test_dataset_adversary_changes_training_deterministically_and_keeps_plain_models(members):
    plain, _ = _adversarial_fit(0.0, members)
    adv, h1 = _adversarial_fit(0.5, members)
    again, h2 = _adversarial_fit(0.5, members)
    for p, a, b in zip(plain, adv, again, strict=True):
        assert type(a) is CausalNet and not any("domain" in n for n, _ in a.named_parameters())
        assert _distance(p, a) > 1e-4  # the reversed domain gradient reaches the features
        assert _distance(a, b) == 0
    assert all(np.array_equal(a, b) for a, b in zip(h1, h2, strict=True))
    assert all(np.isfinite(h).all() and np.allclose(h.sum(-1), 1, atol=1e-5) for h in h1)


def test_dataset_adversary_checks_its_inputs():
    with pytest.raises(ValueError, match="source dataset"):
        fit([CausalNet(TINY)], *_data(), [np.arange(24)], TrainConfig(epochs=1, adversary=0.5), seed=0,
            num_classes=3, eval_sets=[np.arange(2)])
    with pytest.raises(ValueError, match="domains must be"):
        _adversarial_fit(0.5, 1, domains=np.arange(5))
    with pytest.raises(ValueError, match="at least 2 source datasets"):
        _adversarial_fit(0.5, 1, domains=np.zeros(24, np.int64))
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(adversary=0.5, mixup=0.2)


def test_loso_jobs_carry_the_dataset_of_every_row(fake_composite, tmp_path):
    from causalnet.train import train_all

    clips = load_composite(fake_composite)
    cfg = ExperimentConfig.preset("compact").with_overrides({"train.members": "2", "train.adversary": "0.3"})
    run = LosoRun(tmp_path / "a", clips, cfg)
    job = run.make_job(run.keys()[0])
    n = len(clips)
    assert job.domains.shape == (len(job.x),) == (2 * n,)  # the clips, then their mirror images
    names = np.unique(clips.datasets)
    assert (names[job.domains[:n]] == clips.datasets).all() and (job.domains[n:] == job.domains[:n]).all()
    plain = LosoRun(tmp_path / "p", clips, ExperimentConfig.preset("compact").with_overrides({"train.members": "2"}))
    assert plain.make_job(plain.keys()[0]).domains is None
    model = train_all(clips, cfg.with_overrides({"train.epochs": "1"}))
    assert type(model).__name__ == "CausalNet"


def test_masked_reconstruction_hides_whole_patches_in_the_given_ratio():
    from causalnet.train.pretrain import MaskedReconstruction

    x = torch.rand(3, 4, 3, 28, 28) * 255
    wrapper = MaskedReconstruction(CausalNet(TINY), x[:1], ratio=0.5, patch=7)
    hidden = wrapper.mask(x)
    assert hidden.shape == (3, 4, 1, 28, 28)
    patches = hidden.reshape(3, 4, 4, 7, 4, 7)  # [b, i, grid row, 7, grid col, 7]
    assert (patches.all(dim=(3, 5)) == patches.any(dim=(3, 5))).all()  # whole patches
    assert (patches.all(dim=(3, 5)).sum(dim=(2, 3)) == 8).all()  # half of the 16 patches of every image
    logits, loss = wrapper.forward_train(x, torch.zeros(3, dtype=torch.long))
    assert logits.shape == (3, 3) and not logits.requires_grad and (logits == 0).all()
    assert loss.requires_grad and loss.item() > 0
    with pytest.raises(ValueError, match="multiples of 5"):
        MaskedReconstruction(CausalNet(TINY), x[:1], patch=5)


def test_masked_pretraining_trains_the_features_without_the_labels(fake_composite):
    from causalnet.train import train_all

    clips = load_composite(fake_composite)
    cfg = ExperimentConfig.preset("compact").with_overrides({"train.epochs": "2"})
    a = train_all(clips, cfg, objective="masked")
    shuffled = dataclasses.replace(clips, y=np.roll(clips.y, 1))
    b = train_all(shuffled, cfg, objective="masked")
    assert _distance(a, b) == 0  # the labels are not used
    c = train_all(clips, cfg)  # the classifier moves the same start elsewhere
    assert _distance(a, c) > 1e-4
    assert not any("decoder" in n for n, _ in a.named_parameters())
    with pytest.raises(ValueError, match="objective"):
        train_all(clips, cfg, objective="contrastive")


def test_objective_needs_save_model(fake_composite, tmp_path, capsys):
    from causalnet.cli import main

    assert main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "r"), "--objective", "masked"]) == 1
    assert "--objective masked needs --save-model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_training_wrappers_refuse_models_without_features_and_head():
    from causalnet.train.adversarial import DomainAdversarial
    from causalnet.train.pretrain import MaskedReconstruction

    class Bare(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :3]

    x = torch.zeros(1, 4, 3, 28, 28)
    with pytest.raises(ValueError, match="train.adversary needs a model with forward_features"):
        DomainAdversarial(Bare(), 3, 0.1, x)
    with pytest.raises(ValueError, match="masked pretraining needs a model with forward_features"):
        MaskedReconstruction(Bare(), x)


def test_generalised_cross_entropy_is_bounded_and_tends_to_cross_entropy():
    import torch.nn.functional as F

    from causalnet.train.loop import class_loss

    torch.manual_seed(0)
    logits, y = torch.randn(16, 3) * 3, torch.randint(0, 3, (16,))
    weight = torch.tensor([1.0, 2.0, 0.5])
    p_y = torch.softmax(logits, -1)[torch.arange(16), y]
    for w in (None, weight):
        ce = F.cross_entropy(logits, y, weight=w)
        near = class_loss(logits, y, w, TrainConfig(gce_q=1e-4))
        assert torch.allclose(near, ce, rtol=1e-3), (near, ce)
        assert torch.equal(class_loss(logits, y, w, TrainConfig()), ce)  # q = 0: the cross-entropy itself
    ww = weight[y]
    assert torch.allclose(class_loss(logits, y, weight, TrainConfig(gce_q=1.0)), (ww * (1 - p_y)).sum() / ww.sum())
    wrong = torch.tensor([[-50.0, 50.0, 0.0]])  # a confident contradiction of label 0
    assert class_loss(wrong, torch.tensor([0]), None, TrainConfig(gce_q=0.7)) <= 1 / 0.7 + 1e-6
    with pytest.raises(ValueError, match="gce_q and train.label_smoothing"):
        TrainConfig(gce_q=0.7, label_smoothing=0.1)


def test_generalised_cross_entropy_trains_deterministically():
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=8, gce_q=0.7)
    (m1, start, h1), (m2, _, h2) = _train(cfg), _train(cfg)
    assert _distance(m1, start) > 0 and _distance(m1, m2) == 0
    assert np.allclose(h1, h2)
