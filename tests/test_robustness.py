"""The robustness experiment: specs, triples, the jitter hook of the loop, cached inputs, the engine, the CLI.

Everything runs on tiny inputs (frames of 32-48 px, a few clips, 1-2 epochs) to stay fast.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from causalnet.data.builders import build_dataset, read_plan
from causalnet.data.builders.tables import write_xlsx
from causalnet.flow import PreprocessConfig, align_faces
from causalnet.flow.frames import FrameFolder
from causalnet.keyframes import Keyframes
from causalnet.robustness import (
    SPOTTING,
    ClipInfo,
    FaceAligner,
    ModelSpec,
    RobustnessConfig,
    RobustnessRun,
    TripleNeeds,
    clip_triples,
    clips_from_plan,
    parse_model_specs,
)
from causalnet.robustness.triples import ANNOTATED, JITTER
from causalnet.train import ExperimentConfig, TrainConfig
from causalnet.train.loop import fit

PREP = PreprocessConfig(face_method="none", face_size=32)
#: a compact experiment small enough for tests: one member, no validation split, 2 epochs
FAST = {"train.members": 1, "train.member_validation": False, "train.epochs": 2, "train.mirror": False,
        "train.mirror_tta": False}  # the robustness engine does not mirror (the command switches it off)
CLASSES = ("negative", "positive", "surprise")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def experiments(*names: str) -> dict[str, ExperimentConfig]:
    return {n: ExperimentConfig.preset("compact", model_name=n).with_overrides(FAST, protocol="fixed") for n in names}


def info(n_frames: int = 60, fps: float = 200.0, onset: int = 10, apex: int | None = 25, offset: int = 45,
         sub: str = "s01", clip: str = "c01") -> ClipInfo:
    return ClipInfo(index=0, dataset="synth", sub=sub, clip=clip, frames_dir="", n_frames=n_frames, fps=fps,
                    label=0, onset=onset, apex=apex, offset=offset)


# ------------------------------------------------------------------------------------ config and specs


def test_model_specs():
    spec = ModelSpec.parse("causalnet+tta+jitter")
    assert (spec.name, spec.jitter, spec.tta, spec.label, spec.training) == (
        "causalnet", True, True, "causalnet+jitter+tta", "causalnet+jitter")
    specs = parse_model_specs("causalnet, htnet,causalnet,offapexnet+tta")
    assert [s.label for s in specs] == ["causalnet", "htnet", "offapexnet+tta"]
    conf = ModelSpec.parse("htnet+ttaconf")
    assert (conf.tta, conf.tta_pooling, conf.label, conf.training) == (True, "confidence", "htnet+ttaconf", "htnet")
    with pytest.raises(ValueError, match="one of"):
        ModelSpec.parse("htnet+tta+ttaconf")
    with pytest.raises(ValueError, match="unknown technique"):
        ModelSpec.parse("causalnet+magic")
    with pytest.raises(ValueError, match="no model"):
        parse_model_specs(" , ")


def test_robustness_config():
    cfg = RobustnessConfig(sigmas=(30, 0, 10), spotting=True)
    assert cfg.sigmas == (30.0, 0.0, 10.0)  # 30 and 30.0 are one level
    assert cfg.conditions == ["sigma0", "sigma10", "sigma30", SPOTTING]
    assert cfg.condition_sigma("sigma10") == 10.0 and cfg.condition_sigma(SPOTTING) is None
    assert cfg.with_overrides({"sigmas": "0,20", "spotting": "false"}).conditions == ["sigma0", "sigma20"]
    assert RobustnessConfig.preset("paper").runs == 3 and RobustnessConfig.preset("paper").spotting
    assert RobustnessConfig(jitter_variants=6).annotated_copies == 6  # share 0.5
    assert RobustnessConfig(jitter_variants=6, jitter_annotated_share=1 / 7).annotated_copies == 1  # uniform
    # a fold's signature holds the jitter / ensemble fields only when the training uses them
    assert "jitter_variants" not in cfg.fold_signature(jitter=False, tta=True)
    assert "tta_k" in cfg.fold_signature(jitter=False, tta=True) and "runs" not in cfg.fold_signature(True, True)
    bads = ({"jitter_annotated_share": 1.0}, {"sigmas": (0, 0)}, {"sigmas": (-1,)}, {"tta_k": 1},
            {"apex_method": "guess"}, {"runs": 0})
    for bad in bads:
        with pytest.raises(ValueError):
            RobustnessConfig(**bad)


# ------------------------------------------------------------------------------------ triples


def test_clip_triples_protocol():
    cfg = RobustnessConfig(sigmas=(0, 10, 20, 30), spotting=True, jitter_variants=3, tta_k=4)
    clip = info()
    ann = Keyframes(10, 25, 45)
    spot = Keyframes(2, 27, 52)
    rows = clip_triples(clip, ann, spot, cfg, TripleNeeds(runs=2, jitter=True, tta=True))
    assert rows == clip_triples(clip, ann, spot, cfg, TripleNeeds(runs=2, jitter=True, tta=True))  # pure
    assert rows[(ANNOTATED, 0, 0)] == ann
    for run in (0, 1):
        assert rows[("sigma0", run, 0)] == ann and rows[(SPOTTING, run, 0)] == spot
        assert sum(k[0] == JITTER and k[1] == run for k in rows) == 3
        for condition in cfg.conditions:
            assert all((condition, run, k) in rows for k in range(4))
    for kf in rows.values():  # every triple lies in the clip, ordered, with distinct ends
        assert 0 <= kf.onset <= kf.apex <= kf.offset < clip.n_frames and kf.onset < kf.offset
    # runs draw different errors; the test errors at sigma 10/20/30 are scaled copies of one draw
    assert rows[("sigma30", 0, 0)] != rows[("sigma30", 1, 0)]
    wide = info(n_frames=2000, onset=900, apex=1000, offset=1100)
    big = clip_triples(wide, Keyframes(900, 1000, 1100), None, RobustnessConfig(sigmas=(0, 10, 30)),
                       TripleNeeds(runs=1))
    e10 = np.subtract(big[("sigma10", 0, 0)].as_tuple(), (900, 1000, 1100))
    e30 = np.subtract(big[("sigma30", 0, 0)].as_tuple(), (900, 1000, 1100))
    assert np.abs(e30).sum() > 0 and np.all(np.abs(np.sort(e30) - 3 * np.sort(e10)) <= 3)
    # without jitter/tta only the conditions' own triples
    plain = clip_triples(clip, ann, spot, cfg, TripleNeeds(runs=1))
    assert set(plain) == {(ANNOTATED, 0, 0), *((c, 0, 0) for c in cfg.conditions)}


def test_triples_at_100_fps_get_half_the_errors():
    cfg = RobustnessConfig(sigmas=(0, 30))
    ann = Keyframes(900, 1000, 1100)
    fast = clip_triples(info(2000, 200.0, 900, 1000, 1100), ann, None, cfg, TripleNeeds(1))[("sigma30", 0, 0)]
    slow = clip_triples(info(2000, 100.0, 900, 1000, 1100), ann, None, cfg, TripleNeeds(1))[("sigma30", 0, 0)]
    e_fast = np.sort(np.subtract(fast.as_tuple(), ann.as_tuple()))
    e_slow = np.sort(np.subtract(slow.as_tuple(), ann.as_tuple()))
    assert np.all(np.abs(e_fast - 2 * e_slow) <= 2)


# ------------------------------------------------------------------------------------ the loop's jitter hook


def _tiny_causalnet():
    from causalnet.models import CausalNet, CausalNetConfig

    return CausalNet(CausalNetConfig(dim=8, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=16,
                                     input_scale=1 / 127.5, input_shift=-1.0))


def test_identity_variants_train_exactly_like_no_variants():
    rng = np.random.default_rng(0)
    x = (rng.random((12, 4, 3, 28, 28)) * 255).astype(np.float32)
    y = rng.integers(0, 3, 12)
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=8, shift=1)
    hists = []
    for variants in (None, np.arange(12)[:, None]):
        torch.manual_seed(0)
        hists.append(fit([_tiny_causalnet()], x, y, [np.arange(12)], cfg, seed=3, num_classes=3,
                                 eval_sets=[np.arange(12)], variants=variants))
    assert np.array_equal(hists[0][0], hists[1][0])


def test_training_draws_inputs_from_the_variants():
    """Training rows carry no signal; their variants do: only training on the variants learns the task."""
    n = 24
    y = np.tile(np.arange(3), n // 3)
    informative = np.zeros((n, 4, 3, 28, 28), np.float32)
    for i, label in enumerate(y):
        informative[i, :, label] = 255.0  # the class is the bright channel
    x = np.concatenate([np.full_like(informative, 127.0), informative])  # rows 0..n-1: blank; n..2n-1: signal
    yy = np.concatenate([y, y])
    variants = np.repeat(np.arange(2 * n)[:, None], 2, axis=1)
    variants[:n, 1] = np.arange(n, 2 * n)  # sample i: itself (blank) or its informative twin
    cfg = TrainConfig(epochs=12, lr=3e-3, batch_size=n)
    scores = []
    for table in (None, variants):
        torch.manual_seed(0)
        hist = fit([_tiny_causalnet()], x, yy, [np.arange(n)], cfg, seed=0, num_classes=3,
                           eval_sets=[np.arange(n, 2 * n)], variants=table)
        scores.append((hist[0][-1].argmax(-1) == y).mean())
    assert scores[0] < 0.6 and scores[1] == 1.0
    with pytest.raises(ValueError, match="another label"):
        bad = variants.copy()
        bad[0, 1] = n + 1
        fit([_tiny_causalnet()], x, yy, [np.arange(n)], cfg, seed=0, num_classes=3,
                    eval_sets=[np.arange(n)], variants=bad)


# ------------------------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def synth_raw(tmp_path_factory) -> Path:
    """A tiny synthetic benchmark: 3 subjects x 3 clips of 32 px frames."""
    from causalnet.synth import SynthConfig, generate_benchmark

    raw = tmp_path_factory.mktemp("synth") / "raw"
    generate_benchmark(SynthConfig.preset("tiny").with_overrides({"image_size": 32, "n_subjects": 3}), raw)
    return raw


def test_face_aligner_matches_align_faces(synth_raw):
    clip = sorted((synth_raw / "frames" / "s01").iterdir())[0]
    source = FrameFolder(clip)
    cfg = PreprocessConfig(face_method="none", face_size=24)
    faces = FaceAligner(source, 1, cfg).faces([1, 4, 7])
    ref = align_faces(source.read([1, 4, 7]), cfg)
    assert all(np.array_equal(faces[i], r) for i, r in zip([1, 4, 7], ref, strict=True))


def make_run(out: Path, raw: Path, specs: str, rcfg: RobustnessConfig, **kw) -> RobustnessRun:
    clips, _ = clips_from_plan(read_plan("generic", raw))
    parsed = parse_model_specs(specs)
    return RobustnessRun(out, clips, PREP, rcfg, parsed, experiments(*{s.name for s in parsed}), CLASSES, **kw)


def test_annotated_inputs_equal_the_preprocessed_layout_and_are_cached(synth_raw, tmp_path):
    from causalnet.data import load_composite

    rcfg = RobustnessConfig(sigmas=(0, 20), spotting=True)
    run = make_run(tmp_path / "rob", synth_raw, "causalnet,apexnet", rcfg)
    report = run.prepare(workers=1)
    assert report.clips == 9 and report.flows > 0 and not report.failed
    build_dataset(read_plan("generic", synth_raw), tmp_path / "of", PREP, progress=False)
    composite = load_composite(tmp_path / "of")
    store = run.store_inputs
    for c in run.clips:
        ref = composite.x[(composite.subjects == c.sub) & (composite.clips == c.clip)][0]
        assert np.array_equal(store.x["flow"][store.row(c.index, (ANNOTATED, 0, 0))].astype(np.float32), ref)
        apex_view = store.x["apex"][store.row(c.index, (ANNOTATED, 0, 0))]
        assert apex_view[0].any() and not apex_view[1:].any()
        assert np.array_equal(apex_view[0, 0], apex_view[0, 1])  # grey in every channel
        spotted = store.triples[c.index][(SPOTTING, 0, 0)]
        assert c.onset <= spotted.apex <= c.offset
    again = make_run(tmp_path / "rob", synth_raw, "causalnet,apexnet", rcfg)
    assert again.prepare(workers=1).flows == 0  # every pair is cached
    assert all(np.array_equal(again.store_inputs.x[v], store.x[v]) for v in store.x)


# ------------------------------------------------------------------------------------ the engine


def test_engine_trains_once_per_fold_tests_every_condition_and_resumes(synth_raw, tmp_path):
    rcfg = RobustnessConfig(sigmas=(0, 30), spotting=True, runs=1, jitter_variants=2, tta_k=2)
    specs = "causalnet,causalnet+jitter,causalnet+tta,htnet,htnet+ttaconf"
    run = make_run(tmp_path / "rob", synth_raw, specs, rcfg)
    run.prepare(workers=1)
    assert [t.label for t in run.trainings] == ["causalnet", "causalnet+jitter", "htnet"]
    assert [t.tta for t in run.trainings] == [True, False, True]
    assert run.train(workers=1) == 3 * 3  # 3 trainings x 3 subjects, each once for every condition
    results = run.finish()
    out = tmp_path / "rob"
    for name in ("table.md", "uf1_vs_sigma.png", "results.json", "predictions.csv", "config.json"):
        assert (out / name).is_file(), name
    assert set(results["metrics"]) == {"causalnet", "causalnet+jitter", "causalnet+tta", "htnet", "htnet+ttaconf"}
    assert set(results["metrics"]["htnet"]) == {"sigma0", "sigma30", SPOTTING}
    assert results["metrics"]["htnet"]["sigma0"]["composite"]["n"] == 9
    assert "causalnet+tta" in results["uf1_drop"] and "vs_plain" in results["uf1_drop"]["causalnet+tta"]
    assert "| causalnet+jitter |" in (out / "table.md").read_text()
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 * 3 * 9 and {"onset", "apex", "offset", "p2"} <= set(rows[0])
    # TTA averages the plain model's probabilities over the k triples: at sigma0 its k=0 member is the plain row
    plain = {(r["condition"], r["clip"], r["subject"]): r for r in rows if r["model"] == "causalnet"}
    tta = [r for r in rows if r["model"] == "causalnet+tta"]
    assert any(abs(float(r["p0"]) - float(plain[(r["condition"], r["clip"], r["subject"])]["p0"])) > 1e-6
               for r in tta)
    # a rerun trains nothing and reproduces the results
    again = make_run(tmp_path / "rob", synth_raw, specs, rcfg)
    again.prepare(workers=1)
    assert again.pending() == [] and again.train(workers=1) == 0
    assert again.finish()["metrics"] == results["metrics"]


def test_ensemble_pooling():
    from causalnet.eval.pool import pool

    probs = np.array([[0.34, 0.33, 0.33], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    assert np.allclose(pool(probs), probs.mean(0))
    weights = probs.max(1) - 1 / 3
    assert np.allclose(pool(probs, "confidence"), (weights[:, None] * probs).sum(0) / weights.sum())
    flat = np.full((2, 3), 1 / 3)
    assert np.allclose(pool(flat, "confidence"), 1 / 3)


def test_oracle_protocol_is_refused(synth_raw, tmp_path):
    clips, _ = clips_from_plan(read_plan("generic", synth_raw))
    exp = {"htnet": ExperimentConfig.preset("compact", model_name="htnet").with_overrides(FAST, protocol="oracle")}
    with pytest.raises(ValueError, match="honest"):
        RobustnessRun(tmp_path, clips, PREP, RobustnessConfig(), parse_model_specs("htnet"), exp, CLASSES)


# ------------------------------------------------------------------------------------ CLI, official layout


@pytest.fixture
def casme2_raw(tmp_path: Path) -> Path:
    """CASME II in its official layout: frame folders + the coding spreadsheet; 4 subjects, 2 clips each."""
    from test_builders import write_frames

    raw = tmp_path / "CASME2"
    rows = [["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"]]
    emotions = ("happiness", "repression", "surprise", "disgust")
    for s in range(1, 5):
        for k in range(2):
            name = f"EP0{k + 1}_0{s}"
            first = 10 * s
            write_frames(raw / "CASME2_RAW_selected" / f"sub{s:02d}" / name,
                         [f"img{first + i}.jpg" for i in range(16)], seed=10 * s + k, peak_at=7)
            rows.append([s, name, first + 1, first + 7, first + 14, "12", emotions[(s + k) % len(emotions)]])
    rows.append([1, "EP09_09", 1, 3, 5, "4", "others"])  # excluded by the MEGC 2019 classes
    write_xlsx(raw / "CASME2-coding-20140508.xlsx", rows)
    return raw


def test_cli_on_casme2_official_layout(casme2_raw, tmp_path, capsys):
    from causalnet.cli import main

    out = tmp_path / "rob"
    args = ["robustness", "--raw", str(casme2_raw), "--format", "casme2", "--face", "none", "--size", "32",
            "--out", str(out), "--models", "causalnet,offapexnet+tta", "--sigmas", "0,10", "--spotting",
            "--runs", "2", "--protocol", "fixed", "--epochs", "1", "--workers", "1", "--no-progress",
            "--set", "train.members=1", "train.member_validation=false", "robustness.tta_k=2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "8 clips of 4 subjects (1 left out)" in printed and "| offapexnet+tta |" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["conditions"] == ["sigma0", "sigma10", "spotting"] and results["clips"] == 8
    assert results["metrics"]["causalnet"]["sigma10"]["composite"]["n"] == 8
    assert len(results["metrics"]["causalnet"]["sigma10"]["composite"]["runs"]) == 2
    assert results["keyframe_error"]["sigma0"] == {"onset": 0.0, "apex": 0.0, "offset": 0.0}
    assert (out / "uf1_vs_sigma.png").stat().st_size > 0
    # rerunning resumes: every fold is found, nothing is trained
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["folds_trained"] == 0


def test_cli_rejects_bad_settings(casme2_raw, tmp_path, capsys):
    from causalnet.cli import main

    base = ["robustness", "--raw", str(casme2_raw), "--format", "casme2", "--face", "none", "--out", str(tmp_path)]
    assert main([*base, "--set", "nonsense=1"]) == 1
    assert "SCOPE.FIELD=VALUE" in capsys.readouterr().err
    assert main([*base, "--models", "causalnet+magic"]) == 1
    assert "unknown technique" in capsys.readouterr().err
    assert main([*base, "--sigmas", "0,ten"]) == 1
    assert "comma-separated numbers" in capsys.readouterr().err


def test_robustness_command_switches_mirroring_off():
    from argparse import Namespace

    from causalnet.commands.robustness import build_experiments
    from causalnet.train import ExperimentConfig

    assert ExperimentConfig.preset("compact").train.mirror  # the preset mirrors; the robustness engine does not
    exps = build_experiments(Namespace(preset="compact", epochs=None, protocol=None), ["causalnet", "htnet"], 3, {})
    assert all(not e.train.mirror and not e.train.mirror_tta for e in exps.values())


def test_engine_refuses_mirroring_it_would_not_do(synth_raw, tmp_path):
    clips, _ = clips_from_plan(read_plan("generic", synth_raw))
    exp = {"htnet": ExperimentConfig.preset("compact", model_name="htnet").with_overrides(
        {**FAST, "train.mirror": True}, protocol="fixed")}
    with pytest.raises(ValueError, match="do not mirror"):
        RobustnessRun(tmp_path, clips, PREP, RobustnessConfig(), parse_model_specs("htnet"), exp, CLASSES)


def test_few_subjects_follow_the_one_rule_before_any_flow(synth_raw, tmp_path):
    """Issue 32 item 9: the robustness engine adapts members to few subjects as `train` does, before any work."""
    clips, _ = clips_from_plan(read_plan("generic", synth_raw))
    n = len({c.sub for c in clips})
    exp = {"htnet": ExperimentConfig.preset("compact", model_name="htnet").with_overrides(
        {**FAST, "train.members": n + 3, "train.member_validation": True}, protocol="val")}
    run = RobustnessRun(tmp_path, clips, PREP, RobustnessConfig(), parse_model_specs("htnet"), exp, CLASSES)
    assert run.experiments["htnet"].train.members == n - 1 and run.notes
    assert not any(tmp_path.iterdir())  # decided before any flow was computed
