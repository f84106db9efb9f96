"""The robustness experiment: train each model once per LOSO fold, test it under every key-frame condition.

Protocol (paper Sec. 4.2, SPEC §5): models are trained on inputs from the *annotated* key-frames and
tested on inputs re-derived from perturbed key-frames (σ = 10, 20, 30 frames) or from spotted ones.
A fold's model is trained once per (model, run) and predicts the test subject's inputs of every
condition after every epoch; the epoch is chosen by the experiment's honest protocol (``fixed``:
the last; ``val``: each ensemble member's best epoch on its own held-out *training* subjects, at
annotated key-frames), the same epoch for every condition. Test labels are never used for selection.

Layout of the output folder::

    config.json                      the experiment (models, conditions, preprocessing, clips)
    cache/<hash>/<dataset>/<sub>/<clip>.npz   cached flow images per frame pair (see inputs.py)
    folds/<training>-<hash>/run<r>/<subject>.npz   per-epoch test probabilities of one fold
    predictions.csv, results.json, table.md, uf1_vs_sigma.png   (written by causalnet.robustness.report)

A fold file is written atomically when its training ends; a rerun skips finished folds, and a
fold's result depends only on the model, the seeds, the run and the subject (not on which folds ran
before), so an interrupted run resumes to the same result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.config import config_signature
from causalnet.engine import Backend, FoldKey, FoldResult, FoldStore, LocalBackend, run_folds
from causalnet.eval.metrics import METRICS, grouped_metrics, summarise_runs
from causalnet.eval.pool import pool
from causalnet.eval.protocols import HONEST_PROTOCOLS, select_probs
from causalnet.flow.config import PreprocessConfig
from causalnet.io import write_json_atomic, write_text_atomic
from causalnet.models.registry import get_entry
from causalnet.models.views import input_view_of
from causalnet.robustness.config import ModelSpec, RobustnessConfig, config_hash
from causalnet.robustness.inputs import (
    ClipOutcome,
    ClipTask,
    InputStore,
    build_store,
    cache_dir,
    cache_file,
    prepare_clips,
)
from causalnet.robustness.triples import ANNOTATED, JITTER, ClipInfo, TripleNeeds
from causalnet.train.config import ExperimentConfig
from causalnet.train.fold import FoldJob, run_fold
from causalnet.train.inputs import compact_inputs
from causalnet.train.loso import adapt_to_subjects, fold_seed, member_splits
from causalnet.train.simtoreal import resolve_experiment

__all__ = ["HONEST_PROTOCOLS", "RobustnessRun", "Training", "pool"]

log = logging.getLogger(__name__)


def summarise(per_run: list[dict[str, dict[str, float]]]) -> dict[str, dict]:
    """Grouped metrics of each run → per group ``uf1, uar, acc`` (means over runs), ``n``, ``mean``,
    ``std`` (population std over runs; 0 for one run) and ``runs`` (each run's values)."""
    if len(per_run) > 1:
        return summarise_runs(per_run)
    out = {}
    for group, m in per_run[0].items():
        values = {k: m[k] for k in METRICS}
        out[group] = {**values, "n": m["n"], "mean": dict(values), "std": dict.fromkeys(METRICS, 0.0),
                      "runs": [dict(values)]}
    return out


@dataclass(frozen=True)
class Training:
    """One training of the experiment: a registered model, with or without jitter, evaluated with/without TTA."""

    model: str
    jitter: bool
    tta: bool

    @property
    def label(self) -> str:
        return f"{self.model}+jitter" if self.jitter else self.model


@dataclass
class PrepareReport:
    """What the input preparation did: clips prepared, flows computed, failures, time."""

    clips: int = 0
    flows: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)


