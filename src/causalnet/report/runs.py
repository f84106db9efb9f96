"""Run folders as the report sees them: which kind, what files, and their predictions as arrays.

A folder's *kind* is what its ``config.json`` records (written by the run folder's owner,
:class:`causalnet.engine.FoldStore`); folders written before kinds were recorded are recognised from
their files. Every report section needs only its own inputs, so folders of kinds written by newer
commands still get every section whose files they hold:

- ``robustness`` — ``results.json`` (+ ``predictions.csv`` with ``model`` and ``condition`` columns), from
  ``causalnet robustness``;
- ``train`` — ``config.json`` with an ``experiment`` and a ``folds/`` folder, from ``causalnet train``;
- ``sweep`` — a ``candidates.*`` table (or a ``sweep`` entry in ``config.json``), from ``causalnet sweep``;
- ``released`` — protocol ``released`` in ``metrics.json`` or ``config.json`` (``causalnet convert``);
- ``predictions`` — anything else with a ``predictions.csv``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.engine.store import FoldStore
from causalnet.eval.predictions import read_predictions
from causalnet.io import read_json, restore_cell

KINDS = ("robustness", "train", "sweep", "released", "predictions")
PREDICTIONS = "predictions.csv"
#: Text columns of robustness predictions kept beside the standard ones.
EXTRA_COLUMNS = ("model", "condition", "onset", "apex", "offset")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A file-name part from any text (a dataset or model name): no separators, no leading dots."""
    return _SAFE.sub("_", str(text)).lstrip(".") or "x"


def dataset_order(names) -> list[str]:
    """Source datasets in the benchmark's order (CASME II, SMIC, SAMM), others after them; no blanks."""
    from causalnet.data.composite import DATASETS

    present = [n for n in dict.fromkeys(names) if n]
    return [d for d in DATASETS if d in present] + sorted(set(present) - set(DATASETS))


@dataclass
class Predictions:
    """Predictions as arrays (one row per clip, run and — for robustness — model and condition).

    ``probs [N, C]``; ``extra`` holds the text columns of :data:`EXTRA_COLUMNS` the file has.
    """

    run: np.ndarray
    subject: np.ndarray
    dataset: np.ndarray
    clip: np.ndarray
    label: np.ndarray
    pred: np.ndarray
    probs: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.label)

    @property
    def num_classes(self) -> int:
        return self.probs.shape[1] if self.probs.ndim == 2 and self.probs.shape[1] else int(
            max(self.label.max(initial=0), self.pred.max(initial=0)) + 1)

    def select(self, mask: np.ndarray) -> Predictions:
        return Predictions(self.run[mask], self.subject[mask], self.dataset[mask], self.clip[mask],
                           self.label[mask], self.pred[mask], self.probs[mask],
                           {k: v[mask] for k, v in self.extra.items()}, self.source)

    def where(self, filters: dict[str, str]) -> Predictions:
        """Rows whose text columns equal the given values (e.g. ``{"model": "htnet"}``)."""
        mask = np.ones(len(self), bool)
        for key, value in filters.items():
            column = self.extra.get(key)
            if column is None:
                raise ValueError(f"{self.source}: no column {key!r} to select on (columns: "
                                 f"{sorted(self.extra) or 'none besides the standard ones'})")
            if value not in set(column.tolist()):
                raise ValueError(f"{self.source}: {key}={value!r} not found; values: {sorted(set(column.tolist()))}")
            mask &= column == value
        return self.select(mask)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as :func:`causalnet.train.loso.read_predictions` returns them (for ``metrics_from_rows``)."""
        return [{"run": int(r), "subject": s, "dataset": d, "clip": c, "label": int(y), "pred": int(p),
                 "probs": list(q)} for r, s, d, c, y, p, q in zip(self.run, self.subject, self.dataset, self.clip,
                                                                     self.label, self.pred, self.probs, strict=True)]


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions CSV (``causalnet train``/``robustness``/``convert``/``sweep`` layouts)."""
    path = Path(path)
    rows = read_predictions(path)
    if not rows:
        raise ValueError(f"{path}: no predictions")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        present = [c for c in EXTRA_COLUMNS if c in (reader.fieldnames or [])]
        # restore_cell: a name the CSV writer guarded against spreadsheet formulas ('=x) reads as written (=x)
        extra_rows = [[restore_cell(r[c] or "") for c in present] for r in reader]
    extra = {c: np.array([r[i] for r in extra_rows], dtype=str) for i, c in enumerate(present)}
    return Predictions(
        run=np.array([r["run"] for r in rows], np.int64),
        subject=np.array([r["subject"] for r in rows], dtype=str),
        dataset=np.array([r["dataset"] for r in rows], dtype=str),
        clip=np.array([r["clip"] for r in rows], dtype=str),
        label=np.array([r["label"] for r in rows], np.int64),
        pred=np.array([r["pred"] for r in rows], np.int64),
        probs=np.array([r["probs"] for r in rows], np.float64).reshape(len(rows), -1),
        extra=extra, source=str(path))


