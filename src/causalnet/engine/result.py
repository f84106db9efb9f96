"""What the engine moves around: which fold (:class:`FoldKey`), what a finished fold leaves behind
(:class:`FoldResult`, :class:`FoldOutcome`) and what any job must offer (:class:`Job`).

The engine does not know how a fold trains: an experiment describes each fold as a job (a picklable
object carrying everything its result depends on) and hands the engine the function that runs one
(e.g. :func:`causalnet.train.fold.run_fold`). That function runs anywhere (this process, a worker
process, a Ray task) and returns a :class:`FoldOutcome` to the driver, which stores it
(:mod:`causalnet.engine.store`). So a fold's result does not depend on which folds ran before it, on
the process that runs it or on the backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from causalnet.io import atomic_path

__all__ = ["FoldKey", "FoldOutcome", "FoldResult", "Job", "RunJob"]

log = logging.getLogger(__name__)

#: Arrays every fold file holds (see :class:`FoldResult`).
RESULT_KEYS = ("probs", "clips", "labels", "val_uf1", "val_nll")
#: Optional arrays; every other array in a fold file is an experiment's extra (see ``FoldResult.extras``).
OPTIONAL_KEYS = ("features", "val_probs", "val_rows")


@dataclass(frozen=True, order=True)
class FoldKey:
    """Which fold: an experiment-defined ``group`` ("" for a plain LOSO run; a model or candidate label
    otherwise), the run index and the test subject."""

    group: str
    run: int
    subject: str

    def __str__(self) -> str:
        return f"{self.group + '/' if self.group else ''}run{self.run}/{self.subject}"


@dataclass
class FoldResult:
    """What one fold leaves behind; every epoch-selection protocol is applied to it afterwards.

    Attributes:
        probs: test probabilities ``[members, epochs, n_test, C]`` (float32).
        clips, labels: the test rows' clip ids (text) and labels ``[n_test]``.
        val_uf1, val_nll: per member and epoch, UF1 and mean negative log-likelihood on the member's
            validation subjects (training subjects held out); NaN without member validation.
        features: optional pre-head features ``[n_test, F]`` of member 0 at the final epoch.
        val_probs, val_rows: optional validation predictions ``[members, epochs, V, C]`` of each member on its
            own validation rows ``[members, V]`` (row indexes into the job's inputs; members with fewer
            rows are padded with NaN probabilities and row -1): what post-hoc methods fitted on training
            subjects (e.g. stacking) learn from.
        extras: experiment-specific arrays with one entry per test row (e.g. the robustness
            experiment's test condition and ensemble index of each row).
    """

    probs: np.ndarray
    clips: np.ndarray
    labels: np.ndarray
    val_uf1: np.ndarray
    val_nll: np.ndarray
    features: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    val_probs: np.ndarray | None = None
    val_rows: np.ndarray | None = None

    def check(self) -> None:
        """Raise ``ValueError`` unless the arrays are mutually consistent (a fold file's integrity check)."""
        m, e, n, _ = self.probs.shape
        if len(self.clips) != n or len(self.labels) != n:
            raise ValueError(f"{n} test rows but {len(self.clips)} clip ids and {len(self.labels)} labels")
        if self.val_uf1.shape != (m, e) or self.val_nll.shape != (m, e):
            raise ValueError(f"validation scores {self.val_uf1.shape} do not match {m} members x {e} epochs")
        if not np.isfinite(self.probs).all():
            raise ValueError("non-finite probabilities")
        if self.features is not None and len(self.features) != n:
            raise ValueError(f"{len(self.features)} feature rows for {n} test rows")
        if (self.val_probs is None) != (self.val_rows is None):
            raise ValueError("val_probs and val_rows come together")
        if self.val_probs is not None and (self.val_probs.shape[:2] != (m, e) or self.val_rows.ndim != 2
                                           or self.val_probs.shape[2] != self.val_rows.shape[1]
                                           or self.val_rows.shape[0] != m):
            raise ValueError(f"validation predictions {self.val_probs.shape} / rows {self.val_rows.shape} do not "
                             f"match {m} members x {e} epochs")
        for name, arr in self.extras.items():
            if name in RESULT_KEYS or name in OPTIONAL_KEYS:
                raise ValueError(f"extra array name {name!r} is reserved")
            if len(arr) != n:
                raise ValueError(f"extra array {name!r} has {len(arr)} rows for {n} test rows")

    def save(self, path: str | Path) -> None:
        """Write the fold file atomically (``.npz``, no pickled objects)."""
        self.check()
        arrays = {"probs": self.probs, "clips": np.asarray(self.clips, dtype=str), "labels": self.labels,
                  "val_uf1": self.val_uf1, "val_nll": self.val_nll}
        if self.features is not None:
            arrays["features"] = self.features
        if self.val_probs is not None:
            arrays |= {"val_probs": self.val_probs, "val_rows": self.val_rows}
        arrays |= self.extras
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> FoldResult:
        """Read and check a fold file; any damage (truncation, missing arrays, inconsistent shapes) is a
        ``ValueError`` naming the file."""
        try:
            with np.load(path, allow_pickle=False) as z:
                names = set(z.files)
                optional = {k: z[k] if k in names else None for k in OPTIONAL_KEYS}
                result = cls(*(z[k] for k in RESULT_KEYS), **optional,
                             extras={k: z[k] for k in sorted(names - {*RESULT_KEYS, *OPTIONAL_KEYS})})
            result.check()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: fold result not found") from None
        except Exception as exc:  # zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError, ...
            raise ValueError(f"{path}: damaged fold result ({type(exc).__name__}: {exc})") from None
        return result


class Job(Protocol):
    """What the engine needs of a fold job (any dataclass with these fields; the rest is the experiment's).

    ``device`` and ``threads`` are set by the engine before the job is submitted
    (:func:`causalnet.engine.runner.run_folds`); ``epochs`` sizes the progress bar.
    """

    key: FoldKey
    device: str
    threads: int

    @property
    def epochs(self) -> int: ...


@dataclass
class FoldOutcome:
    """A finished job as it comes back to the driver: the result, optional checkpoint bytes, timings."""

    key: FoldKey
    result: FoldResult
    checkpoint: bytes | None = None
    seconds: float = 0.0
    device: str = "cpu"
    worker: str = ""


#: the function that runs one job where it is sent: ``run_job(job, on_epoch) -> FoldOutcome`` (module-level,
#: so that it pickles to worker processes and Ray tasks).
RunJob = Callable[..., FoldOutcome]
