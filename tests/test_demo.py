"""``causalnet synth`` and ``causalnet demo`` on the command line (tiny settings, a few seconds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from causalnet.cli import main


def test_synth_command_writes_the_generic_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    args = "synth --preset tiny --num-subjects 2 --clips-per-subject 3 --seed 7 --no-progress --set noise_sigma=1"
    assert main([*args.split(), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 clips of 2 subjects" in printed and "annotations.csv" in printed
    with open(out / "annotations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["subject"] for r in rows] == ["s01"] * 3 + ["s02"] * 3
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["config"]["seed"] == 7 and truth["config"]["noise_sigma"] == 1.0


def test_synth_command_rejects_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["synth", "--preset", "tiny", "--out", str(tmp_path / "x"), "--set", "no_such_field=1"])
    assert code == 1
    assert "no_such_field" in capsys.readouterr().err


# 6 subjects: the compact preset may validate ensemble members on held-out training subjects.
DEMO_ARGS = "demo --num-subjects 6 --clips-per-subject 2 --epochs 2 --size 48 --workers 1 --no-progress"


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    assert main([*DEMO_ARGS.split(), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "confusion matrix" in printed and "surprise" in printed and str(out) in printed
    record = json.loads((out / "demo.json").read_text())
    assert record["status"] == "done"
    assert record["experiment"]["train"]["epochs"] == 2
    assert record["metrics"]["composite"]["n"] == 12
    for name in ("run/metrics.json", "run/predictions.csv", "raw/annotations.csv",
                 "of/combined_3_class2_for_optical_flow.csv"):
        assert (out / name).is_file(), name
    # a second demo into the same folder replaces the first (a smaller one: 4 subjects, one epoch)
    assert main([*DEMO_ARGS.split(), "--seed", "1", "--num-subjects", "4", "--epochs", "1", "--out", str(out)]) == 0
    record = json.loads((out / "demo.json").read_text())
    assert record["synth"]["seed"] == 1 and record["metrics"]["composite"]["n"] == 8
    assert record["experiment"]["train"]["epochs"] == 1


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--num-subjects", "2", "--no-progress"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"
