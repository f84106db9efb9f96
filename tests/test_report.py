"""`causalnet report` and `causalnet compare`: HTML and figures of every kind of run folder, the numbers
they show, the CMPLM attention hooks, and the paired statistics (checked against slow references)."""

from __future__ import annotations

import base64
import csv
import itertools
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from causalnet.cli import main
from causalnet.eval.metrics import compute_metrics
from causalnet.report.stats import PairedData, _score, confusion_metrics, paired_permutation, subject_confusions
from conftest import write_fake_composite

#: A small, fast training recipe: 2 members with member validation (so the val protocol and the
#: validation curves exist), tiny widths, full-batch steps.
SETS = ["model.dim=8", "model.head_hidden=16", "train.lr=3e-3", "train.members=2", "train.batch_size=1024"]
SUBJECTS = "sub01,s01,006"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def add_features(run_dir: Path, width: int = 12, seed: int = 0) -> None:
    """Stand-in for `causalnet train --save-features`: add ``features [n_test, F]`` to every fold file."""
    rng = np.random.default_rng(seed)
    for path in sorted((run_dir / "folds").glob("run*/*.npz")):
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        labels = arrays["labels"]
        arrays["features"] = (np.eye(width)[labels] * 3 + rng.normal(size=(len(labels), width))).astype(np.float32)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)


@pytest.fixture(scope="module")
def train_run(tmp_path_factory) -> Path:
    """A fresh `causalnet train` run: 3 test subjects, 2 epochs, 2 runs, fold checkpoints."""
    root = tmp_path_factory.mktemp("report")
    data = write_fake_composite(root / "data", {"sub01": "casme2", "sub02": "casme2", "s01": "smic", "s02": "smic",
                                                "006": "samm", "007": "samm"})
    run = root / "RUN"
    assert main(["train", "--data", str(data), "--subjects", SUBJECTS, "--epochs", "2", "--runs", "2",
                 "--checkpoints", "--no-progress", "--workers", "1", "--out", str(run), "--set", *SETS]) == 0
    return run


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_MAGIC)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape[0] > 50 and img.shape[1] > 50
    return img


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def check_report(html_path: Path) -> tuple[str, dict]:
    """The HTML is self-contained (no scripts, no external references) and every figure decodes."""
    html = html_path.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing to fetch: opens offline
    numbers = json.loads(html_path.with_suffix(".json").read_text())
    folder = html_path.with_name(f"{html_path.stem}_figures")
    files = sorted(folder.glob("*.png"))
    assert [p.name for p in files] == sorted(numbers["figures"]) and files
    embedded = embedded_pngs(html)
    assert len(embedded) == len(files)
    for blob in embedded:
        decode_png(blob)
    assert sorted(embedded) == sorted(p.read_bytes() for p in files)
    return html, numbers


def cell(group: dict, metric: str) -> str:
    return f"{100 * group['mean'][metric]:.2f} ± {100 * group['std'][metric]:.2f}"


# ------------------------------------------------------------------------------------------- report


