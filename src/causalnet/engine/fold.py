"""One fold of a leave-one-subject-out experiment: what it trains on (:class:`FoldJob`) and what it
leaves behind (:class:`FoldResult`). Every experiment (``causalnet train``, ``robustness``, ``sweep``)
describes its folds as jobs; :func:`run_fold` executes one anywhere (this process, a worker process,
a Ray task) and returns the result to the driver, which stores it (:mod:`causalnet.engine.store`).

A job carries everything its result depends on, so a fold's result does not depend on which folds
ran before it, on the process that runs it or on the backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from causalnet.eval.protocols import validation_scores
from causalnet.io import atomic_path

__all__ = ["FoldJob", "FoldKey", "FoldOutcome", "FoldResult", "run_fold"]

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


@dataclass
class FoldJob:
    """Everything one fold's training needs (picklable: it travels to worker processes and Ray tasks).

    Attributes:
        key: which fold.
        model_name, model_config, train: the registered model, its config and the training config.
        seed: the fold's seed; member ``k`` is initialised with ``seed + k``.
        x: input rows ``[R, ...]`` the fold uses (uint8 or float32, 0–255); y: their labels ``[R]``.
        train_sets: per member, rows to train on.
        eval_sets: per member, rows to predict after every epoch: the ``n_test`` test rows first, then
            the member's validation rows; ``[n]`` or ``[n, A]`` (average over ``A`` inputs per row).
        n_test: number of test rows (the first ``n_test`` of every eval set are the same rows).
        test_clips: clip id of each test row.
        variants: optional ``[R, V]`` alternative inputs per row (:func:`causalnet.train.loop.fit`).
        domains: optional source-dataset index ``[R]`` of every row (``train.adversary`` needs it).
        extras: per-test-row arrays copied into the result.
        num_classes: output classes.
        features: also return member 0's pre-head features of the test rows (final epoch).
        val_probs: also return each member's per-epoch validation predictions (``FoldResult.val_probs``).
        checkpoint: also return member 0's final weights as checkpoint bytes.
        checkpoint_extra: facts stored in that checkpoint's metadata.
        device: ``auto|cpu|cuda|cuda:N``, resolved where the job runs.
        threads: torch threads for the job (0: leave as is).
    """

    key: FoldKey
    model_name: str
    model_config: Any
    train: Any
    seed: int
    x: np.ndarray
    y: np.ndarray
    train_sets: list[np.ndarray]
    eval_sets: list[np.ndarray]
    n_test: int
    test_clips: np.ndarray
    num_classes: int
    variants: np.ndarray | None = None
    domains: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    features: bool = False
    val_probs: bool = False
    checkpoint: bool = False
    checkpoint_extra: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    threads: int = 0

    @property
    def epochs(self) -> int:
        return self.train.epochs


@dataclass
class FoldOutcome:
    """A finished job as it comes back to the driver: the result, optional checkpoint bytes, timings."""

    key: FoldKey
    result: FoldResult
    checkpoint: bytes | None = None
    seconds: float = 0.0
    device: str = "cpu"
    worker: str = ""


def _test_rows(eval_set: np.ndarray, n_test: int) -> np.ndarray:
    rows = np.asarray(eval_set)[:n_test]
    return rows if rows.ndim == 1 else rows[:, 0]


def run_fold(job: FoldJob, on_epoch: Callable[[int], None] | None = None) -> FoldOutcome:
    """Train one fold's members and return its :class:`FoldOutcome` (nothing is written here)."""
    import os
    import socket

    from causalnet.engine.device import resolve_device
    from causalnet.models.registry import create_model
    from causalnet.train.loop import fit

    start = time.perf_counter()
    if job.threads:
        torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    models = []
    for k in range(len(job.train_sets)):
        torch.manual_seed(job.seed + k)
        models.append(create_model(job.model_name, job.model_config))
    if getattr(job.train, "init", ""):  # fine-tuning a pretrained checkpoint
        from causalnet.train.pretrain import init_members

        init_members(models, job.train.init, job.model_name, job.model_config)
    history = fit(models, job.x, job.y, job.train_sets, job.train, seed=job.seed, num_classes=job.num_classes,
                  eval_sets=job.eval_sets, device=device, on_epoch=on_epoch, variants=job.variants,
                  domains=job.domains)
    if getattr(job.train, "stack", "none") == "linear":  # mixed with a linear model fitted on training subjects
        from causalnet.train.stacking import stack_fold

        history, _ = stack_fold(history, job.x, job.y, job.train_sets, job.eval_sets, job.n_test, job.num_classes,
                                job.variants, seed=job.seed)
    members, epochs, n = len(models), job.epochs, job.n_test
    probs = np.zeros((members, epochs, n, job.num_classes), np.float32)
    val_uf1 = np.full((members, epochs), np.nan, np.float32)
    val_nll = np.full((members, epochs), np.nan, np.float32)
    for k, (hist, rows) in enumerate(zip(history, job.eval_sets, strict=True)):
        probs[k] = hist[:, :n]
        if len(rows) > n:
            val_rows = _test_rows(rows[n:], len(rows) - n)
            val_uf1[k], val_nll[k] = validation_scores(hist[:, n:], job.y[val_rows])
    test_rows = _test_rows(job.eval_sets[0], n)
    features = _features(models[0], job.x[test_rows], device) if job.features else None
    result = FoldResult(probs, np.asarray(job.test_clips, dtype=str), job.y[test_rows], val_uf1, val_nll,
                        features, dict(job.extras))
    if job.val_probs:
        result.val_probs, result.val_rows = _validation_predictions(history, job.eval_sets, n)
    blob = None
    if job.checkpoint:
        from causalnet.models.checkpoint import checkpoint_bytes

        blob = checkpoint_bytes(models[0], extra={"seed": job.seed, "member": 0, **job.checkpoint_extra})
    return FoldOutcome(job.key, result, blob, time.perf_counter() - start, str(device),
                       f"{socket.gethostname()}:{os.getpid()}")


def _validation_predictions(history: list[np.ndarray], eval_sets: list[np.ndarray],
                            n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Members' validation predictions ``[members, epochs, V, C]`` (NaN-padded) and rows ``[members, V]`` (-1)."""
    sizes = [len(rows) - n_test for rows in eval_sets]
    width = max(sizes)
    members, epochs, classes = len(history), history[0].shape[0], history[0].shape[2]
    probs = np.full((members, epochs, width, classes), np.nan, np.float32)
    rows = np.full((members, width), -1, np.int64)
    for k, (hist, size) in enumerate(zip(history, sizes, strict=True)):
        probs[k, :, :size] = hist[:, n_test:]
        rows[k, :size] = _test_rows(eval_sets[k][n_test:], size)
    return probs, rows


@torch.no_grad()
def _features(model: torch.nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Pre-head features ``[n, F]`` of ``model`` (``forward_features``) for inputs ``x``."""
    if not hasattr(model, "forward_features"):
        raise ValueError(f"{type(model).__name__} has no forward_features(); cannot save features")
    model.eval().to(device)
    feats = model.forward_features(torch.from_numpy(np.ascontiguousarray(x)).to(device).float())
    model.cpu()
    return feats.float().cpu().numpy()
