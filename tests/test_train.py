"""LOSO training and evaluation: outputs, metrics, protocols, determinism, resuming, the CLI."""

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from causalnet.cli import main
from causalnet.data import load_composite
from causalnet.models import load_checkpoint
from causalnet.train import ExperimentConfig, LosoRun, TrainConfig, fold_seed, read_predictions, select_epoch

FAST = {"model.dim": "8", "model.head_hidden": "16", "train.epochs": "4", "train.lr": "3e-3", "train.members": "1",
        "train.member_validation": "false", "train.batch_size": "1024"}


def small_cfg(**extra) -> ExperimentConfig:
    return ExperimentConfig.preset("compact").with_overrides({**FAST, **extra}, protocol="fixed")


def sklearn_metrics(rows):
    y = [r["label"] for r in rows]
    p = [r["pred"] for r in rows]
    return {"uf1": f1_score(y, p, average="macro"), "uar": recall_score(y, p, average="macro"),
            "acc": accuracy_score(y, p)}


def test_loso_outputs_and_metrics_match_sklearn(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    out = tmp_path / "run"
    metrics = LosoRun(out, clips, small_cfg()).run()
    assert json.loads((out / "metrics.json").read_text()) == metrics
    header = (out / "predictions.csv").read_text().splitlines()[0]
    assert header == "run,subject,dataset,clip,label,pred,p0,p1,p2"
    rows = read_predictions(out / "predictions.csv")
    assert len(rows) == len(clips)
    assert {r["subject"] for r in rows} == set(clips.subject_list())
    for r in rows:
        assert r["pred"] == int(np.argmax(r["probs"])) and abs(sum(r["probs"]) - 1) < 1e-4
    ref = sklearn_metrics(rows)
    for key in ("uf1", "uar", "acc"):
        assert metrics["composite"][key] == pytest.approx(ref[key])
    for ds in ("casme2", "smic", "samm"):
        sub = [r for r in rows if r["dataset"] == ds]
        assert metrics[ds]["n"] == 6
        assert metrics[ds]["uf1"] == pytest.approx(sklearn_metrics(sub)["uf1"])
    cfg = json.loads((out / "config.json").read_text())
    assert ExperimentConfig.from_dict(cfg["experiment"]).to_dict() == small_cfg().to_dict()


def test_learns_an_easy_task(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    cfg = small_cfg(**{"train.epochs": "12"})  # every fold predicts all its clips right from the 4th epoch on
    metrics = LosoRun(tmp_path / "run", clips, cfg, subjects=["sub01", "s02", "007"]).run()
    assert metrics["composite"]["acc"] >= 0.8  # the class is written into one channel


def test_fold_results_do_not_depend_on_other_folds(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    a = LosoRun(tmp_path / "a", clips, small_cfg(), subjects=["sub01", "s01"])
    b = LosoRun(tmp_path / "b", clips, small_cfg(), subjects=["s01"])
    a.run(), b.run()
    pa = np.load(a.fold_path(0, "s01"))["probs"]
    pb = np.load(b.fold_path(0, "s01"))["probs"]
    assert np.array_equal(pa, pb)
    assert fold_seed(1, 0, "s01") != fold_seed(1, 0, "s02") != fold_seed(1, 1, "s02")


def test_interrupted_run_resumes_to_the_same_predictions(fake_composite, tmp_path, monkeypatch):
    clips = load_composite(fake_composite)
    subjects = ["sub01", "sub02", "s01", "006"]  # the third fold crashes: two finished, one never started
    cfg = small_cfg(**{"train.epochs": "2"})
    full = tmp_path / "full"
    LosoRun(full, clips, cfg, subjects=subjects).run()

    import causalnet.train.loso as fold_module

    part = tmp_path / "part"
    calls = {"n": 0}
    real = fold_module.run_fold

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(fold_module, "run_fold", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        LosoRun(part, clips, cfg, subjects=subjects).run()
    assert len(list((part / "folds" / "run0").glob("*.npz"))) == 2
    assert not list(part.rglob("*.tmp"))  # nothing half-written
    monkeypatch.setattr(fold_module, "run_fold", real)
    resumed = LosoRun(part, clips, cfg, subjects=subjects)
    assert len(resumed.pending()) == 2
    resumed.run()
    assert (part / "predictions.csv").read_text() == (full / "predictions.csv").read_text()


def test_run_folder_refuses_a_different_experiment(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    LosoRun(tmp_path / "r", clips, small_cfg(), subjects=["s01"]).run()
    with pytest.raises(ValueError, match="different experiment"):
        LosoRun(tmp_path / "r", clips, small_cfg(**{"train.lr": "1e-2"}), subjects=["s01"]).run()


def test_protocols_select_epochs():
    history = np.zeros((3, 2, 3), np.float32)
    history[0, :, 0] = 1  # epoch 0 predicts class 0 for both
    history[1, :, 1] = 1  # epoch 1 predicts class 1 (all correct)
    history[2, :, 2] = 1
    labels = np.array([1, 1])
    assert select_epoch(history, labels, "fixed") == 2
    assert select_epoch(history, labels, "oracle") == 1
    with pytest.raises(ValueError):
        select_epoch(history, labels, "best")


def test_several_runs_report_mean_and_std(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    m = LosoRun(tmp_path / "r", clips, small_cfg(), runs=2, subjects=["s01", "006"]).run()
    comp = m["composite"]
    assert m["runs"] == 2 and len(comp["runs"]) == 2
    assert comp["uf1"] == pytest.approx(np.mean([r["uf1"] for r in comp["runs"]]))
    assert comp["std"]["uf1"] == pytest.approx(np.std([r["uf1"] for r in comp["runs"]]))
    rows = read_predictions(tmp_path / "r" / "predictions.csv")
    assert {r["run"] for r in rows} == {0, 1}


def test_cli_train_evaluate_and_save_model(fake_composite, tmp_path, capsys):
    out = tmp_path / "RUN"
    sets = [f"{k}={v}" for k, v in FAST.items() if k != "train.epochs"]
    args = ["train", "--data", str(fake_composite), "--preset", "compact", "--epochs", "2", "--subjects",
            "sub01,s01,006", "--no-progress", "--out", str(out), "--protocol", "fixed", "--set", *sets]
    assert main(args) == 0
    first = (out / "predictions.csv").read_text()
    assert main(args) == 0  # resume: every fold already finished
    assert (out / "predictions.csv").read_text() == first
    capsys.readouterr()
    assert main(["evaluate", str(out), "--confusion"]) == 0
    text = capsys.readouterr().out
    assert "composite" in text and "confusion" in text and "fixed (honest" in text
    assert main(["evaluate", str(out), "--protocol", "oracle"]) == 0
    assert "ORACLE" in capsys.readouterr().out
    # evaluate --protocol must not overwrite the run's own metrics.json
    assert json.loads((out / "metrics.json").read_text())["protocol"] == "fixed"

    ckpt = tmp_path / "model.safetensors"
    assert main(["train", "--data", str(fake_composite), "--epochs", "2", "--no-progress", "--save-model",
                 str(ckpt), "--protocol", "fixed", "--set", *sets]) == 0
    model = load_checkpoint(ckpt)
    assert model.config.dim == 8 and model.extra["clips"] == 18


def test_presets_use_honest_protocols():
    assert ExperimentConfig.preset("paper").protocol == "fixed"
    compact = ExperimentConfig.preset("compact")
    assert compact.protocol == "val" and compact.train.member_validation and compact.train.members >= 2


def test_cli_bad_input_is_one_clear_line(fake_composite, tmp_path, capsys):
    shutil.rmtree(fake_composite / "STSNet_whole_norm_u_v_os")
    code = main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "image not found" in err and "Traceback" not in err
    assert main(["train", "--data", str(tmp_path), "--set", "gamma", "--out", str(tmp_path / "y")]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err


def test_train_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="no field 'nope'"):
        small_cfg(**{"train.nope": "1"})
    with pytest.raises(ValueError, match="unknown scope"):
        small_cfg(**{"optim.lr": "1"})


def test_acceptance_command_on_real_data(composite_root, tmp_path, capsys):
    """The issue's acceptance command (compact preset, 2 epochs, three subjects), metrics vs sklearn."""
    out = tmp_path / "RUN"
    assert main(["train", "--data", str(composite_root), "--preset", "compact", "--epochs", "2", "--subjects",
                 "sub01,s01,006", "--no-progress", "--out", str(out)]) == 0
    assert main(["evaluate", str(out)]) == 0
    rows = read_predictions(out / "predictions.csv")
    assert {r["subject"] for r in rows} == {"sub01", "s01", "006"}
    metrics = json.loads((out / "metrics.json").read_text())
    ref = sklearn_metrics(rows)
    for key in ("uf1", "uar", "acc"):
        assert metrics["composite"][key] == pytest.approx(ref[key])


def test_member_validation_splits_training_subjects_only(fake_composite, tmp_path):
    from causalnet.train.loso import member_splits

    subjects = ["a", "b", "c", "d", "e"]
    splits = member_splits(subjects, 2, True, seed=3)
    assert sorted(sum(splits, [])) == subjects and not set(splits[0]) & set(splits[1])
    assert member_splits(subjects, 3, False, seed=3) == [[], [], []]
    with pytest.raises(ValueError, match="members >= 2"):
        member_splits(subjects, 1, True, seed=3)

    clips = load_composite(fake_composite)
    cfg = small_cfg(**{"train.members": "2", "train.member_validation": "true"}).with_protocol("val")
    run = LosoRun(tmp_path / "r", clips, cfg, subjects=["s01"])
    metrics = run.run()
    assert metrics["protocol"] == "val"
    from causalnet.engine import FoldResult

    fold = FoldResult.load(run.fold_path(0, "s01"))
    assert fold.probs.shape == (2, 4, 3, 3)  # members, epochs, test clips, classes
    assert not np.isnan(fold.val_uf1).any() and not np.isnan(fold.val_nll).any()
    # the same fold files serve every protocol
    assert {r["pred"] for r in run.prediction_rows("oracle")} <= {0, 1, 2}


def test_val_protocol_uses_each_members_best_validation_epoch():
    from causalnet.engine import FoldResult
    from causalnet.eval.protocols import select_probs, validation_epoch

    assert validation_epoch(np.array([0.5, 0.7, 0.7]), np.array([1.0, 0.9, 0.8])) == 2  # tie -> lower loss
    assert validation_epoch(np.array([0.5, 0.7, 0.7]), np.array([1.0, 0.8, 0.8])) == 1  # then earlier
    probs = np.zeros((2, 3, 1, 3), np.float32)
    probs[0, 1, 0] = [1, 0, 0]
    probs[1, 2, 0] = [0, 0, 1]
    fold = FoldResult(probs, np.array(["c"]), np.array([0]), np.array([[0, 1, 0], [0, 0, 1.0]]),
                      np.zeros((2, 3)))
    chosen, _ = select_probs(fold, "val")
    assert np.allclose(chosen, [0.5, 0, 0.5])
    no_val = FoldResult(probs, np.array(["c"]), np.array([0]), np.full((2, 3), np.nan), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="without member validation"):
        select_probs(no_val, "val")
    with pytest.raises(ValueError, match="member_validation"):
        small_cfg().with_protocol("val")


def test_random_shift_moves_whole_samples():
    import torch

    from causalnet.train.loop import random_shift

    x = torch.arange(2 * 4 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 4, 3, 28, 28)
    y = random_shift(x, 1, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    for b in range(2):  # one offset per sample: some integer translation of the original
        found = any(torch.equal(y[b, :, :, 1:-1, 1:-1], x[b, :, :, 1 + dy:27 + dy, 1 + dx:27 + dx])
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert found
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_vectorised_members_train_like_independent_models():
    """fit with several members (stacked parameters under vmap, one optimiser) == each member trained alone."""
    import copy

    import torch

    from causalnet.models import CausalNet, CausalNetConfig
    from causalnet.train.loop import fit

    rng = np.random.default_rng(0)
    x = (rng.random((24, 4, 3, 28, 28)) * 255).astype(np.float32)
    y = rng.integers(0, 3, 24)
    cfg = TrainConfig(epochs=3, lr=1e-3, weight_decay=0.01, batch_size=64, class_weights="balanced",
                      label_smoothing=0.1)
    mcfg = CausalNetConfig(dim=8, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=16)
    models = []
    for k in range(2):
        torch.manual_seed(k)
        models.append(CausalNet(mcfg))
    alone = [copy.deepcopy(m) for m in models]
    sets = [np.arange(0, 16), np.arange(8, 24)]
    hist = fit(models, x, y, sets, cfg, seed=0, num_classes=3, eval_sets=[np.arange(5), np.arange(5)])
    assert hist[0].shape == (3, 5, 3)
    for k, (model, ref) in enumerate(zip(models, alone, strict=True)):
        ref_hist = fit([ref], x, y, [sets[k]], cfg, seed=0, num_classes=3, eval_sets=[np.arange(5)])[0]
        assert np.allclose(hist[k], ref_hist, atol=2e-4), k
        for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
            if name.endswith("pos_emb"):
                # a per-level scalar ahead of a LayerNorm: its true gradient is 0, so Adam turns
                # float noise into lr-sized steps that differ between the two code paths
                continue
            assert torch.allclose(p, q, atol=2e-4), name


def test_save_model_keeps_the_preprocessing_settings(fake_composite, tmp_path):
    from causalnet.flow.config import PreprocessConfig
    from causalnet.io import write_json_atomic

    settings = PreprocessConfig().to_dict()
    write_json_atomic(fake_composite / "preprocess.json", {"preprocess": settings, "apex_method": "middle"})
    ckpt = tmp_path / "m.safetensors"
    sets = [f"{k}={v}" for k, v in FAST.items()]
    assert main(["train", "--data", str(fake_composite), "--no-progress", "--save-model", str(ckpt),
                 "--protocol", "fixed", "--set", *sets]) == 0
    assert load_checkpoint(ckpt).extra["preprocess"] == settings


def test_per_class_table_survives_a_degenerate_run():
    from causalnet.eval import per_class_table

    text = per_class_table(np.array([0, 0]), np.array([1, 1]), ("negative", "positive", "surprise"))
    assert "negative" in text and "  2" in text


def test_cosine_schedule_decays_to_zero_and_constant_stays():
    from causalnet.train.loop import lr_factor

    assert lr_factor("cosine", 0, 100) == 1.0
    assert lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 99, 100) < 1e-3
    assert all(lr_factor("constant", s, 100) == 1.0 for s in (0, 50, 99))
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


def test_run_folder_from_before_a_new_config_field_still_resumes(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    out = tmp_path / "run"
    old = {"train.mirror": "false", "train.mirror_tta": "false", "train.schedule": "constant"}  # their defaults
    LosoRun(out, clips, small_cfg(**old), subjects=["sub01"]).run()
    record = json.loads((out / "config.json").read_text())
    for new_field in ("mirror", "mirror_tta", "schedule"):  # as written before these fields existed
        del record["experiment"]["train"][new_field]
    (out / "config.json").write_text(json.dumps(record))
    LosoRun(out, clips, small_cfg(**old), subjects=["sub01", "s01"]).run()  # resumes, adds a fold
    assert (out / "folds" / "run0" / "s01.npz").is_file()
    with pytest.raises(ValueError, match="different experiment"):  # a real difference is still refused
        LosoRun(out, clips, small_cfg(**{**old, "train.mirror": "true"}), subjects=["sub01"]).run()
