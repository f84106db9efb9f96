"""Leave-one-subject-out (LOSO) runs: resumable, per-fold deterministic, atomically written.

Layout of a run folder::

    config.json              everything needed to repeat the run
    folds/run<r>/<subject>.npz   per-epoch test probabilities of one fold (written when it ends)
    checkpoints/run<r>/<subject>.safetensors   optional final weights of a fold
    predictions.csv          run, subject, dataset, clip, label, pred, p0..p{C-1} (chosen protocol)
    metrics.json             {"protocol", "composite": {uf1, uar, acc, n}, "casme2": ..., ...}

A fold's seed depends only on the base seed, the run index and the subject id, so a fold's result
does not depend on which folds ran before it, and a run killed and restarted (finished folds are
skipped) ends with the same predictions as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing as mp
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from causalnet import __version__
from causalnet.data.composite import DATASETS, ClipSet
from causalnet.eval.metrics import grouped_metrics, summarise_runs
from causalnet.io import atomic_path, read_json, write_json_atomic, write_text_atomic
from causalnet.models.registry import create_model
from causalnet.train.config import ExperimentConfig
from causalnet.train.loop import fit, fit_members
from causalnet.train.protocols import select_probs

log = logging.getLogger(__name__)


def fold_seed(seed: int, run: int, subject: str) -> int:
    """Seed of one fold, from the base seed, the run index and the subject id only."""
    return (seed * 1_000_003 + run * 7919 + zlib.crc32(subject.encode())) % (2**31 - 1)


@dataclass
class FoldResult:
    """What one fold leaves behind; every epoch-selection protocol is applied to it afterwards.

    Attributes:
        probs: test probabilities ``[members, epochs, n_test, C]``.
        clips, labels: the test clips' ids and labels ``[n_test]``.
        val_uf1, val_nll: per member and epoch, UF1 and mean negative log-likelihood on the member's
            validation subjects (training subjects held out); NaN when members have no validation split.
    """

    probs: np.ndarray
    clips: np.ndarray
    labels: np.ndarray
    val_uf1: np.ndarray
    val_nll: np.ndarray

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, probs=self.probs, clips=self.clips, labels=self.labels, val_uf1=self.val_uf1,
                         val_nll=self.val_nll)

    @classmethod
    def load(cls, path: Path) -> FoldResult:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["probs"], z["clips"], z["labels"], z["val_uf1"], z["val_nll"])
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: unreadable fold result ({exc}); delete it to recompute the fold") from None


def member_splits(train_subjects: list[str], members: int, validation: bool, seed: int) -> list[list[str]]:
    """Validation subjects of each member: disjoint groups of the training subjects, or none.

    With ``validation`` the training subjects are shuffled (seeded) and split into ``members`` groups
    (a subject-wise K-fold inside the training set); member ``k`` holds out group ``k``.
    """
    if not validation:
        return [[] for _ in range(members)]
    if members < 2:
        raise ValueError("member validation needs members >= 2 (a subject-wise K-fold of the training set)")
    order = np.random.default_rng(seed).permutation(len(train_subjects))
    return [[train_subjects[i] for i in part] for part in np.array_split(order, members)]


def train_fold(clips: ClipSet, cfg: ExperimentConfig, subject: str, seed: int,
               on_epoch=None, checkpoint: Path | None = None) -> FoldResult:
    """Train on every subject but ``subject``; record per-epoch test (and validation) predictions.

    ``cfg.train.members`` models are trained (seeds ``seed + k``) and kept separately in the result;
    with ``cfg.train.member_validation`` each one holds out its own group of training subjects.
    """
    test = clips.subjects == subject
    if not test.any():
        raise ValueError(f"{clips.root}: subject {subject!r} has no clips")
    tcfg = cfg.train
    train_subjects = [s for s in clips.subject_list() if s != subject]
    splits = member_splits(train_subjects, tcfg.members, tcfg.member_validation, seed)
    n_test, epochs, c = int(test.sum()), tcfg.epochs, clips.num_classes
    probs = np.zeros((len(splits), epochs, n_test, c), np.float32)
    val_uf1 = np.full((len(splits), epochs), np.nan, np.float32)
    val_nll = np.full((len(splits), epochs), np.nan, np.float32)
    vals = [np.flatnonzero(np.isin(clips.subjects, held_out)) for held_out in splits]
    trains = [np.flatnonzero(~test & ~np.isin(clips.subjects, held_out)) for held_out in splits]
    models = []
    for k in range(len(splits)):
        torch.manual_seed(seed + k)
        models.append(create_model(cfg.model_name, cfg.model))
    test_idx = np.flatnonzero(test)
    x, y, variants = clips.x, clips.y, None
    eval_sets = [np.concatenate([test_idx, val]) for val in vals]
    if tcfg.mirror or tcfg.mirror_tta:
        x, y, table = with_mirror_images(clips)
        variants = table if tcfg.mirror else None
        if tcfg.mirror_tta:
            eval_sets = [np.concatenate([e, e + len(clips)]) for e in eval_sets]
    history = fit_members(models, x, y, trains, tcfg, seed=seed, num_classes=c, eval_sets=eval_sets,
                          on_epoch=on_epoch, variants=variants)
    if tcfg.mirror_tta:
        history = [(h[:, : h.shape[1] // 2] + h[:, h.shape[1] // 2:]) / 2 for h in history]
    for k, (hist, val) in enumerate(zip(history, vals, strict=True)):
        probs[k] = hist[:, :n_test]
        if len(val):
            val_uf1[k], val_nll[k] = _validation_scores(hist[:, n_test:], clips.y[val])
    if checkpoint is not None:
        from causalnet.models.checkpoint import save_checkpoint

        save_checkpoint(checkpoint, models[0], extra={"test_subject": subject, "seed": seed, "member": 0})
    return FoldResult(probs, clips.clips[test], clips.y[test], val_uf1, val_nll)


def with_mirror_images(clips: ClipSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs ``[2N, ...]`` (rows ``N + i`` = mirror image of clip ``i``, :mod:`causalnet.data.mirror`),
    labels ``[2N]`` and the variant table ``[2N, 2]`` pairing each row with its mirror.

    Refuses (a clear error naming the folder) when the folder's direction maps do not follow from its
    flow images, because the mirror images would then be wrong.
    """
    from causalnet.data.mirror import MIN_AGREEMENT, direction_maps_match, mirror_clips

    agreement = direction_maps_match(clips.x)
    if agreement < MIN_AGREEMENT:
        raise ValueError(f"{clips.root}: the direction maps do not follow from the flow images "
                         f"({agreement:.1%} of pixels agree), so clips cannot be mirrored; "
                         "train with train.mirror=false and train.mirror_tta=false")
    n = len(clips)
    table = np.stack([np.arange(2 * n), np.r_[np.arange(n, 2 * n), np.arange(n)]], axis=1)
    return np.concatenate([clips.x, mirror_clips(clips.x)]), np.concatenate([clips.y, clips.y]), table


