"""Reliability and security, round 2 (issue 32): CSV cells cannot become spreadsheet formulas, counts that
size work are bounded, outputs never replace inputs, misleading messages, OS errors without tracebacks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from causalnet.cli import main
from causalnet.io import csv_text, neutralise_cell, restore_cell

EVIL = "=cmd|' -C calc'!A0"
HOSTILE = [EVIL, "+SUM(1;2)", "@x", "-x", "\tx", "\rx", "'=x", "''@y", "'plain", "plain"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _assert_neutral(path: Path) -> None:
    """No cell of the file starts like a formula (numbers apart)."""
    for row in _cells(path):
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only a number may start with a sign


# ---------------------------------------------------------------- item 4: CSV formula injection


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralised_cells_round_trip(text):
    cell = neutralise_cell(text)
    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert restore_cell(cell) == text


@pytest.mark.parametrize("value", [-0.5, -3, "-0.5", "+3", "1e-4", "-1E+5", "-inf", 0.25])
def test_numbers_stay_numbers(value):
    assert neutralise_cell(value) == value
    assert csv_text(["a"], [[value]]).splitlines()[1] == str(value)


def test_csv_text_quotes_header_and_mapping_rows():
    text = csv_text(["a", "@b"], [{"a": EVIL, "@b": None}, ["x", -1.5]])
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["a", "'@b"], ["'" + EVIL, ""], ["x", "-1.5"]]


def _prediction_rows() -> list[dict]:
    return [{"run": 0, "subject": EVIL, "dataset": "+SUM(1;2)", "clip": "@x", "label": 1, "pred": 0,
             "probs": [0.5, 0.25, 0.25], "model": "-m", "condition": "=c"},
            {"run": 0, "subject": "-1", "dataset": "casme2", "clip": "'=y", "label": 0, "pred": 0,
             "probs": [1.0, 0.0, 0.0], "model": "plain", "condition": ""}]


def test_predictions_csv_is_neutralised_and_read_back(tmp_path):
    from causalnet.eval.predictions import read_predictions, write_predictions

    path = tmp_path / "predictions.csv"
    write_predictions(path, _prediction_rows(), 3, before=("model", "condition"))
    _assert_neutral(path)
    assert _cells(path)[1][:5] == ["'-m", "'=c", "0", "'" + EVIL, "'+SUM(1;2)"]
    back = read_predictions(path)
    for want, got in zip(_prediction_rows(), back, strict=True):
        for key in ("subject", "dataset", "clip", "model", "condition", "label", "pred", "run"):
            assert got[key] == want[key], key
    assert back[1]["subject"] == "-1"  # numeric text stays as written


def _analysis(subject: str, video: str):
    from causalnet.spotting.analyze import Analysis, AnalyzedInterval

    item = AnalyzedInterval("micro", 10, 12, 20, score=2.0, threshold=1.0, label=1, probabilities=[0.2, 0.7, 0.1])
    return Analysis(subject=subject, video=video, source="rec", fps=100.0, n_frames=50, face_size=64,
                    intervals=[item], reference=[], candidates=[], signal=np.zeros(50), threshold=np.zeros(50),
                    class_names=["neg", "=pos", "sur"], realigned=[], seconds=1.0, cpu_seconds=1.0, flows=0)


def test_intervals_csv_is_neutralised(tmp_path):
    from causalnet.spotting.output import write_intervals

    write_intervals(tmp_path, _analysis(EVIL, "@video"), settings={})
    path = tmp_path / "intervals.csv"
    _assert_neutral(path)
    rows = _cells(path)
    assert rows[1][:2] == ["'" + EVIL, "'@video"]
    assert rows[1][rows[0].index("class")] == "'=pos"
    assert [restore_cell(c) for c in rows[1][:2]] == [EVIL, "@video"]
