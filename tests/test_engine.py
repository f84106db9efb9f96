"""The one fold engine: backends give identical folds, resume after a kill, damaged fold files, the
run lock, devices, few-subject datasets, features, sweeps and the checks done before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from causalnet.cli import main
from causalnet.data import load_composite
from causalnet.engine import FoldKey, FoldResult, FoldStore, LocalBackend, RunLockedError
from causalnet.train import ExperimentConfig, LosoRun
from conftest import LOCAL_BACKEND_POST_INIT, write_fake_composite

FAST = {"model.dim": 8, "model.head_hidden": 16, "train.epochs": 2, "train.lr": 3e-3, "train.members": 2,
        "train.member_validation": True, "train.batch_size": 16}
FAST_SET = [f"{k}={v}" for k, v in FAST.items()]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def cfg(**extra) -> ExperimentConfig:
    return ExperimentConfig.preset("compact").with_overrides({**FAST, **extra})


def fold_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(run_dir)): np.load(p)["probs"] for p in sorted(run_dir.rglob("folds/**/*.npz"))}


# --------------------------------------------------------------------------------------- backends

def test_process_pool_gives_the_same_folds_as_in_process(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    a = LosoRun(tmp_path / "a", clips, cfg(), subjects=["sub01", "s01", "006"])
    b = LosoRun(tmp_path / "b", clips, cfg(), subjects=["sub01", "s01", "006"])
    a.run(backend=LocalBackend(workers=1, threads=1))
    b.run(backend=LocalBackend(workers=2, threads=1))
    fa, fb = fold_arrays(tmp_path / "a"), fold_arrays(tmp_path / "b")
    assert fa.keys() == fb.keys() and len(fa) == 3
    assert all(np.array_equal(fa[k], fb[k]) for k in fa)
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()
    log = (tmp_path / "b" / "run.log").read_text()
    assert log.count("done in") == 3


@pytest.mark.slow
def test_ray_backend_gives_the_same_predictions_as_local(fake_composite, tmp_path):
    pytest.importorskip("ray")
    args = ["train", "--data", str(fake_composite), "--subjects", "sub01,s01,006", "--no-progress", "--set",
            *FAST_SET]
    # (local folds in this process: the process pool gives the same folds, test_process_pool_gives_the_same_...)
    assert main([*args, "--out", str(tmp_path / "local"), "--workers", "1", "--device", "cpu"]) == 0
    assert main([*args, "--out", str(tmp_path / "ray"), "--backend", "ray", "--device", "cpu"]) == 0
    assert (tmp_path / "ray" / "predictions.csv").read_text() == (tmp_path / "local" / "predictions.csv").read_text()
    fl, fr = fold_arrays(tmp_path / "local"), fold_arrays(tmp_path / "ray")
    assert all(np.array_equal(fl[k], fr[k]) for k in fl)


def test_killed_driver_resumes_to_the_same_predictions(fake_composite, tmp_path, monkeypatch):
    """A real SIGKILL of a `causalnet train` process between folds; the rerun finishes the rest, equal to an
    uninterrupted run. Only the killed run needs a process of its own: the uninterrupted run and the rerun are
    the same command run in this process (`main`: the same code, and the child's thread count, not conftest's)."""
    monkeypatch.setattr(LocalBackend, "__post_init__", LOCAL_BACKEND_POST_INIT)
    args = ["train", "--data", str(fake_composite), "--subjects", "sub01,s01,006", "--no-progress", "--workers", "1",
            "--device", "cpu", "--set", *FAST_SET, "train.epochs=6"]
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    full, part = tmp_path / "full", tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "causalnet.cli", *args, "--out", str(part)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None and not list(part.glob("folds/run0/*.npz")):
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = len(list(part.glob("folds/run0/*.npz")))
    assert 1 <= done < 3, done
    assert not (part / "predictions.csv").exists()
    assert main([*args, "--out", str(full)]) == 0
    assert main([*args, "--out", str(part)]) == 0
    assert (part / "predictions.csv").read_text() == (full / "predictions.csv").read_text()
    assert not list(part.rglob("*.tmp"))


# ------------------------------------------------------------------------------- fold files, lock

def test_damaged_fold_file_is_reported_kept_aside_and_recomputed(fake_composite, tmp_path, caplog):
    clips = load_composite(fake_composite)
    run = LosoRun(tmp_path / "r", clips, cfg(), subjects=["sub01", "s01"])
    run.run()
    before = (tmp_path / "r" / "predictions.csv").read_text()
    path = run.fold_path(0, "s01")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a truncated write (e.g. a full disk)
    with pytest.raises(ValueError, match="damaged fold result"):
        FoldResult.load(path)
    assert LosoRun(tmp_path / "r", clips, cfg(), subjects=["sub01", "s01"]).pending() == [(0, "s01")]
    assert (path.parent / (path.name + ".damaged")).is_file()  # nothing deleted
    LosoRun(tmp_path / "r", clips, cfg(), subjects=["sub01", "s01"]).run()
    assert (tmp_path / "r" / "predictions.csv").read_text() == before
    assert "damaged fold result" in caplog.text


def test_second_training_into_a_locked_folder_is_refused(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    out = tmp_path / "r"
    with FoldStore(out).lock():
        with pytest.raises(RunLockedError, match="another causalnet process"):
            LosoRun(out, clips, cfg(), subjects=["s01"]).run()
    LosoRun(out, clips, cfg(), subjects=["s01"]).run()  # the lock is released


def test_fold_paths_refuse_names_that_leave_the_folder(tmp_path):
    store = FoldStore(tmp_path)
    for bad in ("../../x", "a/b", "..", "", "x\x00"):
        with pytest.raises(ValueError):
            store.path(FoldKey("", 0, bad))
    with pytest.raises(ValueError):
        store.path(FoldKey("../g", 0, "s01"))
    assert store.path(FoldKey("", 1, "006")) == tmp_path / "folds" / "run1" / "006.npz"


def test_a_different_experiment_is_refused_naming_the_field(fake_composite, tmp_path):
    clips = load_composite(fake_composite)
    LosoRun(tmp_path / "r", clips, cfg(), subjects=["s01"]).run()
    with pytest.raises(ValueError, match=r"train\.lr: stored 0\.003, requested 0\.01"):
        LosoRun(tmp_path / "r", clips, cfg(**{"train.lr": 0.01}), subjects=["s01"]).run()
    # another protocol is not another experiment: the folds serve every protocol
    m = LosoRun(tmp_path / "r", clips, cfg().with_protocol("fixed"), subjects=["s01"]).run()
    assert m["protocol"] == "fixed"


# ---------------------------------------------------------------------------------- few subjects

@pytest.mark.parametrize(("n_subjects", "members", "protocol"), [(3, 2, "val"), (2, 5, "fixed")])
def test_few_subjects_adapt_member_validation_before_training(tmp_path, n_subjects, members, protocol):
    root = write_fake_composite(tmp_path / "d", {f"p{i}": "own" for i in range(n_subjects)}, clips_per_subject=3)
    out = tmp_path / "r"
    args = ["train", "--data", str(root), "--no-progress", "--workers", "1", "--epochs", "2", "--out", str(out),
            "--set", "model.dim=8", "model.head_hidden=16"]
    assert main(args) == 0  # the compact preset: 5 members validated on held-out training subjects
    record = json.loads((out / "config.json").read_text())
    assert record["experiment"]["train"]["members"] == members
    assert record["experiment"]["protocol"] == protocol and record["notes"]
    assert json.loads((out / "metrics.json").read_text())["protocol"] == protocol
    assert main([*args, "--protocol", "fixed"]) == 0  # the same folder under another protocol


def test_a_single_subject_is_a_clear_error_before_training(tmp_path, capsys):
    root = write_fake_composite(tmp_path / "d", {"only": "own"})
    assert main(["train", "--data", str(root), "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    assert "at least 2 subjects" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- checks before work

@pytest.mark.parametrize(("extra", "message"), [
    (["--subjects", ","], "names no subject"),
    (["--workers", "0"], "--workers"),
    (["--device", "tpu"], "--device must be one of"),
    (["--device", "cuda:7"], "CUDA"),
    (["--backend", "ray", "--workers", "2"], "--workers applies to --backend local"),
    (["--gpus-per-fold", "0.5"], "apply to --backend ray"),
    (["--runs", "0"], "--runs"),
])
def test_bad_options_fail_before_any_work(fake_composite, tmp_path, capsys, extra, message):
    if "cuda" in extra[-1]:
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 7:
            pytest.skip("this machine has 8 GPUs")
    out = tmp_path / "r"
    assert main(["train", "--data", str(fake_composite), "--out", str(out), "--no-progress", *extra]) == 1
    assert message in capsys.readouterr().err
    assert not list(out.rglob("*.npz"))


def test_cuda_on_a_machine_without_one_is_a_clear_error(capsys, fake_composite, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "r"), "--device", "cuda"]) == 1
    assert "no CUDA GPU is available" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["folder", "file-parent"])
def test_save_model_path_is_checked_before_training(fake_composite, tmp_path, capsys, kind):
    target = tmp_path / "m"
    if kind == "folder":
        target.mkdir()
    else:
        target.write_text("x")
        target = target / "model.safetensors"
    start = time.perf_counter()
    assert main(["train", "--data", str(fake_composite), "--save-model", str(target), "--no-progress"]) == 1
    assert "--save-model" in capsys.readouterr().err
    assert time.perf_counter() - start < 30  # refused before the (long) training


def test_out_naming_a_file_is_refused(fake_composite, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "f")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_bare_set_names_are_refused_with_the_scope_to_write(fake_composite, tmp_path, capsys):
    assert main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "r"), "--set", "epochs=3"]) == 1
    assert "did you mean train.epochs" in capsys.readouterr().err


# ---------------------------------------------------------------------------- features, configs

def test_save_features_stores_pre_head_features(fake_composite, tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--data", str(fake_composite), "--subjects", "s01", "--no-progress", "--workers", "1",
                 "--save-features", "--checkpoints", "--out", str(out), "--set", *FAST_SET]) == 0
    fold = FoldResult.load(out / "folds" / "run0" / "s01.npz")
    assert fold.features is not None and fold.features.shape == (3, 3 * 4 * 8)  # [y_long, y1_for, y1_back] x D=8
    from causalnet.models import load_checkpoint

    model = load_checkpoint(out / "checkpoints" / "run0" / "s01.safetensors")
    assert model.extra["test_subject"] == "s01"


def test_configs_written_with_bf16_still_load_as_amp():
    from causalnet.train import TrainConfig

    stored = TrainConfig().to_dict()
    stored.pop("amp")
    assert TrainConfig.from_dict({**stored, "bf16": True}).amp is True


# ----------------------------------------------------------------------------------------- sweep

def test_sweep_chooses_on_inner_scores_only(fake_composite, tmp_path):
    out = tmp_path / "sw"
    assert main(["sweep", "--data", str(fake_composite), "--subjects", "s01,006", "--no-progress", "--workers", "1",
                 "--grid", "train.lr=1e-3,3e-3", "--out", str(out), "--set", *FAST_SET]) == 0
    for name in ("predictions.csv", "metrics.json", "chosen.csv", "candidates.csv", "candidates.md", "config.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    groups = [c["group"] for c in config["candidates"]]
    names = [c["name"] for c in config["candidates"]]
    chosen = [line.split(",") for line in (out / "chosen.csv").read_text().splitlines()[1:]]
    for run, subject, candidate, inner, _nll in chosen:
        folds = [FoldResult.load(out / "folds" / g / f"run{run}" / f"{subject}.npz") for g in groups]
        scores = [float(np.nanmean(f.val_uf1[:, -1])) for f in folds]
        assert names[int(np.argmax(scores))] == candidate or scores.count(max(scores)) > 1
        assert float(inner) == pytest.approx(max(scores), abs=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"].startswith("nested-") and "ORACLE" not in metrics["protocol"]
    assert "TEST SUBJECTS" in metrics["oracle"]["note"]
    assert main(["evaluate", str(out)]) == 0


def test_grid_parsing():
    from causalnet.train.sweep import parse_grid, reference_grid

    grid = parse_grid(["model.gamma=0.3,0.5", "train.epochs=20,40"])
    assert len(grid) == 4 and grid[0].settings == {"model.gamma": 0.3, "train.epochs": 20}
    assert parse_grid(["model.depths=3;3;9,2;3;9"])[1].settings == {"model.depths": (2, 3, 9)}
    assert len(reference_grid()) == 36
    for bad in (["model.gamma"], ["model.gamma=0.3,0.3"], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            parse_grid(bad)
