"""What a ``causalnet train`` run folder's fold files tell beyond ``predictions.csv``.

Every fold file keeps the per-member, per-epoch test probabilities and validation scores
(:class:`causalnet.engine.FoldResult`), so the report recomputes each protocol's predictions with
the protocols' own selection code (:func:`causalnet.eval.predictions.fold_rows`), draws learning
curves, marks the epochs each protocol picked, and reads the optional ``features`` ``[n_test, F]``
(pre-head features of member 0 at the final epoch, written by ``causalnet train --save-features``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.engine import FoldKey, FoldResult, FoldStore
from causalnet.eval.predictions import fold_rows, metrics_from_rows
from causalnet.eval.protocols import PROTOCOLS, select_epoch, validation_epoch
from causalnet.report.stats import confusion_metrics

log = logging.getLogger(__name__)

#: Order of the protocol rows in a report: honest ones first, the oracle last.
PROTOCOL_ORDER = ("val", "fixed", "oracle")
HONEST = ("fixed", "val")


@dataclass
class Folds:
    """Every finished fold of a run folder: ``folds[(run, subject)]`` and ``features`` where stored."""

    folds: dict[tuple[int, str], FoldResult]
    features: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)
    datasets: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def runs(self) -> list[int]:
        return sorted({r for r, _ in self.folds})

    def subjects(self, run: int) -> list[str]:
        return [s for r, s in self.folds if r == run]

    @property
    def epochs(self) -> int:
        return next(iter(self.folds.values())).probs.shape[1]

    @property
    def has_validation(self) -> bool:
        return all(not np.isnan(f.val_uf1).all() for f in self.folds.values())

    def protocols(self) -> list[str]:
        """Protocols these folds support, in report order (``val`` needs member validation scores)."""
        return [p for p in PROTOCOL_ORDER if p in PROTOCOLS and (p != "val" or self.has_validation)]


def load_folds(run_dir: str | Path, keys: list[tuple[int, str]] | None = None,
               datasets: dict[tuple[str, str], str] | None = None) -> Folds:
    """Load ``folds/run<r>/<subject>.npz`` (all of them, or the listed ``(run, subject)`` keys)."""
    store = FoldStore(run_dir)
    if keys is None:
        keys = [(k.run, k.subject) for k in store.stored_keys("")]
    folds, features = {}, {}
    for run, subject in keys:
        path = store.path(FoldKey("", run, subject))
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold file missing (the run is unfinished?)")
        fold = folds[(run, subject)] = FoldResult.load(path)
        if fold.features is not None:
            features[(run, subject)] = fold.features
    if not folds:
        raise ValueError(f"{Path(run_dir) / 'folds'}: no fold files")
    return Folds(folds, features, datasets or {})


def complete_runs(folds: Folds) -> tuple[Folds, list[int]]:
    """Only the runs whose fold files cover every subject seen in any run, and the runs left out."""
    subjects = {s for _, s in folds.folds}
    keep = [r for r in folds.runs if set(folds.subjects(r)) == subjects]
    if not keep:  # no run complete yet: the run with the most folds
        keep = [max(folds.runs, key=lambda r: len(folds.subjects(r)))]
    dropped = [r for r in folds.runs if r not in keep]
    sel = lambda d: {k: v for k, v in d.items() if k[0] in keep}
    return Folds(sel(folds.folds), sel(folds.features), folds.datasets), dropped


def protocol_rows(folds: Folds, protocol: str) -> list[dict[str, Any]]:
    """Prediction rows (as ``predictions.csv``) of every fold under ``protocol``."""
    return [row for (run, subject), fold in folds.folds.items()
            for row in fold_rows(fold, protocol, run, subject, folds.datasets)]


def protocol_metrics(folds: Folds) -> dict[str, dict[str, Any]]:
    """``metrics.json``-style metrics of every supported protocol."""
    return {p: metrics_from_rows(protocol_rows(folds, p), p) for p in folds.protocols()}


def chosen_epochs(folds: Folds, protocol: str) -> np.ndarray:
    """0-based epochs the protocol picks: one per fold (``fixed``, ``oracle``) or per fold and member (``val``)."""
    out = []
    for fold in folds.folds.values():
        if protocol == "val":
            out += [validation_epoch(u, n) for u, n in zip(fold.val_uf1, fold.val_nll, strict=True)]
        else:
            out.append(select_epoch(fold.probs.mean(axis=0), fold.labels, protocol))
    return np.array(out, np.int64)


def learning_curves(folds: Folds, num_classes: int) -> dict[str, np.ndarray]:
    """Per run and epoch: the members' mean validation UF1 (NaN without validation) and the pooled
    test UF1 of the ensemble (every fold's test clips pooled, as the metrics are).

    Returns ``{"val_uf1": [runs, epochs], "test_uf1": [runs, epochs]}``.
    """
    runs, epochs = folds.runs, folds.epochs
    val = np.full((len(runs), epochs), np.nan)
    test = np.zeros((len(runs), epochs))
    for i, run in enumerate(runs):
        fs = [folds.folds[(run, s)] for s in folds.subjects(run)]
        v = np.concatenate([f.val_uf1 for f in fs])  # [folds * members, epochs]
        if not np.isnan(v).all():
            val[i] = np.nanmean(v, axis=0)
        conf = np.zeros((epochs, num_classes, num_classes), np.int64)
        ep = np.arange(epochs)[:, None]
        for f in fs:
            pred = f.probs.mean(axis=0).argmax(-1)  # [epochs, n]
            np.add.at(conf, (np.broadcast_to(ep, pred.shape), np.broadcast_to(f.labels, pred.shape), pred), 1)
        test[i] = confusion_metrics(conf)["uf1"]
    return {"val_uf1": val, "test_uf1": test}


def run_features(folds: Folds, run: int) -> tuple[np.ndarray, list[tuple[str, str]]] | None:
    """Features ``[n, F]`` of one run's test clips and their (subject, clip) keys, if every fold stored them."""
    keys = [(run, s) for s in folds.subjects(run)]
    if not keys or any(k not in folds.features for k in keys):
        return None
    feats, clips = [], []
    for k in keys:
        fold = folds.folds[k]
        f = folds.features[k]
        if len(f) != len(fold.clips):
            raise ValueError(f"fold run{k[0]}/{k[1]}: {len(f)} feature rows for {len(fold.clips)} test clips")
        feats.append(f)
        clips += [(k[1], c) for c in fold.clips.tolist()]
    return np.concatenate(feats).astype(np.float32), clips
