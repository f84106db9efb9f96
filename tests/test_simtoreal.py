"""Sim-to-real checkpoints made on demand (``train.init=synthetic``) and the ``accurate`` preset."""

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from causalnet.models import CausalNet, CausalNetConfig, list_models, read_checkpoint_metadata
from causalnet.train import ExperimentConfig, LosoRun, simtoreal
from causalnet.train.pretrain import load_init
from causalnet.train.simtoreal import SimToRealConfig, checkpoint_path, resolve_init, synthetic_checkpoint

TINY = CausalNetConfig(dim=8, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=16,
                       input_scale=1 / 127.5, input_shift=-1.0)
RECIPE = SimToRealConfig(subjects=2, clips_per_subject=3, synth_preset="tiny")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The tiny recipe's checkpoint of the tiny model, built once for the module."""
    return synthetic_checkpoint("causalnet", TINY, RECIPE, cache=tmp_path_factory.mktemp("cache"))


def test_the_checkpoint_is_built_once_then_found_in_the_cache(built, monkeypatch):
    assert built == checkpoint_path("causalnet", TINY, RECIPE, built.parents[1])
    meta = read_checkpoint_metadata(built)
    assert meta["model"] == "causalnet" and meta["extra"]["sim_to_real"] == RECIPE.to_dict()
    assert meta["extra"]["clips"] == 6
    state = load_init(built, "causalnet", TINY)
    fresh = CausalNet(TINY).state_dict()
    assert set(state) == set(fresh)
    assert any(not torch.equal(state[k], fresh[k]) for k in fresh if fresh[k].is_floating_point())

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a cached checkpoint")

    monkeypatch.setattr(simtoreal, "_synthetic_clips", no_build)
    assert synthetic_checkpoint("causalnet", TINY, RECIPE, cache=built.parents[1]) == built
    assert not list(built.parent.glob(".build-*"))  # the temporary build folder is gone


def test_the_cache_key_is_the_model_its_config_and_the_recipe(tmp_path):
    base = checkpoint_path("causalnet", TINY, RECIPE, tmp_path)
    assert base.parent == tmp_path / "pretrained" and base.name.startswith("causalnet-synthetic-")
    others = [checkpoint_path("causalnet", dataclasses.replace(TINY, head_hidden=8), RECIPE, tmp_path),
              checkpoint_path("causalnet", TINY, dataclasses.replace(RECIPE, seed=1), tmp_path),
              checkpoint_path("causalnet", TINY, dataclasses.replace(RECIPE, train_preset="paper"), tmp_path)]
    assert len({base, *others}) == 4


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(tmp, recipe, workers, progress):
        (tmp / "half").write_text("x")
        raise RuntimeError("synthetic data failed")

    monkeypatch.setattr(simtoreal, "_synthetic_clips", broken)
    with pytest.raises(RuntimeError, match="synthetic data failed"):
        synthetic_checkpoint("causalnet", TINY, RECIPE, cache=tmp_path)
    left = [p.name for p in (tmp_path / "pretrained").iterdir()]
    assert all(name.endswith(".lock") for name in left), left  # no checkpoint, no build folder


def test_a_model_with_other_classes_is_refused_with_the_field_named(tmp_path):
    with pytest.raises(ValueError, match="num_classes=5"):
        synthetic_checkpoint("causalnet", dataclasses.replace(TINY, num_classes=5), RECIPE, cache=tmp_path)


def test_resolve_init_uses_the_cache_folder_of_the_environment(built, monkeypatch):
    monkeypatch.setenv("CAUSALNET_CACHE", str(built.parents[1]))
    monkeypatch.setitem(SimToRealConfig.PRESETS, "default", lambda: RECIPE)
    assert resolve_init("synthetic", "causalnet", TINY) == str(built)
    assert resolve_init("", "causalnet", TINY) == ""
    assert resolve_init("some/file.safetensors", "causalnet", TINY) == "some/file.safetensors"
    assert set(load_init(resolve_init("synthetic", "causalnet", TINY), "causalnet", TINY)) == set(load_file(built))
    with pytest.raises(ValueError, match="train.init=synthetic has not been resolved"):  # workers receive a path
        load_init("synthetic", "causalnet", TINY)