def _validation_scores(history: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import f1_score

    uf1 = np.array([f1_score(labels, h.argmax(-1), average="macro", zero_division=0) for h in history])
    nll = -np.log(np.take_along_axis(history, labels[None, :, None], axis=2)[..., 0] + 1e-12).mean(axis=1)
    return uf1, nll


def train_all(clips: ClipSet, cfg: ExperimentConfig, seed: int | None = None, on_epoch=None):
    """Train one model on every clip (for deployment); returns the model in eval mode."""
    seed = cfg.train.seed if seed is None else seed
    torch.manual_seed(seed)
    model = create_model(cfg.model_name, cfg.model)
    x, y, variants = clips.x, clips.y, None
    if cfg.train.mirror:
        x, y, variants = with_mirror_images(clips)
    fit(model, x, y, cfg.train, seed=seed, num_classes=clips.num_classes, on_epoch=on_epoch, variants=variants,
        train_rows=np.arange(len(clips)))
    return model.eval()


def _fold_job(args: tuple) -> tuple[int, str]:
    clips, cfg, run, subject, seed, path, ckpt, threads = args
    torch.set_num_threads(threads)
    train_fold(clips, cfg, subject, seed, checkpoint=ckpt).save(path)
    return run, subject


class LosoRun:
    """A LOSO experiment bound to a run folder. See the module docstring for the layout."""

    def __init__(self, out_dir: str | Path, clips: ClipSet, cfg: ExperimentConfig, runs: int = 1,
                 subjects: list[str] | None = None, checkpoints: bool = False) -> None:
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        self.out = Path(out_dir)
        self.clips, self.cfg, self.runs, self.checkpoints = clips, cfg, runs, checkpoints
        known = clips.subject_list()
        unknown = [s for s in subjects or [] if s not in known]
        if unknown:
            raise ValueError(f"{clips.root}: subject(s) {unknown} have no clips")
        self.subjects = list(subjects) if subjects else known

    # -- paths -------------------------------------------------------------------------------
    def fold_path(self, run: int, subject: str) -> Path:
        return self.out / "folds" / f"run{run}" / f"{subject}.npz"

    def checkpoint_path(self, run: int, subject: str) -> Path:
        return self.out / "checkpoints" / f"run{run}" / f"{subject}.safetensors"

    def pending(self) -> list[tuple[int, str]]:
        """(run, subject) folds without a finished result file."""
        return [(r, s) for r in range(self.runs) for s in self.subjects if not self.fold_path(r, s).is_file()]

    # -- running -----------------------------------------------------------------------------
    def write_config(self) -> None:
        """Write config.json, refusing to mix a different experiment into an existing run folder."""
        record = {"causalnet_version": __version__, "experiment": self.cfg.to_dict(), "data": str(self.clips.root),
                  "runs": self.runs, "subjects": self.subjects if self.subjects != self.clips.subject_list()
                  else None}
        path = self.out / "config.json"
        if path.is_file():
            old = read_json(path)
            if _normalised(old.get("experiment")) != record["experiment"] or old.get("data") != record["data"]:
                raise ValueError(f"{path}: this run folder holds a different experiment or data; "
                                 "use a new --out folder (or delete this one)")
        write_json_atomic(path, record)

    def run(self, progress: bool = False, workers: int = 1) -> dict[str, Any]:
        """Train every pending fold, then write predictions.csv and metrics.json; returns the metrics."""
        self.train(progress, workers)
        return self.finalise()

    def train(self, progress: bool = False, workers: int = 1) -> None:
        """Train every pending fold (no metrics: used alone, no test score is computed)."""
        self.write_config()
        todo = self.pending()
        epochs = self.cfg.train.epochs
        done = len(self.subjects) * self.runs - len(todo)
        if done:
            log.info("%d finished fold(s) found in %s: skipped", done, self.out)
        bar = _progress(progress, total=len(todo) * epochs, desc="LOSO")
        try:
            if workers > 1 and len(todo) > 1:
                self._run_parallel(todo, workers, bar)
            else:
                for run, subject in todo:
                    bar.set_postfix_str(f"run {run} fold {subject}")
                    seed = fold_seed(self.cfg.train.seed, run, subject)
                    ckpt = self.checkpoint_path(run, subject) if self.checkpoints else None
                    result = train_fold(self.clips, self.cfg, subject, seed, on_epoch=lambda _: bar.update(1),
                                        checkpoint=ckpt)
                    result.save(self.fold_path(run, subject))
        finally:
            bar.close()

    def _run_parallel(self, todo: list[tuple[int, str]], workers: int, bar) -> None:
        threads = max(1, torch.get_num_threads() // workers)
        jobs = [(self.clips, self.cfg, r, s, fold_seed(self.cfg.train.seed, r, s), self.fold_path(r, s),
                 self.checkpoint_path(r, s) if self.checkpoints else None, threads) for r, s in todo]
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_fold_job, j) for j in jobs]):
                run, subject = fut.result()
                bar.set_postfix_str(f"run {run} fold {subject}")
                bar.update(self.cfg.train.epochs)

    # -- results -----------------------------------------------------------------------------
    def finalise(self, protocol: str | None = None) -> dict[str, Any]:
        """Pool finished folds into predictions.csv and metrics.json under ``protocol``."""
        protocol = protocol or self.cfg.protocol
        missing = self.pending()
        if missing:
            raise ValueError(f"{self.out}: {len(missing)} fold(s) unfinished, e.g. run {missing[0][0]} "
                             f"subject {missing[0][1]}; rerun the same command to finish them")
        rows = self.prediction_rows(protocol)
        write_text_atomic(self.out / "predictions.csv", predictions_csv(rows, self.clips.num_classes))
        metrics = metrics_from_rows(rows, protocol)
        write_json_atomic(self.out / "metrics.json", metrics)
        return metrics

    def prediction_rows(self, protocol: str) -> list[dict[str, Any]]:
        """One row per test clip per run, with the predictions of the protocol's epoch."""
        key_dataset = {(s, c): d for s, c, d in zip(self.clips.subjects.tolist(), self.clips.clips.tolist(),
                                                    self.clips.datasets.tolist(), strict=True)}
        rows = []
        for run in range(self.runs):
            for subject in self.subjects:
                fold = FoldResult.load(self.fold_path(run, subject))
                probs, epoch = select_probs(fold, protocol)
                for clip, label, p in zip(fold.clips.tolist(), fold.labels.tolist(), probs, strict=True):
                    rows.append({"run": run, "subject": subject,
                                 "dataset": key_dataset.get((subject, clip), ""),
                                 "clip": clip, "label": int(label), "pred": int(np.argmax(p)),
                                 "probs": [float(v) for v in p], "epoch": epoch})
        return rows