def test_report_of_a_fresh_train_run(train_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(train_run, run)
    assert main(["report", str(run), "--examples", "2"]) == 0  # a correct and a wrong clip
    assert "report:" in capsys.readouterr().out
    html, numbers = check_report(run / "report.html")
    metrics = json.loads((run / "metrics.json").read_text())
    assert numbers["kind"] == "train" and numbers["metrics_json_matches_folds"] is True
    # the run's own protocol, recomputed from the fold files, equals metrics.json; every protocol is there
    assert numbers["protocols"][metrics["protocol"]] == metrics
    assert list(numbers["protocols"]) == ["val", "fixed", "oracle"]  # honest rows first, oracle last
    for group in ("composite", "casme2", "smic", "samm"):
        for m in ("uf1", "uar", "acc"):
            assert f"<td>{cell(metrics[group], m)}</td>" in html
    assert "ORACLE" in html and 'class="oracle"' in html
    sections = {s["id"] for s in numbers["sections"]}
    assert {"overview", "results", "confusion", "subjects", "curves", "embedding", "clips"} <= sections
    assert "computed with the weights of each fold: the fold checkpoint" in html  # no stored features
    assert "CMPLM attention" in html
    assert len(numbers["learning_curves"]["test_uf1"]) == 2 and len(numbers["learning_curves"]["test_uf1"][0]) == 2
    assert sum(numbers["chosen_epochs"]["fixed"]) == 6 and numbers["chosen_epochs"]["fixed"][0] == 0
    assert sum(numbers["chosen_epochs"]["val"]) == 6 * 2  # every fold x member
    conf = np.array(numbers["confusion"]["composite"])
    assert conf.sum() == 18 and np.trace(conf) / 18 == pytest.approx(metrics["composite"]["acc"])
    assert {s["subject"] for s in numbers["subjects"]} == set(SUBJECTS.split(","))

    add_features(run)  # as `causalnet train --save-features` will write them
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(run), "--out", str(out), "--no-model", "--examples", "2"]) == 0
    html, numbers = check_report(out)
    assert "stored by `causalnet train --save-features`" in html
    assert "CMPLM attention" not in html and "clips" in {s["id"] for s in numbers["sections"]}


