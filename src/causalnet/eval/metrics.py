"""Metrics of SPEC §5 on pooled LOSO predictions: UF1 (macro F1), UAR (macro recall), ACC.

The class set of a macro average is scikit-learn's default: the labels present in the truth or the
predictions (on the full benchmark every class is present in the truth). A class that is
predicted but absent from the truth counts with F1 = 0 and recall = 0 (``zero_division=0``), so
the numbers equal ``f1_score(y, p, average="macro")`` and ``recall_score(y, p, average="macro")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("uf1", "uar", "acc")


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """``{"uf1", "uar", "acc", "n"}`` for one pool of predictions."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score  # not at import: METRICS stays light
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        return {"uf1": float("nan"), "uar": float("nan"), "acc": float("nan"), "n": 0}
    return {
        "uf1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "uar": float(recall_score(y_true, y_pred, average="macro", zero_division=0)),
        "acc": float(accuracy_score(y_true, y_pred)),
        "n": int(len(y_true)),
    }


def grouped_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray,
                    group_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Metrics for the whole pool (``"composite"``) and for each named group (source dataset)."""
    out = {"composite": compute_metrics(y_true, y_pred)}
    for name in group_names:
        sel = groups == name
        if sel.any():
            out[name] = compute_metrics(y_true[sel], y_pred[sel])
    return out


def summarise_runs(per_run: list[dict[str, dict[str, float]]]) -> dict[str, dict]:
    """Combine per-run grouped metrics: one run is returned as is; several get ``mean``/``std``.

    With several runs each group is ``{"uf1", "uar", "acc"}`` (= the means), ``"n"``,
    ``"mean"``, ``"std"`` (population std over runs) and ``"runs"`` (each run's values).
    """
    if len(per_run) == 1:
        return per_run[0]
    out: dict[str, dict] = {}
    for group in per_run[0]:
        values = {m: np.array([r[group][m] for r in per_run]) for m in METRICS}
        mean = {m: float(v.mean()) for m, v in values.items()}
        out[group] = {**mean, "n": per_run[0][group]["n"], "mean": mean,
                      "std": {m: float(v.std()) for m, v in values.items()},
                      "runs": [{m: r[group][m] for m in METRICS} for r in per_run]}
    return out


def confusion(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Confusion matrix ``[num_classes, num_classes]``; rows are true classes."""
    from sklearn.metrics import confusion_matrix  # not at import: METRICS stays light
    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))
