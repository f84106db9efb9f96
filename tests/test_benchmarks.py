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
    """benchmarks/paper_gpu.py (issue 13) with the compact preset, two subjects, one epoch, on the CPU."""
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper_gpu.py"), "--data", str(composite_root), "--out", str(out),
         "--device", "cpu", "--preset", "compact", "--subjects", "sub01,s01", "--epochs", "1", "--seeds", "1",
         "--ablation-seeds", "1", "--amp-seeds", "1", "--step-epochs", "2", "--val-members", "2"],
        env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert {"table1", "table2", "table3", "table4"} <= set(results)
    assert set(results["table1"]) >= {"fixed", "val", "oracle"}
    assert len(results["table2"]) == 5
    text = (out / "results.md").read_text()
    assert "Table 1" in text and "ORACLE" in text and "Table 4" in text
