"""Larger ensembles post hoc: average the predictions of a run folder's seeds (issue 16, lever 4).

Each run of a LOSO folder (``--runs K``) trains its own ensemble per fold with other seeds; averaging the
probabilities of the first ``k`` runs clip by clip is a ``k``-times larger ensemble, at ``k`` times the
training cost. No test label is used: each run's predictions are those of its own protocol
(``predictions.csv``), and the only rule is "average them". Prints, for k = 1..K, the composite and
per-dataset UF1 / UAR of the averaged ensemble, beside the mean ± std of the single runs::

    python benchmarks/seed_ensemble.py runs/compact_prestack [runs/compact5 ...]

Several folders (of the same data and clips) are pooled too: a last row averages every run of all of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from causalnet.eval.predictions import metrics_from_rows
from causalnet.report.runs import Predictions, load_predictions


def averaged(preds: list[Predictions]) -> Predictions:
    """One prediction per clip: the mean probabilities of ``preds`` (every run of each), as run 0."""
    keys = None
    stacked = []
    for p in preds:
        for run in np.unique(p.run):
            sel = p.select(p.run == run)
            order = np.lexsort((sel.clip, sel.subject))
            sel = sel.select(order)
            key = list(zip(sel.subject.tolist(), sel.clip.tolist(), strict=True))
            if keys is None:
                keys, base = key, sel
            elif key != keys:
                raise ValueError(f"{p.source}: run {run} holds other clips than the first run; cannot average")
            stacked.append(sel.probs)
    probs = np.mean(stacked, axis=0)
    return Predictions(np.zeros(len(base), np.int64), base.subject, base.dataset, base.clip, base.label,
                       probs.argmax(1), probs, source="averaged")


def row(name: str, metrics: dict) -> str:
    cells = []
    for group in ("composite", "casme2", "smic", "samm"):
        m = metrics.get(group)
        if m is None:
            cells.append("–")
        elif len(m.get("runs", [])) > 1:
            cells.append(f"{100 * m['uf1']:.2f} ± {100 * m['std']['uf1']:.2f} / {100 * m['uar']:.2f} ± "
                         f"{100 * m['std']['uar']:.2f}")
        else:
            cells.append(f"{100 * m['uf1']:.2f} / {100 * m['uar']:.2f}")
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", help="run folders with predictions.csv")
    args = ap.parse_args()
    print("| predictions (UF1 / UAR, %) | composite | CASME II | SMIC | SAMM |")
    print("|---|---|---|---|---|")
    every = []
    for folder in args.folders:
        preds = load_predictions(Path(folder) / "predictions.csv")
        every.append(preds)
        runs = np.unique(preds.run)
        protocol = "?"
        print(row(f"{folder}: single runs (mean ± std of {len(runs)})", metrics_from_rows(preds.rows(), protocol)))
        for k in range(2, len(runs) + 1):
            first = preds.select(np.isin(preds.run, runs[:k]))
            print(row(f"{folder}: average of runs 0–{k - 1}", metrics_from_rows(averaged([first]).rows(), protocol)))
    if len(args.folders) > 1:
        print(row("all folders: average of every run", metrics_from_rows(averaged(every).rows(), "?")))


if __name__ == "__main__":
    main()
