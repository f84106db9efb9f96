"""One fold of a leave-one-subject-out experiment as a job for the engine: what it trains on
(:class:`FoldJob`) and how it trains (:func:`run_fold`).

Every experiment (``causalnet train``, ``robustness``, ``sweep``) describes its folds as
:class:`FoldJob` objects and hands :func:`run_fold` to the engine (:func:`causalnet.engine.run_folds`),
which runs it on a backend and stores the :class:`~causalnet.engine.FoldOutcome` it returns. A job
carries everything its result depends on; its ``train.init`` is already a checkpoint path (resolved
once in the driver), and its device is already resolved for a local run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from causalnet.config import PresetMixin
from causalnet.device import resolve_device
from causalnet.engine.result import FoldKey, FoldOutcome, FoldResult
from causalnet.eval.protocols import validation_scores
from causalnet.models.checkpoint import checkpoint_bytes
from causalnet.models.registry import create_model
from causalnet.train.config import TrainConfig
from causalnet.train.loop import fit
from causalnet.train.pretrain import init_members
from causalnet.train.stacking import stack_fold

__all__ = ["FoldJob", "run_fold"]

log = logging.getLogger(__name__)


@dataclass
class FoldJob:
    """Everything one fold's training needs (picklable: it travels to worker processes and Ray tasks).

    Attributes:
        key: which fold.
        model_name, model_config, train: the registered model, its config and the training config
            (``train.init`` is a checkpoint path or ``""``, never ``"synthetic"``: the driver resolves it).
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
        device: set by the engine: a concrete device (``cpu``, ``cuda:0``) for a local run, the
            ``--device`` spec for a cluster task (resolved where the task runs).
        threads: set by the engine: torch threads for the job (0: leave as is).
    """

    key: FoldKey
    model_name: str
    model_config: PresetMixin
    train: TrainConfig
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


def _test_rows(eval_set: np.ndarray, n_test: int) -> np.ndarray:
    rows = np.asarray(eval_set)[:n_test]
    return rows if rows.ndim == 1 else rows[:, 0]


def run_fold(job: FoldJob, on_epoch: Callable[[int], None] | None = None) -> FoldOutcome:
    """Train one fold's members and return its :class:`~causalnet.engine.FoldOutcome` (nothing is written here)."""
    start = time.perf_counter()
    if job.threads:
        torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    models = []
    for k in range(len(job.train_sets)):
        torch.manual_seed(job.seed + k)
        models.append(create_model(job.model_name, job.model_config))
    if job.train.init:  # fine-tuning a pretrained checkpoint
        init_members(models, job.train.init, job.model_name, job.model_config)
    history = fit(models, job.x, job.y, job.train_sets, job.train, seed=job.seed, num_classes=job.num_classes,
                  eval_sets=job.eval_sets, device=device, on_epoch=on_epoch, variants=job.variants,
                  domains=job.domains)
    if job.train.stack == "linear":  # mixed with a linear model fitted on training subjects
        history, _ = stack_fold(history, job.x, job.y, job.train_sets, job.eval_sets, job.n_test, job.num_classes,
                                job.variants, seed=job.seed)
    result = _result(job, models, history, device)
    blob = None
    if job.checkpoint:
        blob = checkpoint_bytes(models[0], extra={"seed": job.seed, "member": 0, **job.checkpoint_extra})
    return FoldOutcome(job.key, result, blob, time.perf_counter() - start, str(device),
                       f"{socket.gethostname()}:{os.getpid()}")


def _result(job: FoldJob, models: list[torch.nn.Module], history: list[np.ndarray],
            device: torch.device) -> FoldResult:
    """The fold's :class:`FoldResult` from its members' per-epoch predictions ``history``."""
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
    return result


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
