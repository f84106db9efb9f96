"""Leave-one-subject-out (LOSO) runs on a :class:`~causalnet.data.ClipSet`: resumable, per-fold
deterministic, atomically written, on any backend and device (:mod:`causalnet.engine`).

Layout of a run folder::

    config.json              everything needed to repeat the run
    folds/run<r>/<subject>.npz   one FoldResult per fold (per-member, per-epoch test probabilities)
    checkpoints/run<r>/<subject>.safetensors   optional final weights of a fold (--checkpoints)
    predictions.csv          run, subject, dataset, clip, label, pred, p0..p{C-1} (chosen protocol)
    metrics.json             {"protocol", "composite": {uf1, uar, acc, n}, "casme2": ..., ...}
    run.log                  one line per finished fold

A fold's seed depends only on the base seed, the run index and the subject id, so a fold's result
does not depend on which folds ran before it, and a run killed and restarted (finished folds are
skipped) ends with the same predictions as an uninterrupted one. The epoch-selection protocol is
applied afterwards, so it is not part of what a run folder's folds depend on.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from causalnet import __version__
from causalnet.data.composite import ClipSet
from causalnet.engine import Backend, FoldKey, FoldStore, LocalBackend, run_folds
from causalnet.eval.predictions import fold_rows, metrics_from_rows, write_predictions
from causalnet.io import write_json_atomic
from causalnet.train.config import ExperimentConfig, TrainConfig
from causalnet.train.fold import FoldJob, run_fold
from causalnet.train.inputs import compact_inputs, dataset_codes, with_mirror_images
from causalnet.train.runconfig import write_run_config
from causalnet.train.simtoreal import resolve_experiment

__all__ = ["LosoRun", "adapt_to_subjects", "fold_seed", "member_splits"]

log = logging.getLogger(__name__)


def fold_seed(seed: int, run: int, subject: str) -> int:
    """Seed of one fold, from the base seed, the run index and the subject id only."""
    return (seed * 1_000_003 + run * 7919 + zlib.crc32(subject.encode())) % (2**31 - 1)


def member_splits(train_subjects: list[str], members: int, validation: bool, seed: int) -> list[list[str]]:
    """Validation subjects of each member: disjoint groups of the training subjects, or none.

    With ``validation`` the training subjects are shuffled (seeded) and split into ``members`` groups
    (a subject-wise K-fold inside the training set); member ``k`` holds out group ``k``.
    """
    if not validation:
        return [[] for _ in range(members)]
    if members < 2:
        raise ValueError("member validation needs members >= 2 (a subject-wise K-fold of the training set)")
    if len(train_subjects) < members:
        raise ValueError(f"member validation with {members} members needs at least {members} training subjects, "
                         f"got {len(train_subjects)}")
    order = np.random.default_rng(seed).permutation(len(train_subjects))
    return [[train_subjects[i] for i in part] for part in np.array_split(order, members)]


def adapt_to_subjects(cfg: ExperimentConfig, n_subjects: int,
                      where: str = "data") -> tuple[ExperimentConfig, list[str]]:
    """Check, before any training, that ``cfg`` can run leave-one-subject-out on ``n_subjects`` subjects,
    and adapt it where the training subjects are too few for member validation.

    Every LOSO fold trains on ``n_subjects - 1`` subjects. Member validation needs each of the
    ``members`` members to hold out at least one of them and train on the rest, so:

    - fewer training subjects than members (but at least 2): ``members`` becomes the number of
      training subjects (each member holds out one subject);
    - a single training subject: member validation is switched off, and the ``val`` protocol becomes
      ``fixed`` (the final epoch; still honest);
    - fewer than 2 subjects: an error (there is nothing to leave out).

    Returns the (possibly) adapted config and one note per change, for the user to read.
    """
    if n_subjects < 2:
        raise ValueError(f"{where}: leave-one-subject-out needs clips of at least 2 subjects, got {n_subjects}")
    train = cfg.train
    n_train = n_subjects - 1
    notes: list[str] = []
    if train.member_validation and n_train < train.members:
        if n_train >= 2:
            notes.append(f"only {n_train} training subjects per fold: {n_train} ensemble members instead of "
                         f"{train.members}, each validated on one held-out training subject")
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(train, members=n_train))
        else:
            notes.append("a single training subject per fold: no member validation is possible; members are "
                         "trained on it without held-out subjects"
                         + ("; protocol 'val' becomes 'fixed' (final epoch, honest)" if cfg.protocol == "val" else ""))
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(train, member_validation=False),
                                      protocol="fixed" if cfg.protocol == "val" else cfg.protocol)
    for note in notes:
        log.warning("%s: %s", where, note)
    return cfg, notes


class LosoRun:
    """A LOSO experiment bound to a run folder. See the module docstring for the layout.

    Args:
        out_dir: the run folder.
        clips: every clip (training always uses every subject but the test subject).
        cfg: the experiment; adapted when the subjects are too few for member validation
            (:func:`adapt_to_subjects`; the changes are in :attr:`notes`).
        runs: repetitions with run indexes ``0..runs-1`` (seeds derived from the run index).
        subjects: the test subjects (default: all).
        checkpoints: also store each fold's final weights (member 0).
        features: also store each fold's pre-head features of its test clips (member 0, final epoch).
        val_probs: also store each member's per-epoch predictions of its validation clips
            (``FoldResult.val_probs``; what inner validation of post-hoc methods such as stacking needs).
    """

    def __init__(self, out_dir: str | Path, clips: ClipSet, cfg: ExperimentConfig, runs: int = 1,
                 subjects: list[str] | None = None, checkpoints: bool = False, features: bool = False,
                 val_probs: bool = False) -> None:
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        self.out = Path(out_dir)
        known = clips.subject_list()
        self.cfg, self.notes = adapt_to_subjects(cfg, len(known), str(clips.root))
        self.clips, self.runs, self.checkpoints, self.features = clips, runs, checkpoints, features
        self.val_probs = val_probs
        unknown = [s for s in subjects or [] if s not in known]
        if unknown:
            raise ValueError(f"{clips.root}: subject(s) {unknown} have no clips")
        self.subjects = list(dict.fromkeys(subjects)) if subjects else known
        self.store = FoldStore(self.out)
        self._inputs_cache: dict[tuple[bool, bool], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        self._datasets: dict[tuple[str, str], str] | None = None
        self._job_train: TrainConfig | None = None

    def share_inputs(self, cache: dict) -> None:
        """Use ``cache`` for the input rows, so that runs on the same clips (a sweep's candidates) share
        one copy (one object-store entry with Ray)."""
        self._inputs_cache = cache

    # -- folds ---------------------------------------------------------------------------------
    def keys(self) -> list[FoldKey]:
        """Every fold of the run: runs in order, subjects in fold order."""
        return [FoldKey("", r, s) for r in range(self.runs) for s in self.subjects]

    def fold_path(self, run: int, subject: str) -> Path:
        return self.store.path(FoldKey("", run, subject))

    def checkpoint_path(self, run: int, subject: str) -> Path:
        return self.store.checkpoint_path(FoldKey("", run, subject))

    def pending(self) -> list[tuple[int, str]]:
        """(run, subject) folds without a sound result file."""
        return [(k.run, k.subject) for k in self.store.pending(self.keys())]

    def inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Input rows, labels and the mirror variant table (None without mirroring), computed once.

        With ``train.input_norm = "subject"`` the rows are centred per subject here (transductive,
        label-free: the same for every fold); ``"dataset"`` centring depends on the fold (:meth:`make_job`).
        """
        tcfg = self.cfg.train
        subject_norm = tcfg.input_norm == "subject"
        key = (tcfg.mirror, tcfg.mirror_tta) + (("subject",) if subject_norm else ())
        if key not in self._inputs_cache:
            if tcfg.mirror or tcfg.mirror_tta:
                x, y, table = with_mirror_images(self.clips)
            else:
                x, y, table = self.clips.x, self.clips.y, None
            x = self.centred(x, self.clips.subjects) if subject_norm else compact_inputs(x)
            self._inputs_cache[key] = (x, y, table if tcfg.mirror else None)
        return self._inputs_cache[key]

    def centred(self, x: np.ndarray, keys: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
        """Input rows ``x`` (the clips, then their mirror images if any) centred per group of ``keys``
        (one entry per clip; a mirror image is in a group of its own), means taken from the clips in
        ``fit`` (default all) (:func:`causalnet.data.normalise.center_groups`)."""
        from causalnet.data.normalise import center_groups

        n = len(self.clips)
        copies = len(x) // n
        groups = np.char.add(np.tile(np.asarray(keys, dtype=str), copies), np.repeat(
            np.array([f"#{c}" for c in range(copies)]), n))
        return center_groups(x, groups, None if fit is None else np.tile(fit, copies))

    def make_job(self, key: FoldKey) -> FoldJob:
        """The fold's job: train on every subject but ``key.subject``, members validated on their own
        held-out training subjects when ``train.member_validation``."""
        clips, tcfg = self.clips, self.cfg.train
        seed = fold_seed(tcfg.seed, key.run, key.subject)
        test = clips.subjects == key.subject
        if not test.any():
            raise ValueError(f"{clips.root}: subject {key.subject!r} has no clips")
        train_subjects = [s for s in clips.subject_list() if s != key.subject]
        splits = member_splits(train_subjects, tcfg.members, tcfg.member_validation, seed)
        test_idx = np.flatnonzero(test)
        x, y, variants = self.inputs()
        if tcfg.input_norm == "dataset":  # means from the training subjects only
            x = self.centred(x, clips.datasets, ~test)
        eval_sets, train_sets = [], []
        for held_out in splits:
            held = np.isin(clips.subjects, held_out)
            train_sets.append(np.flatnonzero(~test & ~held))
            rows = np.concatenate([test_idx, np.flatnonzero(held)])
            eval_sets.append(np.stack([rows, rows + len(clips)], axis=1) if tcfg.mirror_tta else rows)
        return FoldJob(key=key, model_name=self.cfg.model_name, model_config=self.cfg.model, train=self.job_train(),
                       seed=seed,
                       x=x, y=y, train_sets=train_sets, eval_sets=eval_sets, n_test=len(test_idx),
                       test_clips=clips.clips[test_idx], num_classes=clips.num_classes, variants=variants,
                       domains=dataset_codes(clips, len(x)) if tcfg.adversary > 0 else None,
                       features=self.features, val_probs=self.val_probs, checkpoint=self.checkpoints,
                       checkpoint_extra={"test_subject": key.subject, "run": key.run})

    def job_train(self, progress: bool = False) -> TrainConfig:
        """The training config the fold jobs carry: ``train.init`` resolved once, here in the driver, to a
        checkpoint path that has been opened and validated (``synthetic`` builds the sim-to-real checkpoint
        first if the cache lacks it), so workers receive a path (:func:`resolve_experiment`)."""
        if self._job_train is None:
            self._job_train = resolve_experiment(self.cfg, progress).train
        return self._job_train

    # -- running ---------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """What config.json holds (its kind is written by the store)."""
        return {"causalnet_version": __version__, "experiment": self.cfg.to_dict(),
                "data": str(self.clips.root), "runs": self.runs,
                "subjects": self.subjects if self.subjects != self.clips.subject_list() else None,
                "notes": self.notes, "data_fingerprint": self.clips.fingerprint()}

    def write_config(self) -> None:
        """Write config.json, refusing (and naming the field) to mix a different experiment into the folder.

        The protocol and the number of runs may change between invocations: folds do not depend on them.
        """
        write_run_config(self.store, "train", self.record(), "run folder holds a different experiment")

    def train(self, progress: bool = False, workers: int = 1, backend: Backend | None = None,
              device: str = "cpu") -> int:
        """Train every pending fold (no metrics: used alone, no test score is computed); returns the count.

        ``backend`` defaults to a :class:`~causalnet.engine.LocalBackend` with ``workers`` processes.
        """
        self.write_config()
        if self.pending():  # train.init resolved (a sim-to-real checkpoint built) here, before the folds
            self.job_train(progress)
        return run_folds(self.store, self.keys(), self.make_job, run_fold, backend=backend or LocalBackend(workers),
                         device=device, progress=progress, desc="LOSO")

    def run(self, progress: bool = False, workers: int = 1, backend: Backend | None = None,
            device: str = "cpu") -> dict[str, Any]:
        """Train every pending fold, then write predictions.csv and metrics.json; returns the metrics."""
        self.train(progress, workers, backend, device)
        return self.finalise()

    # -- results ---------------------------------------------------------------------------------
    def finalise(self, protocol: str | None = None) -> dict[str, Any]:
        """Pool finished folds into predictions.csv and metrics.json under ``protocol``."""
        protocol = protocol or self.cfg.protocol
        missing = self.pending()
        if missing:
            raise ValueError(f"{self.out}: {len(missing)} fold(s) unfinished, e.g. run {missing[0][0]} "
                             f"subject {missing[0][1]}; rerun the same command to finish them")
        rows = self.prediction_rows(protocol)
        write_predictions(self.out / "predictions.csv", rows, self.clips.num_classes)
        metrics = metrics_from_rows(rows, protocol)
        write_json_atomic(self.out / "metrics.json", metrics)
        return metrics

    def prediction_rows(self, protocol: str) -> list[dict[str, Any]]:
        """One row per test clip per run, with the predictions of the protocol's epoch."""
        return [row for key in self.keys() for row in self.fold_rows(key, protocol)]

    def fold_rows(self, key: FoldKey, protocol: str) -> list[dict[str, Any]]:
        """The prediction rows of one fold under ``protocol``."""
        if self._datasets is None:
            self._datasets = {(s, c): d for s, c, d in zip(self.clips.subjects.tolist(), self.clips.clips.tolist(),
                                                           self.clips.datasets.tolist(), strict=True)}
        return fold_rows(self.store.load(key), protocol, key.run, key.subject, self._datasets)
