"""Numbers and reports that do not mislead (issue 37): `evaluate` on robustness and sweep folders, one unit
(%), "one run" instead of ± 0.00, no empty columns, the benchmark named, no machine paths, what is pooled,
small-sample statistics of `compare`, and figures with colour bars and labelled axes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from causalnet.cli import main
from causalnet.engine import FoldStore
from causalnet.eval.metrics import grouped_metrics
from causalnet.robustness.engine import summarise
from conftest import write_fake_composite

CLASSES = ["negative", "positive", "surprise"]
#: A fraction printed with 3-4 decimals where a percentage belongs (``0.2863`` beside ``29.33``).
FRACTION = re.compile(r"(?<![\d.])0\.\d{3,4}(?!\d)")


# ------------------------------------------------------------------------------------------- helpers


def write_rows(path: Path, rows: list[dict], extra: tuple[str, ...] = ()) -> Path:
    """A predictions CSV: ``extra`` columns first (model, condition), then the standard ones."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*extra, "run", "subject", "dataset", "clip", "label", "pred", "p0", "p1", "p2"])
        for r in rows:
            probs = 0.1 + 0.7 * np.eye(3)[r["pred"]]
            w.writerow([*(r[c] for c in extra), r["run"], r["subject"], r["dataset"], r["clip"], r["label"],
                        r["pred"], *probs])
    return path


def fake_robustness(root: Path, runs: int = 1, dataset: str = "synth") -> Path:
    """A robustness folder as `causalnet robustness` writes it (config.json with its kind, predictions.csv
    with model and condition columns, results.json), two models under different protocols, σ 0 and 30."""
    from causalnet.robustness import RobustnessConfig, parse_model_specs
    from causalnet.robustness.report import drops

    out = root / "rob"
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    models, conditions = ["causalnet", "htnet"], ["sigma0", "sigma30"]
    rcfg = RobustnessConfig(sigmas=(0, 30), spotting=False, runs=runs)
    rows = []
    accuracy = {("causalnet", "sigma0"): 1.0, ("causalnet", "sigma30"): 0.5, ("htnet", "sigma0"): 0.75,
                ("htnet", "sigma30"): 0.25}
    for m in models:
        for c in conditions:
            for run in range(runs):
                for s in range(4):
                    for k in range(4):
                        label = k % 3
                        right = (s * 4 + k) / 16 < accuracy[(m, c)]
                        rows.append({"model": m, "condition": c, "run": run, "subject": f"s{s}", "dataset": dataset,
                                     "clip": f"c{k}", "label": label, "pred": label if right else (label + 1) % 3})
    rng.shuffle(rows)
    write_rows(out / "predictions.csv", rows, ("model", "condition"))
    metrics = {}
    for m in models:
        metrics[m] = {}
        for c in conditions:
            per_run = []
            for run in range(runs):
                sel = [r for r in rows if r["model"] == m and r["condition"] == c and r["run"] == run]
                per_run.append(grouped_metrics(np.array([r["label"] for r in sel]), np.array([r["pred"] for r in sel]),
                                               np.array([r["dataset"] for r in sel]), []))
            metrics[m][c] = summarise(per_run)
    specs = parse_model_specs(",".join(models))
    FoldStore(out).write_config("robustness", {"models": models, "classes": CLASSES,
                                               "robustness": rcfg.to_dict()})
    results = {"robustness": rcfg.to_dict(), "models": models, "conditions": conditions,
               "subjects": [f"s{s}" for s in range(4)], "clips": 16,
               "protocols": {"causalnet": "val", "htnet": "fixed"}, "metrics": metrics,
               "uf1_drop": drops(metrics, specs, rcfg), "keyframe_error": {}}
    (out / "results.json").write_text(json.dumps(results))
    return out


def no_machine_path(text: str, *paths: Path) -> None:
    for p in paths:
        for form in {str(p), str(p.resolve())}:
            assert form not in text, f"machine path {form} in a report"


# ------------------------------------------------------------------------------------------- evaluate