class RobustnessRun:
    """A robustness experiment bound to an output folder (see the module docstring).

    Args:
        out: output folder.
        clips: the clips (``ClipInfo.index`` = position); failed clips are dropped by :meth:`prepare`.
        prep: preprocessing (face, TV-L1) of every input.
        rcfg: conditions and robustness techniques.
        specs: the model specs to compare.
        experiments: registered model name → its experiment config (model, training, protocol).
        class_names: class names (their number is the number of classes).
        subjects: test subjects (default: all); training always uses every other subject.
    """

    def __init__(self, out: str | Path, clips: list[ClipInfo], prep: PreprocessConfig, rcfg: RobustnessConfig,
                 specs: list[ModelSpec], experiments: dict[str, ExperimentConfig],
                 class_names: tuple[str, ...], subjects: list[str] | None = None) -> None:
        self.out = Path(out)
        self.clips, self.prep, self.rcfg, self.specs = list(clips), prep, rcfg, list(specs)
        self.experiments, self.class_names = dict(experiments), tuple(class_names)
        self._job_experiments: dict[str, ExperimentConfig] = {}
        for spec in specs:
            get_entry(spec.name)  # a clear error for an unknown model
            if spec.name not in experiments:
                raise ValueError(f"no experiment config for model {spec.name!r}")
        for name, exp in experiments.items():
            if exp.protocol not in HONEST_PROTOCOLS:
                raise ValueError(f"{name}: robustness runs use honest protocols only {HONEST_PROTOCOLS}, "
                                 f"got {exp.protocol!r}")
            if exp.train.mirror or exp.train.mirror_tta:  # the training variants here carry key-frame jitter
                raise ValueError(f"{name}: robustness runs do not mirror clips; set train.mirror=false and "
                                 "train.mirror_tta=false")
        self.needs = TripleNeeds(rcfg.runs, any(s.jitter for s in specs), any(s.tta for s in specs))
        self.views = tuple(sorted({input_view_of(get_entry(s.name).model_cls) for s in specs}))
        trainings: dict[str, Training] = {}
        for spec in specs:
            old = trainings.get(spec.training)
            trainings[spec.training] = Training(spec.name, spec.jitter, spec.tta or bool(old and old.tta))
        self.trainings = list(trainings.values())
        known = list(dict.fromkeys(c.sub for c in self.clips))
        unknown = [s for s in subjects or [] if s not in known]
        if unknown:
            raise ValueError(f"subject(s) {unknown} have no clips")
        # the one few-subject rule of every engine (causalnet.train.loso.adapt_to_subjects), before any flow
        self.notes: list[str] = []
        for name, exp in list(self.experiments.items()):
            self.experiments[name], notes = adapt_to_subjects(exp, len(known), f"robustness ({name})")
            self.notes += [f"{name}: {note}" for note in notes]
        self.requested_subjects = list(subjects) if subjects else None
        self.store_inputs: InputStore | None = None
        self.store = FoldStore(self.out)
        self.prepare_report = PrepareReport()

    # -- inputs -------------------------------------------------------------------------------
    @property
    def subjects(self) -> list[str]:
        """Test subjects (first-appearance order of the clips)."""
        known = list(dict.fromkeys(c.sub for c in self.clips))
        return [s for s in known if s in self.requested_subjects] if self.requested_subjects else known

    def prepare(self, workers: int = 1, on_outcome: Callable[[ClipOutcome], None] | None = None) -> PrepareReport:
        """Compute (or reuse) every clip's inputs, drop clips that failed, and assemble the input rows."""
        root = cache_dir(self.out, self.prep)
        tasks = [ClipTask(c, str(cache_file(root, c)), self.prep, self.rcfg, self.needs, self.views)
                 for c in self.clips]
        start = time.perf_counter()
        outcomes = prepare_clips(tasks, workers, on_outcome)
        report = PrepareReport(seconds=time.perf_counter() - start)
        kept, spotted = [], []
        for info, outcome in zip(self.clips, outcomes, strict=True):
            report.cpu_seconds += outcome.cpu_seconds
            if outcome.error:
                log.warning("%s: %s", info.name, outcome.error)
                report.failed.append((info.name, outcome.error))
                continue
            report.flows += outcome.flows
            kept.append(info)
            spotted.append(outcome.spotted_apex)
        self.clips = [dataclasses.replace(info, index=i) for i, info in enumerate(kept)]
        report.clips = len(self.clips)
        if len({c.sub for c in self.clips}) < 2:
            raise ValueError("leave-one-subject-out needs clips of at least 2 subjects")
        self.store_inputs = build_store(self.clips, spotted, root, self.rcfg, self.needs, self.views)
        self.prepare_report = report
        log.info("inputs: %d clips, %d rows, %d flows computed in %.1f s", len(self.clips),
                 len(next(iter(self.store_inputs.x.values()))), report.flows, report.seconds)
        return report

    # -- folds --------------------------------------------------------------------------------
    def signature(self, training: Training) -> dict[str, Any]:
        """Everything a fold's result depends on, besides the run and the subject."""
        exp = self.experiments[training.model]
        clips = [[*c.key, c.label, c.onset, c.apex, c.offset, c.n_frames] for c in self.clips]
        return {"experiment": config_signature(exp),
                "robustness": self.rcfg.fold_signature(training.jitter, training.tta), "jitter": training.jitter,
                "tta": training.tta, "preprocess": config_signature(self.prep), "clips": config_hash(clips),
                "classes": list(self.class_names)}

    def fold_key(self, training: Training, run: int, subject: str) -> FoldKey:
        """A fold's key: its group is the training's label and configuration hash."""
        return FoldKey(f"{training.label}-{config_hash(self.signature(training))}", run, subject)

    def fold_path(self, training: Training, run: int, subject: str) -> Path:
        return self.store.path(self.fold_key(training, run, subject))

    def keys(self) -> list[FoldKey]:
        """Every fold, models interleaved (so an interrupted run has results for every model)."""
        return [self.fold_key(t, r, s) for r in range(self.rcfg.runs) for s in self.subjects for t in self.trainings]

    def pending(self) -> list[tuple[Training, int, str]]:
        """(training, run, subject) folds without a sound result file, models interleaved."""
        by_group = {self.fold_key(t, 0, "x").group: t for t in self.trainings}
        return [(by_group[k.group], k.run, k.subject) for k in self.store.pending(self.keys())]

    def job_experiment(self, model: str, progress: bool = False) -> ExperimentConfig:
        """The model's experiment as its fold jobs carry it: ``train.init`` resolved once, in the driver, to a
        validated checkpoint path (:func:`causalnet.train.simtoreal.resolve_experiment`)."""
        if model not in self._job_experiments:
            self._job_experiments[model] = resolve_experiment(self.experiments[model], progress)
        return self._job_experiments[model]

    def make_job(self, key: FoldKey) -> FoldJob:
        """The fold's training job: its rows of the input store, index sets, jitter variants, and per test
        row its condition, ensemble index and clip (the result's extras)."""
        if self.store_inputs is None:
            raise ValueError("call prepare() first")
        training = next(t for t in self.trainings if self.fold_key(t, 0, "x").group == key.group)
        run, subject = key.run, key.subject
        store, rcfg = self.store_inputs, self.rcfg
        exp = self.experiments[training.model]
        view = input_view_of(get_entry(training.model).model_cls)
        seed = fold_seed(exp.train.seed, run, subject)
        local: dict[int, int] = {}

        def loc(row: int) -> int:
            return local.setdefault(row, len(local))

        test = [c for c in self.clips if c.sub == subject]
        train = [c for c in self.clips if c.sub != subject]
        ann = {c.index: loc(store.row(c.index, (ANNOTATED, 0, 0))) for c in self.clips}
        jitter_rows = {c.index: [loc(store.row(c.index, (JITTER, run, j))) for j in range(1, rcfg.jitter_variants + 1)]
                       for c in train} if training.jitter else {}
        k_count = rcfg.tta_k if training.tta else 1
        test_rows, conditions, ks, clip_ids = [], [], [], []
        for condition in rcfg.conditions:
            for k in range(k_count):
                for c in test:
                    test_rows.append(loc(store.row(c.index, (condition, run, k))))
                    conditions.append(condition)
                    ks.append(k)
                    clip_ids.append(c.index)
        train_subjects = list(dict.fromkeys(c.sub for c in train))
        splits = member_splits(train_subjects, exp.train.members, exp.train.member_validation, seed)
        train_sets, eval_sets = [], []
        for held_out in splits:
            held = set(held_out)
            train_sets.append(np.array([ann[c.index] for c in train if c.sub not in held], dtype=np.int64))
            val = [ann[c.index] for c in train if c.sub in held]
            eval_sets.append(np.array(test_rows + val, dtype=np.int64))
        order = np.array(sorted(local, key=local.__getitem__), dtype=np.int64)
        variants = None
        if training.jitter:
            copies = rcfg.annotated_copies
            variants = np.repeat(np.arange(len(order))[:, None], copies + rcfg.jitter_variants, axis=1)
            for c in train:
                variants[ann[c.index], copies:] = jitter_rows[c.index]
        return FoldJob(key=key, model_name=exp.model_name, model_config=exp.model,
                       train=self.job_experiment(training.model).train, seed=seed,
                       x=compact_inputs(store.x[view][order]), y=store.labels[order], train_sets=train_sets,
                       eval_sets=eval_sets, n_test=len(test_rows),
                       test_clips=np.array([self.clips[i].clip for i in clip_ids]),
                       num_classes=len(self.class_names), variants=variants,
                       extras={"conditions": np.array(conditions), "ks": np.array(ks, dtype=np.int64),
                               "clip_index": np.array(clip_ids, dtype=np.int64)})

    def train(self, workers: int = 1, progress: bool = False, backend: Backend | None = None,
              device: str = "cpu") -> int:
        """Train every pending fold on ``backend`` (default: ``workers`` local processes); returns the count."""
        for model in dict.fromkeys(t.model for t, _, _ in self.pending()):
            self.job_experiment(model, progress)  # train.init resolved once, before any fold
        return run_folds(self.store, self.keys(), self.make_job, run_fold, backend=backend or LocalBackend(workers),
                         device=device, progress=progress, desc="train")

    # -- results ------------------------------------------------------------------------------
    def prediction_rows(self) -> list[dict[str, Any]]:
        """One row per (spec, run, condition, test clip): label, prediction, probabilities, key-frames."""
        missing = self.pending()
        if missing:
            t, r, s = missing[0]
            raise ValueError(f"{self.out}: {len(missing)} fold(s) unfinished, e.g. {t.label} run {r} subject {s}; "
                             "rerun the same command to finish them")
        by_label = {t.label: t for t in self.trainings}
        rows: list[dict[str, Any]] = []
        for spec in self.specs:
            training = by_label[spec.training]
            protocol = self.experiments[spec.name].protocol
            for run in range(self.rcfg.runs):
                for subject in self.subjects:
                    fold = self.store.load(self.fold_key(training, run, subject))
                    probs = select_probs(fold, protocol)[0]
                    for condition in self.rcfg.conditions:
                        sel = fold.extras["conditions"] == condition
                        rows.extend(self._rows(spec, run, subject, condition, fold, probs, sel))
        return rows

    def _rows(self, spec: ModelSpec, run: int, subject: str, condition: str, fold: FoldResult, probs: np.ndarray,
              sel: np.ndarray) -> list[dict[str, Any]]:
        out = []
        ks, clip_index = fold.extras["ks"], fold.extras["clip_index"]
        use = sel if spec.tta else sel & (ks == 0)
        for clip in dict.fromkeys(clip_index[sel].tolist()):
            mask = use & (clip_index == clip)
            p = pool(probs[mask], spec.tta_pooling if spec.tta else "mean")
            info = self.clips[clip]
            kf = self.store_inputs.triples[clip][(condition, run, 0)] if self.store_inputs else None
            onset, apex, offset = kf.as_tuple() if kf else (None, None, None)
            out.append({"model": spec.label, "run": run, "condition": condition, "subject": subject,
                        "dataset": info.dataset, "clip": info.clip, "label": info.label, "pred": int(np.argmax(p)),
                        "probs": [float(v) for v in p], "members": int(mask.sum()),
                        "keyframes": kf.as_tuple() if kf else None, "onset": onset, "apex": apex, "offset": offset})
        return out

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Per spec and condition: metrics per run on pooled predictions, mean/std over runs
        (composite and per source dataset, as ``causalnet train``'s metrics.json)."""
        datasets = list(dict.fromkeys(c.dataset for c in self.clips))
        out: dict[str, Any] = {}
        for spec in self.specs:
            per_condition = {}
            for condition in self.rcfg.conditions:
                per_run = []
                for run in range(self.rcfg.runs):
                    sel = [r for r in rows if r["model"] == spec.label and r["run"] == run
                           and r["condition"] == condition]
                    y = np.array([r["label"] for r in sel])
                    p = np.array([r["pred"] for r in sel])
                    groups = np.array([r["dataset"] for r in sel])
                    per_run.append(grouped_metrics(y, p, groups, datasets if len(datasets) > 1 else []))
                per_condition[condition] = summarise(per_run)
            out[spec.label] = per_condition
        return out

    def write_config(self) -> None:
        """Record the experiment in ``config.json`` (fold folders carry their own configuration hash)."""
        from causalnet import __version__

        self.store.write_config("robustness", {
            "causalnet_version": __version__, "robustness": self.rcfg.to_dict(),
            "models": [s.label for s in self.specs],
            "experiments": {name: exp.to_dict() for name, exp in self.experiments.items()},
            "preprocess": self.prep.to_dict(), "subjects": self.requested_subjects,
            "clips": [c.name for c in self.clips], "classes": list(self.class_names)})

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Pool the finished folds; write predictions.csv, results.json, table.md and uf1_vs_sigma.png."""
        from causalnet.eval.predictions import write_predictions
        from causalnet.robustness.report import drops, plot_uf1, table_markdown

        rows = self.prediction_rows()
        metrics = self.metrics(rows)
        self.write_config()
        write_predictions(self.out / "predictions.csv", rows, len(self.class_names), before=("model", "condition"),
                          after=("onset", "apex", "offset"))
        table = table_markdown(metrics, self.specs, self.rcfg)
        write_text_atomic(self.out / "table.md", table)
        plot_uf1(metrics, self.specs, self.rcfg, self.out / "uf1_vs_sigma.png")
        results = {
            "robustness": self.rcfg.to_dict(), "models": [s.label for s in self.specs],
            "conditions": self.rcfg.conditions, "subjects": self.subjects, "clips": len(self.clips),
            "protocols": {s.label: self.experiments[s.name].protocol for s in self.specs},
            "metrics": metrics, "uf1_drop": drops(metrics, self.specs, self.rcfg),
            "uar_drop": drops(metrics, self.specs, self.rcfg, "uar"),
            "keyframe_error": self.keyframe_errors(),
            "prepare": {"clips": self.prepare_report.clips, "flows_computed": self.prepare_report.flows,
                        "seconds": round(self.prepare_report.seconds, 1),
                        "cpu_seconds": round(self.prepare_report.cpu_seconds, 1),
                        "failed": [list(f) for f in self.prepare_report.failed]},
            **(extra or {}),
        }
        write_json_atomic(self.out / "results.json", results)
        results["table"] = table
        return results

    def keyframe_errors(self) -> dict[str, dict[str, float]]:
        """Per condition: mean absolute onset/apex/offset error (frames) against the annotation, over runs."""
        if self.store_inputs is None:
            return {}
        out = {}
        for condition in self.rcfg.conditions:
            errors = []
            for c in self.clips:
                ann = self.store_inputs.triples[c.index][(ANNOTATED, 0, 0)]
                for run in range(self.rcfg.runs):
                    kf = self.store_inputs.triples[c.index][(condition, run, 0)]
                    errors.append(np.abs(np.subtract(kf.as_tuple(), ann.as_tuple())))
            e = np.mean(errors, axis=0)
            out[condition] = {"onset": float(e[0]), "apex": float(e[1]), "offset": float(e[2])}
        return out


def clips_from_plan(plan: Any) -> tuple[list[ClipInfo], list[tuple[str, str]]]:
    """The clips of a dataset reader's :class:`~causalnet.data.builders.Plan` (duplicates dropped),
    and the clips the reader left out ``(name, reason)``."""
    clips: list[ClipInfo] = []
    seen: set[tuple[str, str, str]] = set()
    skipped = [(s.name, s.reason) for s in plan.skipped]
    for record in plan.clips:
        if record.key in seen:
            skipped.append((record.name, "listed twice in the annotations; kept the first"))
            continue
        seen.add(record.key)
        clips.append(ClipInfo(index=len(clips), dataset=record.dataset, sub=record.sub, clip=record.filename_o,
                              frames_dir=str(record.frames_dir), n_frames=record.n_frames, fps=record.fps,
                              label=record.label, onset=record.onset, apex=record.apex, offset=record.offset))
    return clips, skipped
