"""The benchmark scripts run from a fresh clone: a smoke run of each on a few subjects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paper_gpu_benchmark_runs_end_to_end_on_the_cpu(composite_root, tmp_path):
    """benchmarks/paper_gpu.py (issue 13) in its smallest configuration, on the CPU: every table from one test
    subject, one epoch, the compact preset at width 8, one torch thread (as every test: conftest)."""
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper_gpu.py"), "--data", str(composite_root), "--out", str(out),
         "--device", "cpu", "--preset", "compact", "--subjects", "sub01", "--epochs", "1", "--seeds", "1",
         "--ablation-seeds", "1", "--amp-seeds", "1", "--step-epochs", "2", "--val-members", "2",
         "--set", "model.dim=8", "model.head_hidden=16", "--threads", "1"],
        env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert {"table1", "table2", "table3", "table4"} <= set(results)
    assert set(results["table1"]) >= {"fixed", "val", "oracle"}
    assert len(results["table2"]) == 5
    text = (out / "results.md").read_text()
    assert "Table 1" in text and "ORACLE" in text and "Table 4" in text
    assert json.loads((out / "table1_paper" / "config.json").read_text())["experiment"]["model"]["dim"] == 8


def test_seed_ensemble_averages_the_runs_clip_by_clip(tmp_path):
    """benchmarks/seed_ensemble.py: the average of two runs is argmax of their mean probabilities per clip."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from seed_ensemble import averaged
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from causalnet.eval.predictions import write_predictions
    from causalnet.report.runs import load_predictions

    rows = [{"run": r, "subject": s, "dataset": "casme2", "clip": c, "label": 0, "pred": int(p.index(max(p))),
             "probs": p} for r, s, c, p in [
        (0, "a", "x", [0.6, 0.4, 0.0]), (0, "b", "y", [0.2, 0.3, 0.5]),
        (1, "b", "y", [0.2, 0.7, 0.1]), (1, "a", "x", [0.0, 0.9, 0.1])]]  # run 1 in another order
    write_predictions(tmp_path / "predictions.csv", rows, 3)
    avg = averaged([load_predictions(tmp_path / "predictions.csv")])
    assert list(avg.clip) == ["x", "y"] and list(avg.pred) == [1, 1]
    assert abs(avg.probs[0] - [0.3, 0.65, 0.05]).max() < 1e-9
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "seed_ensemble.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "average of runs 0–1" in proc.stdout