def test_evaluate_robustness_reports_each_model_and_condition_under_its_protocol(tmp_path, capsys):
    run = fake_robustness(tmp_path, runs=2)
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "model causalnet: protocol val (honest" in out and "model htnet: protocol fixed (honest" in out
    assert "nothing pooled across models or conditions" in out and "causalnet report rob" in out
    assert "fixed (honest" not in out.split("model htnet")[0]  # causalnet's block is not labelled fixed
    # causalnet at σ = 0 is right on every clip: 100 %; htnet at σ = 30 on 4 of 16
    block = out.split("model causalnet")[1].split("model htnet")[0]
    assert re.search(r"σ = 0\s+100\.00 ±\s+0\.00", block)
    assert "σ = 30" in block and "n" in block
    assert not FRACTION.search(out)
    assert not (run / "metrics.json").exists()  # a robustness folder keeps results.json; nothing pooled written
    assert main(["evaluate", str(run), "--confusion"]) == 0
    assert "pooled over 2 runs: n = 32 predictions of 16 clips" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--protocol", "fixed"]) == 1
    err = capsys.readouterr().err
    assert "robustness" in err and "causalnet report" in err and len(err.strip().splitlines()) == 1


def test_evaluate_sweep_is_labelled_with_the_nested_protocol(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    rows = [{"run": 0, "subject": f"s{s}", "dataset": "casme2", "clip": f"c{k}", "label": k, "pred": k if s else 0}
            for s in range(3) for k in range(3)]
    write_rows(sweep / "predictions.csv", rows)
    FoldStore(sweep).write_config("sweep", {"experiment": {"protocol": "val"}, "runs": 1})
    assert main(["evaluate", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "protocol: nested-val" in out and "each member's best epoch" not in out
    assert "one run" in out and "composite" in out
    assert json.loads((sweep / "metrics.json").read_text())["protocol"] == "nested-val"
    assert main(["evaluate", str(sweep), "--protocol", "oracle"]) == 1
    assert "nested" in capsys.readouterr().err


def test_evaluate_names_a_benchmark_other_than_the_composite(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"run": r, "subject": f"s{s}", "dataset": "synth", "clip": f"c{k}", "label": k, "pred": k}
            for r in range(2) for s in range(2) for k in range(3)]
    write_rows(run / "predictions.csv", rows)
    FoldStore(run).write_config("train", {"experiment": {"protocol": "fixed"}, "data": str(tmp_path / "synth_of")})
    assert main(["evaluate", str(run), "--confusion"]) == 0
    out = capsys.readouterr().out
    assert "synth_of (all)" in out and "composite" not in out
    assert "mean ± std over 2 runs" in out
    assert "pooled over 2 runs: n = 12 predictions of 6 clips" in out


# ------------------------------------------------------------------------------------------- tables


def test_robustness_table_in_percent_one_run_and_no_empty_column():
    from causalnet.robustness import RobustnessConfig, parse_model_specs
    from causalnet.robustness.report import table_markdown

    def group(v: float) -> dict:
        return {"composite": {"uf1": v, "uar": v, "acc": v, "n": 8, "mean": {"uf1": v, "uar": v, "acc": v},
                              "std": {"uf1": 0.0, "uar": 0.0, "acc": 0.0}, "runs": [{"uf1": v, "uar": v, "acc": v}]}}

    rcfg = RobustnessConfig(sigmas=(0, 30), spotting=False, runs=1)
    metrics = {"causalnet": {"sigma0": group(0.2863), "sigma30": group(0.125)},
               "htnet": {"sigma0": group(0.5), "sigma30": group(0.25)}}
    table = table_markdown(metrics, parse_model_specs("causalnet,htnet"), rcfg)
    assert "28.63" in table and "12.50" in table and "16.13" in table  # drop 28.63 − 12.50, in points
    assert not FRACTION.search(table) and "±" not in table and "one run" in table
    assert "plain" not in table and "composite" not in table
    for line in table.splitlines():  # every row fills every column
        if line.startswith("| ") and "---" not in line:
            assert all(c.strip() for c in line.strip("|").split("|"))
    # with a technique whose plain model is in the run, the column appears
    metrics["causalnet+jitter"] = {"sigma0": group(0.3), "sigma30": group(0.2)}
    table = table_markdown(metrics, parse_model_specs("causalnet,causalnet+jitter"), rcfg)
    assert "drop vs plain σ = 0" in table


def test_candidates_table_in_percent():
    from causalnet.train.sweep import _markdown

    table = [{"candidate": "a", "settings": "train.lr=0.001", "inner_uf1": 0.2863, "chosen": 3,
              "oracle_test_uf1": 0.2933, "oracle_test_uar": 0.31}]
    metrics = {"protocol": "nested-val", "composite": {"uf1": 0.3, "uar": 0.32}, "synth": {"uf1": 0.3, "uar": 0.32},
               "oracle": {"composite": {"uf1": 0.2933}}}
    text = _markdown(table, metrics, "a")
    assert "| 28.63 |" in text and "29.33" in text and "inner val UF1 %" in text
    assert not FRACTION.search(text.replace("train.lr=0.001", ""))
    assert "composite" not in text and "synth UF1" in text


# ------------------------------------------------------------------------------------------- reports


def test_robustness_report_one_run_named_benchmark_no_paths(tmp_path):
    run = fake_robustness(tmp_path, runs=1)
    out = tmp_path / "out" / "rob.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    html = out.read_text()
    numbers = out.with_suffix(".json").read_text()
    assert "± 0.00" not in html and "one run" in html
    assert "drop from the plain model" not in html  # no spec with techniques: the column is hidden
    assert "Results per condition (synth)" in html and "Composite" not in html
    assert ">composite<" not in html
    results = json.loads(numbers)
    assert results["robustness"]["benchmark"] == "synth"
    no_machine_path(html + numbers, tmp_path, run)
    assert "one run: n = 16 clips" in html  # what each confusion matrix holds


@pytest.fixture(scope="module")
def small_train(tmp_path_factory) -> Path:
    """A tiny `causalnet train` run: 2 test subjects, 1 epoch, 2 runs, checkpoints."""
    root = tmp_path_factory.mktemp("honest")
    data = write_fake_composite(root / "data", {"sub01": "casme2", "sub02": "casme2", "s01": "smic", "006": "samm"})
    run = root / "RUN"
    assert main(["train", "--data", str(data), "--subjects", "sub01,s01", "--epochs", "1", "--runs", "2",
                 "--checkpoints", "--no-progress", "--workers", "1", "--protocol", "fixed", "--out", str(run),
                 "--set", "model.dim=8", "model.head_hidden=16",
                 "train.members=1", "train.batch_size=1024", "train.member_validation=false"]) == 0
    return run


def test_train_report_says_what_is_pooled_and_shows_no_path(small_train, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(small_train), "--out", str(out), "--examples", "2"]) == 0
    html = out.read_text()
    numbers = json.loads(out.with_suffix(".json").read_text())
    preds = list(csv.DictReader(open(small_train / "predictions.csv")))
    clips = len({(r["subject"], r["clip"]) for r in preds})
    assert f"pooled over 2 runs: n = {len(preds)} predictions of {clips} clips" in html
    assert numbers["confusion_pooled"]["runs"] == 2 and numbers["benchmark"] == "composite"
    no_machine_path(html + json.dumps(numbers), small_train, small_train.parent / "data", tmp_path)
    # a clip figure's title gives one probability; the checkpoint's own is in the caption, named as such
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    clip_captions = [c for c in captions if "Clip " in c]
    assert clip_captions
    for c in clip_captions:
        title = c.split("</b>")[1].split(". Shown:")[0]
        assert len(re.findall(r"p = \d", title)) == 1
        assert "its own probability" in c
    assert "CMPLM attention" in html and "gradient saliency" in html


def test_evaluate_prints_percent(small_train, capsys):
    assert main(["evaluate", str(small_train)]) == 0
    out = capsys.readouterr().out
    assert "UF1 %" in out and "mean ± std over 2 runs" in out and not FRACTION.search(out)


# ------------------------------------------------------------------------------------------- compare


def write_subjects(path: Path, subjects: int, wrong: dict[str, int]) -> Path:
    """Three clips per subject (one per class); ``wrong[subject]`` clips of it are mispredicted."""
    rows = [{"run": 0, "subject": f"s{s:02d}", "dataset": "casme2", "clip": f"c{k}", "label": k,
             "pred": (k + 1) % 3 if k < wrong.get(f"s{s:02d}", 0) else k}
            for s in range(subjects) for k in range(3)]
    return write_rows(path, rows)


@pytest.mark.parametrize("subjects", [1, 2, 3])
def test_compare_with_few_subjects_gives_no_interval_and_warns(tmp_path, capsys, subjects):
    a = write_subjects(tmp_path / "a.csv", subjects, {f"s{s:02d}": 2 for s in range(subjects)})
    b = write_subjects(tmp_path / "b.csv", subjects, {})  # B better on every subject: Δ = +x on each
    html = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "--out", str(html)]) == 0
    captured = capsys.readouterr()
    assert re.search(r"\[[+-]\d", captured.out) is None  # no interval printed at all
    assert "not enough subjects for an interval" in captured.out
    assert f"warning: composite: only {subjects} subject(s), fewer than 10" in captured.err
    assert captured.err.count("warning: composite") == 1
    (result,) = json.loads(html.with_suffix(".json").read_text())["comparisons"]
    comp = result["groups"]["composite"]
    assert comp["ci"]["uf1"]["low"] is None and comp["permutation"]["exact"]
    assert comp["permutation"]["draws"] == 2**subjects
    assert comp["permutation"]["smallest_p"] == pytest.approx(min(1.0, 2 / 2**subjects))
    assert comp["permutation"]["p"]["uf1"] >= comp["permutation"]["smallest_p"]
    assert result["a"] == f"{tmp_path.name}/a.csv" and str(tmp_path) not in html.read_text()
    assert "Warning: composite: only" in html.read_text()


