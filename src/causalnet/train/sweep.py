"""Honest hyperparameter selection at scale: a nested leave-one-subject-out sweep.

For every outer fold (a test subject) and every candidate setting, the candidate is trained as an
ensemble whose members each hold out their own group of the fold's *training* subjects (member
validation, :func:`causalnet.train.loso.member_splits`). A candidate's **inner score** in a fold is
its members' mean UF1 on their held-out training subjects at the final epoch (ties: lower mean
validation loss, then the earlier candidate). The candidate with the best inner score predicts the
fold's test subject, under the sweep's honest protocol. No test label is used to choose anything.

Beside the honest result, the sweep reports — labelled ORACLE — each candidate's pooled test score
and the score of the candidate that is best *on the test subjects*: the gap between the two is what
selecting hyperparameters on test subjects (as published tables in this field do) adds.

Layout of a sweep folder::

    config.json                  base experiment, candidates, runs, subjects
    folds/<candidate>-<hash>/run<r>/<subject>.npz   one fold result per (candidate, run, subject)
    predictions.csv, metrics.json   the honest nested predictions (protocol ``nested-<protocol>``)
    chosen.csv                   per run and subject: the chosen candidate and its inner score
    candidates.csv, candidates.md   every candidate: mean inner score, times chosen, ORACLE test scores

Resumable per (candidate, run, subject), on any backend and device.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from causalnet import __version__
from causalnet.config import config_hash, config_signature
from causalnet.data.composite import ClipSet
from causalnet.engine import Backend, FoldKey, FoldStore, LocalBackend, run_folds
from causalnet.eval.predictions import metrics_from_rows, write_predictions
from causalnet.eval.protocols import HONEST_PROTOCOLS, check_protocol
from causalnet.io import csv_text, write_json_atomic, write_text_atomic
from causalnet.train.config import ExperimentConfig
from causalnet.train.fold import FoldJob, run_fold
from causalnet.train.loso import LosoRun, adapt_to_subjects
from causalnet.train.runconfig import write_run_config

__all__ = ["REFERENCE_GRID", "Candidate", "SweepRun", "parse_grid", "reference_grid"]

log = logging.getLogger(__name__)

#: ``--grid reference``: the reference tuning script's grid (SPEC §3).
REFERENCE_GRID = "reference"


@dataclass(frozen=True)
class Candidate:
    """One setting of the grid: a readable name and its ``scope.field`` overrides (typed values)."""

    name: str
    overrides: tuple[tuple[str, Any], ...]

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.overrides)


def _name(overrides: Sequence[tuple[str, Any]]) -> str:
    text = "_".join(f"{k.rpartition('.')[2]}={_text(v)}" for k, v in overrides) or "base"
    return re.sub(r"[^A-Za-z0-9.=_-]+", "-", text)[:120]


def _text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "-".join(map(str, value))
    return str(value)


def parse_grid(items: Sequence[str]) -> list[Candidate]:
    """``["model.gamma=0.3,0.5", "train.epochs=20,40"]`` → the 4 candidates of their product.

    Values are parsed as ``--set`` values are (numbers, booleans; a tuple field takes ``(3,3,9)``-style
    values written with ``;``: ``model.depths=3;3;9,2;3;9``). ``["reference"]`` is the reference grid.
    """
    from causalnet.config import parse_value

    if list(items) == [REFERENCE_GRID]:
        return reference_grid()
    axes: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ValueError(f"--grid expects SCOPE.FIELD=V1,V2,..., got {item!r}")
        parsed = [_grid_value(v, parse_value) for v in values.split(",") if v.strip()]
        if len(set(map(repr, parsed))) != len(parsed):
            raise ValueError(f"--grid {item!r}: a value is listed twice")
        axes.append((key.strip(), parsed))
    if not axes:
        raise ValueError("--grid needs at least one SCOPE.FIELD=V1,V2,... (or 'reference')")
    if len({k for k, _ in axes}) != len(axes):
        raise ValueError("--grid: a field is listed twice")
    keys = [k for k, _ in axes]
    combos = itertools.product(*(values for _, values in axes))
    return [Candidate(_name(list(zip(keys, c, strict=True))), tuple(zip(keys, c, strict=True))) for c in combos]


def _grid_value(text: str, parse_value) -> Any:
    text = text.strip()
    return tuple(parse_value(p) for p in text.split(";")) if ";" in text else parse_value(text)


def reference_grid() -> list[Candidate]:
    """The reference tuning grid: l1, l2 ∈ {3, 2} (not both 2), l3 ∈ {7, 8, 9, 10}, γ ∈ {0.3, 0.4, 0.5}."""
    out = []
    for l1, l2, l3, gamma in itertools.product((3, 2), (3, 2), (7, 8, 9, 10), (0.3, 0.4, 0.5)):
        if l1 == l2 == 2:
            continue
        over = (("model.depths", (l1, l2, l3)), ("model.gamma", gamma))
        out.append(Candidate(_name(over), over))
    return out


class SweepRun:
    """A nested LOSO sweep bound to a folder (see the module docstring).

    Args:
        out: the sweep folder.
        clips: every clip.
        base: the base experiment (a preset plus ``--set``); each candidate overrides it.
        candidates: the grid.
        inner_folds: members (= inner validation folds) of every candidate's ensemble; default: the
            base's ``members`` when it validates members, else 3.
        runs, subjects: as :class:`~causalnet.train.LosoRun`.
    """

    def __init__(self, out: str | Path, clips: ClipSet, base: ExperimentConfig, candidates: Sequence[Candidate],
                 inner_folds: int | None = None, runs: int = 1, subjects: Sequence[str] | None = None) -> None:
        if not candidates:
            raise ValueError("a sweep needs at least one candidate")
        if len({c.name for c in candidates}) != len(candidates):
            raise ValueError("two candidates have the same name")
        check_protocol(base.protocol, HONEST_PROTOCOLS)
        self.out, self.clips, self.runs = Path(out), clips, runs
        k = inner_folds or (base.train.members if base.train.member_validation else 3)
        if k < 2:
            raise ValueError(f"--inner-folds must be >= 2, got {k}")
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, members=k, member_validation=True))
        self.base = base
        self.candidates = list(candidates)
        self.notes: list[str] = []
        self.loso: dict[str, LosoRun] = {}
        shared: dict = {}
        for cand in self.candidates:
            cfg = base.with_overrides(cand.settings)
            cfg, notes = adapt_to_subjects(cfg, len(clips.subject_list()), str(clips.root))
            if not cfg.train.member_validation:
                raise ValueError(f"{clips.root}: a sweep needs at least 3 subjects (inner validation on held-out "
                                 "training subjects)")
            self.notes = notes
            run = LosoRun(self.out, clips, cfg, runs=runs, subjects=list(subjects) if subjects else None)
            run.share_inputs(shared)
            self.loso[self.group(cand, cfg)] = run
        self.store = FoldStore(self.out)
        self.subjects = next(iter(self.loso.values())).subjects

    @staticmethod
    def group(candidate: Candidate, cfg: ExperimentConfig) -> str:
        """The folder of a candidate's folds: its name and a hash of its full experiment."""
        exp = {k: v for k, v in config_signature(cfg).items() if k != "protocol"}
        return f"{candidate.name}-{config_hash(exp)}"

    @property
    def groups(self) -> list[str]:
        return list(self.loso)

    def keys(self) -> list[FoldKey]:
        """Every (candidate, run, subject) fold, candidates interleaved within each fold."""
        return [FoldKey(g, r, s) for r in range(self.runs) for s in self.subjects for g in self.groups]

    def make_job(self, key: FoldKey) -> FoldJob:
        return self.loso[key.group].make_job(key)

    def record(self) -> dict[str, Any]:
        return {"causalnet_version": __version__, "experiment": self.base.to_dict(),
                "data": str(self.clips.root), "runs": self.runs, "subjects": self.subjects,
                "candidates": [{"name": c.name, "group": g, "settings": {k: _jsonable(v) for k, v in c.overrides}}
                               for c, g in zip(self.candidates, self.groups, strict=True)], "notes": self.notes,
                "data_fingerprint": self.clips.fingerprint()}

    def write_config(self) -> None:
        """Write config.json, refusing (and naming the field) to mix a different sweep into the folder."""
        write_run_config(self.store, "sweep", self.record(), "folder holds a different sweep")

    def train(self, progress: bool = False, backend: Backend | None = None, device: str = "cpu") -> int:
        self.write_config()
        for group in dict.fromkeys(key.group for key in self.store.pending(self.keys())):
            self.loso[group].job_train(progress)  # train.init resolved once, before any fold
        return run_folds(self.store, self.keys(), self.make_job, run_fold, backend=backend or LocalBackend(1),
                         device=device, progress=progress, desc="sweep")

    def run(self, progress: bool = False, backend: Backend | None = None, device: str = "cpu") -> dict[str, Any]:
        self.train(progress, backend, device)
        return self.finalise()

    # -- selection --------------------------------------------------------------------------------
    def inner_scores(self) -> dict[tuple[int, str], list[tuple[float, float]]]:
        """Per (run, subject): each candidate's (inner UF1, inner loss) at the final epoch, in grid order."""
        out: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for run in range(self.runs):
            for subject in self.subjects:
                scores = []
                for g in self.groups:
                    fold = self.store.load(FoldKey(g, run, subject))
                    scores.append((float(np.nanmean(fold.val_uf1[:, -1])), float(np.nanmean(fold.val_nll[:, -1]))))
                out[(run, subject)] = scores
        return out

    def finalise(self) -> dict[str, Any]:
        """Choose per fold on inner scores; write predictions.csv, metrics.json, chosen.csv, candidates.*."""
        missing = self.store.pending(self.keys())
        if missing:
            raise ValueError(f"{self.out}: {len(missing)} fold(s) unfinished, e.g. {missing[0]}; rerun the same "
                             "command to finish them")
        protocol = self.base.protocol
        scores = self.inner_scores()
        chosen_rows, rows = [], []
        per_candidate: dict[str, list[dict[str, Any]]] = {g: [] for g in self.groups}
        for (run, subject), cand_scores in scores.items():
            best = min(range(len(cand_scores)), key=lambda i: (-cand_scores[i][0], cand_scores[i][1], i))
            for i, g in enumerate(self.groups):
                fold_rows = self.loso[g].fold_rows(FoldKey(g, run, subject), protocol)
                per_candidate[g].extend(fold_rows)
                if i == best:
                    rows.extend(fold_rows)
            chosen_rows.append({"run": run, "subject": subject, "candidate": self.candidates[best].name,
                                "inner_uf1": cand_scores[best][0], "inner_nll": cand_scores[best][1]})
        num_classes = self.clips.num_classes
        write_predictions(self.out / "predictions.csv", rows, num_classes)
        metrics = metrics_from_rows(rows, f"nested-{protocol}")
        oracle = {c.name: metrics_from_rows(per_candidate[g], protocol)
                  for c, g in zip(self.candidates, self.groups, strict=True)}
        best_on_test = max(oracle, key=lambda n: oracle[n]["composite"]["uf1"])
        metrics["oracle"] = {"note": "choosing one candidate by its score ON THE TEST SUBJECTS: optimistic, "
                                     "not a valid estimate", "candidate": best_on_test,
                             "composite": oracle[best_on_test]["composite"]}
        write_json_atomic(self.out / "metrics.json", metrics)
        write_text_atomic(self.out / "chosen.csv", _csv(chosen_rows, ["run", "subject", "candidate", "inner_uf1",
                                                                      "inner_nll"]))
        table = self.candidate_table(scores, chosen_rows, oracle)
        write_text_atomic(self.out / "candidates.csv", _csv(table, list(table[0])))
        write_text_atomic(self.out / "candidates.md", _markdown(table, metrics, best_on_test))
        return metrics

    def candidate_table(self, scores, chosen_rows, oracle) -> list[dict[str, Any]]:
        out = []
        for i, cand in enumerate(self.candidates):
            inner = [s[i][0] for s in scores.values()]
            comp = oracle[cand.name]["composite"]
            out.append({"candidate": cand.name,
                        "settings": " ".join(f"{k}={_text(v)}" for k, v in cand.overrides),
                        "inner_uf1": float(np.mean(inner)),
                        "chosen": sum(r["candidate"] == cand.name for r in chosen_rows),
                        "oracle_test_uf1": comp["uf1"], "oracle_test_uar": comp["uar"]})
        return out


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _csv(rows: list[Mapping[str, Any]], columns: list[str]) -> str:
    """CSV text through the package's one writer (:func:`causalnet.io.csv_text`: formula cells
    neutralised), floats with six decimals."""
    return csv_text(columns, [{k: f"{v:.6f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows])


def _markdown(table: list[dict[str, Any]], metrics: dict[str, Any], best_on_test: str) -> str:
    """candidates.md: every score in % (as ``causalnet train`` and ``evaluate`` print them); the pooled
    clips are called "composite" only for the composite benchmark."""
    from causalnet.eval.report import benchmark_name

    comp = metrics["composite"]
    groups = [k for k, v in metrics.items() if isinstance(v, dict) and "uf1" in v and k not in ("composite", "oracle")]
    bench = benchmark_name(groups) if groups else "all clips"
    lines = [f"# Sweep: {len(table)} candidates", "",
             f"**Honest nested result** (candidate chosen per fold on held-out training subjects, protocol "
             f"{metrics['protocol']}): {bench} UF1 {100 * comp['uf1']:.2f} %, UAR {100 * comp['uar']:.2f} %.", "",
             f"ORACLE (one candidate chosen by its score on the test subjects: {best_on_test}): {bench} UF1 "
             f"{100 * metrics['oracle']['composite']['uf1']:.2f} % — optimistic, not a valid estimate.", "",
             "| candidate | settings | inner val UF1 % (mean over folds) | chosen in folds | ORACLE test UF1 % | "
             "ORACLE test UAR % |", "|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['candidate']} | {r['settings']} | {100 * r['inner_uf1']:.2f} | {r['chosen']} | "
                     f"{100 * r['oracle_test_uf1']:.2f} | {100 * r['oracle_test_uar']:.2f} |")
    return "\n".join(lines) + "\n"