def _normalised(experiment: dict | None) -> dict | None:
    """A stored experiment as the current code writes it: fields added to the configs since the run
    was started take their defaults (which reproduce the old behaviour), so the run still resumes."""
    try:
        return ExperimentConfig.from_dict(experiment).to_dict()
    except (TypeError, ValueError, KeyError):
        return experiment


def _progress(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, dynamic_ncols=True)


def predictions_csv(rows: list[dict[str, Any]], num_classes: int) -> str:
    """The predictions.csv text for prediction rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run", "subject", "dataset", "clip", "label", "pred", *[f"p{i}" for i in range(num_classes)]])
    for r in rows:
        writer.writerow([r["run"], r["subject"], r["dataset"], r["clip"], r["label"], r["pred"],
                         *[f"{p:.6f}" for p in r["probs"]]])
    return buf.getvalue()


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read predictions.csv back (subjects and clips stay text)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"run", "subject", "dataset", "clip", "label", "pred"}
        if not need <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: missing column(s) {sorted(need - set(reader.fieldnames or []))}")
        pcols = [c for c in reader.fieldnames if c.startswith("p") and c[1:].isdigit()]
        return [{"run": int(r["run"]), "subject": r["subject"], "dataset": r["dataset"], "clip": r["clip"],
                 "label": int(r["label"]), "pred": int(r["pred"]), "probs": [float(r[c]) for c in pcols]}
                for r in reader]


def metrics_from_rows(rows: list[dict[str, Any]], protocol: str) -> dict[str, Any]:
    """metrics.json content: metrics per run on pooled predictions, mean/std over runs."""
    per_run = []
    for run in sorted({r["run"] for r in rows}):
        sel = [r for r in rows if r["run"] == run]
        y = np.array([r["label"] for r in sel])
        p = np.array([r["pred"] for r in sel])
        groups = np.array([r["dataset"] for r in sel])
        names = [*DATASETS, *sorted(set(groups.tolist()) - set(DATASETS))]
        per_run.append(grouped_metrics(y, p, groups, names))
    return {"protocol": protocol, "runs": len(per_run), **summarise_runs(per_run)}