def test_compare_with_enough_subjects_gives_an_interval_that_agrees_or_says_why(tmp_path, capsys):
    from causalnet.report import compare_runs
    from causalnet.report.stats import MIN_SUBJECTS, disagreement

    n = MIN_SUBJECTS + 2
    a = write_subjects(tmp_path / "a.csv", n, {f"s{s:02d}": 1 for s in range(0, n, 2)})
    b = write_subjects(tmp_path / "b.csv", n, {f"s{s:02d}": 1 for s in range(1, n, 3)})
    (result,) = compare_runs([str(a), str(b)], n_boot=2000, n_perm=2000)
    comp = result["groups"]["composite"]
    assert comp["ci"]["uf1"]["low"] is not None and not result["warnings"]
    for m in ("uf1", "uar"):
        ci, p = comp["ci"][m], comp["permutation"]["p"][m]
        excludes = ci["low"] > 0 or ci["high"] < 0
        assert (excludes == (p < 0.05)) or comp["disagreement"][m]
    # the rule itself: an interval excluding 0 beside p = 0.25 is flagged with its reason
    assert "too narrow" in disagreement({"low": 0.6, "high": 0.6}, 0.25)
    assert disagreement({"low": -0.1, "high": 0.2}, 0.5) == ""


# ------------------------------------------------------------------------------------------- figures