@dataclass
class RunFolder:
    """A run folder: its kind, JSON files and what it holds."""

    path: Path
    kind: str
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    results: dict[str, Any] | None

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def has_folds(self) -> bool:
        return FoldStore(self.path).has_folds()

    @property
    def protocol(self) -> str:
        """The protocol of ``predictions.csv``/``metrics.json``."""
        if self.metrics and self.metrics.get("protocol"):
            return str(self.metrics["protocol"])
        exp = self.config.get("experiment") or {}
        return str(self.config.get("protocol") or exp.get("protocol") or "?")

    @property
    def data_root(self) -> Path | None:
        """The clip folder the run read (None when not recorded or no longer there)."""
        data = self.config.get("data")
        return Path(data) if data and Path(data).is_dir() else None

    def class_names(self, num_classes: int) -> list[str]:
        """Class names: stored in the run (robustness), read from its data folder, or ``class i``."""
        names = self.config.get("classes") or self.config.get("class_names")
        if not names and self.data_root is not None:
            from causalnet.data.composite import read_class_names

            names = list(read_class_names(self.data_root))
        if not names or len(names) != num_classes:
            from causalnet.data.composite import CLASS_NAMES

            names = list(CLASS_NAMES) if num_classes == len(CLASS_NAMES) else [f"class {i}" for i in range(num_classes)]
        return [str(n) for n in names]

    def candidate_tables(self) -> list[Path]:
        """Extra tables a sweep (or another command) left in the folder: ``candidates*`` / ``*.md`` / ``*.csv``."""
        known = {PREDICTIONS}
        files = [p for p in sorted(self.path.iterdir()) if p.is_file() and p.name not in known
                 and p.suffix in (".md", ".csv") and not p.name.startswith(".")]
        return files


def open_run(path: str | Path) -> RunFolder:
    """Detect the kind of a run folder (see the module docstring); a clear error when it is none."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: run folder not found")
    store = FoldStore(path)
    config = store.read_config() or {}
    metrics = read_json(path / "metrics.json") if (path / "metrics.json").is_file() else None
    results = read_json(path / "results.json") if (path / "results.json").is_file() else None
    if not isinstance(config, dict) or (metrics is not None and not isinstance(metrics, dict)):
        raise ValueError(f"{path}: config.json / metrics.json must hold JSON objects")
    protocol = (metrics or {}).get("protocol") or config.get("protocol") or (config.get("experiment") or {}).get(
        "protocol")
    recorded = config.get("kind")  # what the store wrote (FoldStore.write_config); older folders: their files
    if recorded in KINDS:
        kind = recorded
    elif results is not None and "metrics" in results:  # folders from before kinds were recorded
        kind = "robustness"
    elif any(path.glob("candidates*")) or "sweep" in config:
        kind = "sweep"
    elif protocol == "released":
        kind = "released"
    elif "experiment" in config and (path / "folds").is_dir():
        kind = "train"
    elif (path / PREDICTIONS).is_file():
        kind = "predictions"
    else:
        raise ValueError(f"{path}: not a run folder (no results.json, predictions.csv or folds/ found)")
    return RunFolder(path, kind, config, metrics, results)