def test_figures_only_and_bad_input(train_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(train_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    assert main(["report", str(run), "--figures-only", "--examples", "0"]) == 0
    assert not (run / "report.html").exists() and (run / "report.json").is_file()
    for png in (run / "report_figures").glob("*.png"):
        decode_png(png.read_bytes())
    assert main(["report", str(tmp_path / "missing")]) == 1
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert main(["report", str(run), "--out", str(tmp_path / "r.txt")]) == 1
    assert "must name a .html file" in capsys.readouterr().err
    assert main(["report", str(run), "--examples", "-1"]) == 1
    assert "--examples" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["report", str(run), "--out", str(tmp_path / "afile" / "r.html")]) == 1
    assert "names an existing file, not a folder" in capsys.readouterr().err


def test_metrics_json_disagreeing_with_the_folds_is_flagged(train_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(train_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["composite"]["mean"]["uf1"] = 0.123
    metrics["composite"]["uf1"] = 0.123
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert main(["report", str(run), "--no-model", "--examples", "0"]) == 0
    html, numbers = check_report(run / "report.html")
    assert numbers["metrics_json_matches_folds"] is False and "metrics.json differs from the fold files" in html


def test_unfinished_run_and_missing_fold_files(train_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(train_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    (run / "folds" / "run1" / "s01.npz").unlink()
    assert main(["report", str(run), "--examples", "0"]) == 0  # predictions.csv names a fold that is gone
    html, numbers = check_report(run / "report.html")
    assert "Fold files not usable" in html and list(numbers["protocols"]) == ["val"]
    for name in ("predictions.csv", "metrics.json"):
        (run / name).unlink()
    # still training: tables from the fold files of finished runs
    assert main(["report", str(run), "--examples", "0"]) == 0
    html, numbers = check_report(run / "report.html")
    assert "No predictions.csv yet" in html and "Runs [1] are unfinished" in html
    assert list(numbers["protocols"]) == ["val", "fixed", "oracle"]
    assert numbers["protocols"]["val"]["runs"] == 1 and numbers["protocols"]["val"]["smic"]["n"] == 3


def test_released_and_sweep_folders_without_folds(train_run, tmp_path, monkeypatch):
    released = tmp_path / "released"
    released.mkdir()
    for name in ("config.json", "predictions.csv"):
        shutil.copy(train_run / name, released / name)
    config = json.loads((released / "config.json").read_text())  # as `causalnet convert` records its kind
    (released / "config.json").write_text(json.dumps({**config, "kind": "released"}))
    metrics = json.loads((train_run / "metrics.json").read_text())
    (released / "metrics.json").write_text(json.dumps({**metrics, "protocol": "released",
                                                       "missing_subjects": ["sub02", "s02"]}))
    assert main(["report", str(released), "--no-model", "--examples", "2"]) == 0
    html, numbers = check_report(released / "report.html")
    assert numbers["kind"] == "released"
    assert "2 subject(s) of the data have no result in this folder and are not in these tables: sub02, s02" in html
    assert list(numbers["protocols"]) == ["released"]
    assert f"<td>{cell(metrics['composite'], 'uf1')}</td>" in html
    sections = {s["id"] for s in numbers["sections"]}
    assert {"results", "confusion", "subjects", "clips"} <= sections and "curves" not in sections

    # the authors' <subject>.pth files the folder was converted from give attention, saliency and features
    import causalnet.models as models

    reference = tmp_path / "pth"
    reference.mkdir()
    for s in SUBJECTS.split(","):
        (reference / f"{s}.pth").write_bytes(b"stand-in")
    config = json.loads((released / "config.json").read_text())
    (released / "config.json").write_text(json.dumps({**config, "reference": str(reference)}))
    loaded = []

    def fake_load_reference(path):  # stands in for issue 10's loader of the authors' weights
        loaded.append(Path(path).name)
        return models.load_checkpoint(train_run / "checkpoints" / "run0" / Path(path).with_suffix(".safetensors").name)

    monkeypatch.setattr(models, "load_reference", fake_load_reference, raising=False)
    assert main(["report", str(released), "--out", str(tmp_path / "rel2.html"), "--examples", "2"]) == 0
    html, numbers = check_report(tmp_path / "rel2.html")
    assert "come from the released weights, which predicts" in html and "CMPLM attention" in html
    assert "computed with the weights of each fold: the released weights" in html
    assert set(loaded) == {f"{s}.pth" for s in SUBJECTS.split(",")}
    monkeypatch.undo()

    sweep = tmp_path / "sweep"
    shutil.copytree(released, sweep)
    (sweep / "metrics.json").write_text(json.dumps(metrics))
    (sweep / "config.json").write_text(json.dumps({**config, "kind": "sweep"}))  # as `causalnet sweep` records it
    (sweep / "candidates.md").write_text("# inner scores\n\n| candidate | inner UF1 |\n|---|---|\n| a | 0.61 |\n"
                                         "| b | 0.64 |\n")
    assert main(["report", str(sweep), "--no-model", "--examples", "0"]) == 0
    html, numbers = check_report(sweep / "report.html")
    assert numbers["kind"] == "sweep"
    table = next(t for s in numbers["sections"] if s["id"] == "tables" for t in s["tables"])
    assert table["columns"] == ["candidate", "inner UF1"] and table["rows"] == [["a", "0.61"], ["b", "0.64"]]


# ------------------------------------------------------------------------------------------- robustness


@pytest.fixture(scope="module")
def robustness_run(tmp_path_factory) -> Path:
    """A real (tiny) `causalnet robustness` output folder: 3 synthetic subjects, 2 models, σ 0/30 + spotting."""
    import cv2 as _cv2

    from causalnet.data.builders import read_plan
    from causalnet.flow import PreprocessConfig
    from causalnet.robustness import RobustnessConfig, RobustnessRun, clips_from_plan, parse_model_specs
    from causalnet.synth import SynthConfig, generate_benchmark
    from causalnet.train import ExperimentConfig

    _cv2.setNumThreads(1)
    root = tmp_path_factory.mktemp("rob")
    generate_benchmark(SynthConfig.preset("tiny").with_overrides({"image_size": 32, "n_subjects": 3}), root / "raw")
    clips, _ = clips_from_plan(read_plan("generic", root / "raw"))
    specs = parse_model_specs("causalnet,htnet")
    fast = {"train.members": 1, "train.member_validation": False, "train.epochs": 2, "train.mirror": False,
            "train.mirror_tta": False, "model.dim": 8}
    experiments = {s.name: ExperimentConfig.preset("compact", model_name=s.name).with_overrides(fast, protocol="fixed")
                   for s in specs}
    run = RobustnessRun(root / "out", clips, PreprocessConfig(face_method="none", face_size=32),
                        RobustnessConfig(sigmas=(0, 30), spotting=True, runs=2), specs, experiments,
                        ("negative", "positive", "surprise"))
    run.prepare(workers=1)
    run.train(workers=1)
    run.finish()
    return root / "out"


def test_report_of_a_robustness_run(robustness_run, tmp_path):
    out = tmp_path / "rob.html"
    assert main(["report", str(robustness_run), "--out", str(out)]) == 0
    html, numbers = check_report(out)
    results = json.loads((robustness_run / "results.json").read_text())
    assert numbers["kind"] == "robustness"
    assert numbers["robustness"]["metrics"] == results["metrics"]
    for model in ("causalnet", "htnet"):
        for condition in ("sigma0", "sigma30", "spotting"):
            c = results["metrics"][model][condition]["composite"]
            assert f"{cell(c, 'uf1')} / {cell(c, 'uar')}" in html
    assert {"metric_vs_sigma.png", "keyframe_errors.png", "confusion_causalnet.png",
            "confusion_htnet.png"} <= set(numbers["figures"])
    assert "σ = 30" in html and "spotting" in html


def test_compare_selects_models_and_conditions_of_a_robustness_folder(robustness_run, capsys):
    a, b = f"{robustness_run}:model=causalnet,condition=sigma0", f"{robustness_run}:model=htnet,condition=sigma0"
    assert main(["compare", a, b, "--bootstrap", "200", "--permutations", "200"]) == 0
    assert "Δ (B−A)" in capsys.readouterr().out
    assert main(["compare", str(robustness_run), b]) == 1
    assert "select one" in capsys.readouterr().err
    assert main(["compare", f"{robustness_run}:model=nope", b]) == 1
    assert "model='nope' not found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- compare


def write_predictions(path: Path, rows: list[tuple]) -> Path:
    """rows: (run, subject, dataset, clip, label, pred)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "subject", "dataset", "clip", "label", "pred", "p0", "p1", "p2"])
        for r in rows:
            probs = np.eye(3)[r[5]]
            w.writerow([*r, *probs])
    return path


def test_compare_a_run_with_itself_gives_zero(train_run, tmp_path, capsys):
    out = tmp_path / "cmp.html"
    assert main(["compare", str(train_run), str(train_run), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "+0.00" in text and "2 run(s)" in text
    html, numbers = check_report(out)
    (result,) = numbers["comparisons"]
    for group in result["groups"].values():
        for m in ("uf1", "uar", "acc"):
            assert group["delta"][m] == 0
            # 3 subjects (fewer than MIN_SUBJECTS): no interval, the exact test over all 2^3 swaps
            assert group["ci"][m]["low"] is None and "not enough subjects" in group["ci"][m]["reason"]
            assert group["permutation"]["p"][m] == 1.0 and group["permutation"]["exact"]
        assert group["seeds"]["paired"]["uf1"] == [0.0, 0.0]
    assert set(result["groups"]) == {"composite", "casme2", "smic", "samm"}
    assert "compare_forest.png" in numbers["figures"]


def test_compare_known_difference(tmp_path, capsys):
    """Four subjects with one clip of each class; A is always right, B calls one surprise clip negative.

    B's confusion: negative TP 4 FP 1, positive TP 4, surprise TP 3 FN 1, so
    UF1_B = (8/9 + 1 + 6/7) / 3, UAR_B = (1 + 1 + 3/4) / 3, ACC_B = 11/12; A scores 1 everywhere.
    """
    subjects = [("sub01", "casme2"), ("sub02", "casme2"), ("s01", "smic"), ("s02", "smic")]
    a, b = [], []
    for s, d in subjects:
        for k in range(3):
            a.append((0, s, d, f"c{k}", k, k))
            b.append((0, s, d, f"c{k}", k, 0 if (s == "sub02" and k == 2) else k))
    pa, pb = write_predictions(tmp_path / "a.csv", a), write_predictions(tmp_path / "b.csv", b)
    from causalnet.report import compare_runs

    (result,) = compare_runs([str(pa), str(pb)], n_boot=2000, n_perm=2000, seed=1)
    comp = result["groups"]["composite"]
    assert comp["delta"]["uf1"] == pytest.approx((8 / 9 + 1 + 6 / 7) / 3 - 1)
    assert comp["delta"]["uar"] == pytest.approx(-1 / 12)
    assert comp["delta"]["acc"] == pytest.approx(-1 / 12)
    # 4 subjects: no interval (the percentile bootstrap of 4 subjects gives [x, 0] beside the exact p = 1)
    assert comp["ci"]["uf1"]["low"] is None and result["warnings"]
    # exact test over the 2^4 swaps: swapping sub02 flips the sign, |Δ| never changes -> p = 1
    assert comp["permutation"]["exact"] and comp["permutation"]["p"]["uf1"] == 1.0
    assert comp["permutation"]["smallest_p"] == 2 / 16
    # the bootstrap itself, called directly: B is never better on any resample; it loses whenever sub02 is drawn
    from causalnet.report.compare import load_side, paired_data
    from causalnet.report.stats import paired_bootstrap

    sa, sb = load_side(str(pa)), load_side(str(pb))
    ci = paired_bootstrap(paired_data(sa, sb, sorted(zip(sa.predictions.subject, sa.predictions.clip, strict=True))),
                          2000, 1)
    assert ci["uf1"]["high"] == 0 and ci["uf1"]["low"] < 0
    casme = result["groups"]["casme2"]
    assert casme["delta"]["uar"] == pytest.approx((1 + 1 + 1 / 2) / 3 - 1) and casme["subjects"] == 2
    assert result["groups"]["smic"]["delta"]["uf1"] == 0
    assert main(["compare", str(pa), str(pb), "--bootstrap", "500", "--permutations", "500"]) == 0
    assert f"{100 * ((8 / 9 + 1 + 6 / 7) / 3 - 1):+.2f}" in capsys.readouterr().out


def test_compare_refuses_runs_on_different_clips(tmp_path, capsys):
    rows = [(0, "s1", "d", f"c{k}", k % 3, k % 3) for k in range(6)]
    pa = write_predictions(tmp_path / "a.csv", rows)
    pb = write_predictions(tmp_path / "b.csv", rows[:-1])
    assert main(["compare", str(pa), str(pb)]) == 1
    assert "do not cover the same clips" in capsys.readouterr().err
    relabelled = [(*r[:4], (r[4] + 1) % 3, r[5]) if r[3] == "c0" else r for r in rows]
    pc = write_predictions(tmp_path / "c.csv", relabelled)
    assert main(["compare", str(pa), str(pc)]) == 1
    assert "label of clip s1/c0 differs" in capsys.readouterr().err
    assert main(["compare", str(pa)]) == 1
    assert main(["compare", str(pa), str(pa), "--bootstrap", "5"]) == 1
    assert "--bootstrap" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- statistics


def test_confusion_metrics_equal_compute_metrics():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        y = rng.integers(0, 4, n)
        p = rng.integers(0, 4, n) if rng.random() < 0.5 else np.where(rng.random(n) < 0.7, y, rng.integers(0, 4, n))
        conf = subject_confusions(y, p, np.zeros(n, np.int64), 1, 4)[0]
        got = confusion_metrics(conf)
        ref = compute_metrics(y, p)
        for m in ("uf1", "uar", "acc"):
            assert got[m] == pytest.approx(ref[m], abs=1e-12)


def random_paired(rng, subjects=5, runs=2, classes=3):
    a, b = [], []
    for _ in range(runs):
        ca, cb = [], []
        for _ in range(subjects):
            n = int(rng.integers(1, 6))
            y = rng.integers(0, classes, n)
            ca.append((y, np.where(rng.random(n) < 0.6, y, rng.integers(0, classes, n))))
            cb.append((y, np.where(rng.random(n) < 0.8, y, rng.integers(0, classes, n))))
        a.append(ca)
        b.append(cb)
    return a, b


def stack(side, classes=3):
    return np.stack([np.stack([subject_confusions(y, p, np.zeros(len(y), np.int64), 1, classes)[0]
                               for y, p in run]) for run in side])


def pooled_score(side, weights):
    """Slow reference: replicate each subject's predictions w times, compute_metrics per run, mean over runs."""
    out = {m: [] for m in ("uf1", "uar", "acc")}
    for run in side:
        y = np.concatenate([np.tile(yy, int(w)) for (yy, _), w in zip(run, weights, strict=True)])
        p = np.concatenate([np.tile(pp, int(w)) for (_, pp), w in zip(run, weights, strict=True)])
        for m, v in compute_metrics(y, p).items():
            if m in out:
                out[m].append(v)
    return {m: np.mean(v) for m, v in out.items()}


def test_bootstrap_scores_equal_resampled_predictions():
    rng = np.random.default_rng(3)
    a, _ = random_paired(rng)
    weights = rng.multinomial(5, np.full(5, 0.2), size=4).astype(float)
    weights[weights.sum(axis=1) == 0] = 1
    fast = _score(stack(a), weights)
    for i, w in enumerate(weights):
        ref = pooled_score(a, w)
        for m in ("uf1", "uar", "acc"):
            assert fast[m][i] == pytest.approx(ref[m])


def test_exact_permutation_p_equals_brute_force():
    rng = np.random.default_rng(7)
    a, b = random_paired(rng, subjects=4, runs=2)
    got = paired_permutation(PairedData(stack(a), stack(b), [f"s{i}" for i in range(4)]), n_perm=10_000)
    assert got["exact"] and got["draws"] == 16
    ones = np.ones(4)
    observed = pooled_score(b, ones)["uf1"] - pooled_score(a, ones)["uf1"]
    hits = 0
    for swap in itertools.product((0, 1), repeat=4):
        sa = [[b[r][s] if swap[s] else a[r][s] for s in range(4)] for r in range(2)]
        sb = [[a[r][s] if swap[s] else b[r][s] for s in range(4)] for r in range(2)]
        hits += abs(pooled_score(sb, ones)["uf1"] - pooled_score(sa, ones)["uf1"]) >= abs(observed) - 1e-12
    assert got["p"]["uf1"] == pytest.approx(hits / 16)


# ------------------------------------------------------------------------------------------- model internals


def test_cmplm_attention_is_captured_by_hooks_and_cab_calls_are_not():
    from causalnet.models import CausalNet, CausalNetConfig
    from causalnet.report.attention import capture_attention, gradient_saliency, look_inside

    torch.manual_seed(0)
    cfg = CausalNetConfig.preset("compact").with_overrides({"cmplm_depth": 2})
    model = CausalNet(cfg).eval()
    x = np.random.default_rng(0).uniform(0, 255, (3, 4, 3, 28, 28)).astype(np.float32)
    with capture_attention(model) as calls, torch.no_grad():
        model(torch.as_tensor(x))
    assert len(calls) == 2 * 2  # two streams per CMPLM layer; the CAB shares the mask module but is not recorded
    assert all(c.shape == (3, cfg.cmplm_heads, 4, 4) for c in calls)
    for c in calls:
        assert torch.all(c[..., [0, 1, 2, 3], [3, 2, 1, 0]] == 0)  # the sparse mask drops the opposite token
        assert torch.all(c.sum(-1) <= 1 + 1e-6)
    probs, streams = look_inside(model, x)
    assert probs.shape == (3, 3) and len(streams) == 2 and streams[0].shape == (3, 4, 4)
    with capture_attention(model) as calls, torch.no_grad():
        pass
    model(torch.as_tensor(x))  # hooks are gone after the block
    assert calls == []
    no_cmplm = CausalNet(cfg.with_overrides({"cmplm": False})).eval()
    assert look_inside(no_cmplm, x)[1] == []
    sal = gradient_saliency(model, x, np.array([0, 1, 2]))
    assert sal.shape == (3, 4, 28, 28) and (sal >= 0).all() and sal.max() > 0


def test_mosaic_to_face_inverts_the_mosaic_placement():
    from causalnet.data.mosaic import facial_mosaic, mosaic_to_face

    img = np.random.default_rng(0).uniform(size=(28, 28, 1))
    cover = mosaic_to_face(np.ones((28, 28)))
    back = mosaic_to_face(facial_mosaic(img)[..., 0])
    assert cover.max() == 4 and (cover == 0).any()  # the four blocks overlap in the middle; corners are unused
    assert np.allclose(back, img[..., 0] * cover)