def test_clip_figure_has_colour_bars_and_labelled_axes():
    from causalnet.report.figures import TOKEN_LABELS, clip_figure

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 28, 28, 3)).astype(np.uint8)
    fig = clip_figure(images, "t (p = 0.80)", rng.random((4, 28, 28)), [rng.random((4, 4)), rng.random((4, 4))],
                      saliency_class="negative")
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    attention = [ax for ax in fig.axes if ax.get_xlabel().startswith("key token")]
    assert len(attention) == 2
    for ax in attention:
        assert ax.get_ylabel().startswith("query token")
        assert [t.get_text() for t in ax.get_xticklabels()] == list(TOKEN_LABELS)
        assert [t.get_text() for t in ax.get_yticklabels()] == list(TOKEN_LABELS)
    bars = [c for ax in fig.axes for c in ax.child_axes]  # colour bars sit in inset axes
    bar_labels = [c.get_ylabel() for c in bars]
    assert any("attention weight" in t for t in bar_labels)
    assert any("∂ logit" in t and "negative" in t for t in bar_labels)
    saliency = [ax for ax in fig.axes if ax.get_title().startswith("saliency over")]
    assert len(saliency) == 4
    for ax in saliency:  # drawn over the image: a grey base image and the heat map on top
        assert len(ax.get_images()) == 2 and ax.get_xlabel() == "x (pixel)"
    assert any(y == "y (pixel)" for _, y in labels)
