"""``predictions.csv``: one row per test clip (per run, and per model/condition where an experiment has them).

Every kind of run folder writes the same core columns ``run, subject, dataset, clip, label, pred,
p0..p{C-1}``; an experiment may add columns before them (e.g. ``model``, ``condition``) and after them
(e.g. ``onset, apex, offset``). :func:`read_predictions` reads any of them back: the core columns
typed, the others as text. Subject and clip ids always stay text (leading zeros matter).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.data.composite import DATASETS
from causalnet.eval.metrics import grouped_metrics, summarise_runs
from causalnet.io import csv_text, restore_cell, write_text_atomic

__all__ = ["CORE_COLUMNS", "fold_rows", "metrics_from_rows", "predictions_csv", "read_predictions",
           "write_predictions"]

CORE_COLUMNS = ("run", "subject", "dataset", "clip", "label", "pred")


def predictions_csv(rows: Sequence[dict[str, Any]], num_classes: int, before: Sequence[str] = (),
                    after: Sequence[str] = ()) -> str:
    """The CSV text of prediction rows (dicts with the core columns and ``probs``; ``before``/``after``
    name extra columns taken from the rows, ``None`` written as an empty cell). Cells are neutralised
    against spreadsheet formulas (:func:`causalnet.io.csv_text`); :func:`read_predictions` restores them."""
    columns = [*before, *CORE_COLUMNS, *[f"p{i}" for i in range(num_classes)], *after]
    lines = ([*(r.get(c) for c in before), *(r[c] for c in CORE_COLUMNS), *[f"{p:.6f}" for p in r["probs"]],
              *(r.get(c) for c in after)] for r in rows)
    return csv_text(columns, lines)


def write_predictions(path: str | Path, rows: Sequence[dict[str, Any]], num_classes: int,
                      before: Sequence[str] = (), after: Sequence[str] = ()) -> None:
    """Write ``predictions.csv`` atomically (see :func:`predictions_csv`)."""
    write_text_atomic(path, predictions_csv(rows, num_classes, before, after))


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read a predictions.csv back: core columns typed, ``probs`` a list of floats, extra columns as text."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [restore_cell(c) for c in reader.fieldnames or []]
        reader.fieldnames = fields
        missing = [c for c in CORE_COLUMNS if c not in fields]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        pcols = [c for c in fields if c.startswith("p") and c[1:].isdigit()]
        others = [c for c in fields if c not in CORE_COLUMNS and c not in pcols]
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                row = {"run": int(r["run"]), "subject": restore_cell(r["subject"]),
                       "dataset": restore_cell(r["dataset"]), "clip": restore_cell(r["clip"]),
                       "label": int(r["label"]), "pred": int(r["pred"]), "probs": [float(r[c]) for c in pcols]}
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: malformed row ({exc})") from None
            row.update({c: restore_cell(r[c]) if isinstance(r[c], str) else r[c] for c in others})
            rows.append(row)
    return rows


def metrics_from_rows(rows: Sequence[dict[str, Any]], protocol: str) -> dict[str, Any]:
    """``metrics.json`` content: metrics per run on pooled predictions (composite and per source dataset),
    mean/std over runs."""
    per_run = []
    for run in sorted({r["run"] for r in rows}):
        sel = [r for r in rows if r["run"] == run]
        y = np.array([r["label"] for r in sel])
        p = np.array([r["pred"] for r in sel])
        groups = np.array([r["dataset"] for r in sel])
        names = [*DATASETS, *sorted(set(groups.tolist()) - set(DATASETS) - {""})]
        per_run.append(grouped_metrics(y, p, groups, names))
    return {"protocol": protocol, "runs": len(per_run), **summarise_runs(per_run)}


def fold_rows(fold: Any, protocol: str, run: int, subject: str,
              datasets: Mapping[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
    """The prediction rows of one fold (:class:`causalnet.engine.FoldResult`) under ``protocol``;
    ``datasets`` maps ``(subject, clip)`` to the clip's source dataset."""
    from causalnet.eval.protocols import select_probs

    probs, epoch = select_probs(fold, protocol)
    datasets = datasets or {}
    return [{"run": run, "subject": subject, "dataset": datasets.get((subject, clip), ""), "clip": clip,
             "label": int(label), "pred": int(np.argmax(p)), "probs": [float(v) for v in p], "epoch": epoch}
            for clip, label, p in zip(fold.clips.tolist(), fold.labels.tolist(), probs, strict=True)]