def test_recipe_fields_are_checked():
    with pytest.raises(ValueError, match="synth_preset"):
        SimToRealConfig(synth_preset="nope")
    with pytest.raises(ValueError, match="subjects"):
        SimToRealConfig(subjects=1)


@pytest.mark.parametrize("model", list_models())
def test_accurate_is_compact_fine_tuned_from_synthetic_and_stacked(model):
    accurate, compact = ExperimentConfig.preset("accurate", model), ExperimentConfig.preset("compact", model)
    assert accurate.model == compact.model and accurate.protocol == "val"
    assert dataclasses.replace(accurate.train, init="", stack="none") == compact.train
    assert (accurate.train.init, accurate.train.stack) == ("synthetic", "linear")


def test_a_loso_run_builds_the_checkpoint_before_its_folds(fake_composite, built, tmp_path, monkeypatch):
    from causalnet.data import load_composite

    monkeypatch.setenv("CAUSALNET_CACHE", str(built.parents[1]))
    monkeypatch.setitem(SimToRealConfig.PRESETS, "default", lambda: RECIPE)
    from causalnet.train import loso as loso_module

    calls, seen_by_folds = [], []
    real, real_run_folds = simtoreal.synthetic_checkpoint, loso_module.run_folds
    monkeypatch.setattr(simtoreal, "synthetic_checkpoint", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(loso_module, "run_folds",
                        lambda *a, **k: seen_by_folds.append(len(calls)) or real_run_folds(*a, **k))
    cfg = ExperimentConfig.preset("accurate").with_overrides({"train.epochs": 1, "train.members": 2})
    cfg = dataclasses.replace(cfg, model=TINY)
    loso = LosoRun(tmp_path / "run", load_composite(fake_composite), cfg, subjects=["sub01"])
    metrics = loso.run()
    assert seen_by_folds[0] >= 1 and calls[0][:2] == ("causalnet", TINY)  # resolved before the folds started
    assert metrics["composite"]["n"] == 3
    assert '"init": "synthetic"' in (tmp_path / "run" / "config.json").read_text()  # portable: not a path


def test_the_cli_says_it_builds_the_checkpoint_first(fake_composite, tmp_path, monkeypatch, capsys):
    from causalnet.cli import main
    from causalnet.train.simtoreal import default_checkpoint

    monkeypatch.setenv("CAUSALNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(SimToRealConfig.PRESETS, "default", lambda: RECIPE)
    args = ["train", "--data", str(fake_composite), "--preset", "accurate", "--epochs", "1", "--subjects", "sub01",
            "--workers", "1", "--no-progress", "--set", "model.dim=8", "train.members=2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    cfg = ExperimentConfig.preset("accurate").with_overrides({"model.dim": 8})
    assert f"building the sim-to-real checkpoint first (synthetic clips, their flow, pretraining: ~20 min on 2 CPU " \
           f"cores, once) into {default_checkpoint('causalnet', cfg.model)}" in out
    assert default_checkpoint("causalnet", cfg.model).is_file()
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # the second run finds it: no note
    assert "building" not in capsys.readouterr().out


def test_concurrent_builders_build_once(tmp_path, monkeypatch):
    import threading
    import time

    calls = []

    def slow_build(path, *args):
        calls.append(path)
        time.sleep(0.3)
        path.write_bytes(b"weights")

    monkeypatch.setattr(simtoreal, "_build", slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(synthetic_checkpoint("causalnet", TINY, RECIPE,
                                                                                  cache=tmp_path)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and results[0].read_bytes() == b"weights"
