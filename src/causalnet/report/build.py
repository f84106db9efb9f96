"""Build the report of a run folder: each section is added when its inputs exist (see :mod:`.runs`).

A robustness folder gets the sections of :mod:`.robustness_report`; every other folder (train, sweep,
released weights, bare predictions) those of :class:`TrainReport`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.engine import FoldKey, FoldStore
from causalnet.eval.metrics import confusion
from causalnet.eval.report import benchmark_name, pooled_note, protocol_label
from causalnet.report import figures as F
from causalnet.report.document import Document, FigureItem, Section, Table
from causalnet.report.robustness_report import robustness_sections
from causalnet.report.runs import Predictions, RunFolder, dataset_order, load_predictions, open_run, safe_name
from causalnet.report.stats import confusion_metrics, subject_confusions
from causalnet.report.tables import COMPOSITE, metrics_table, same_metrics

log = logging.getLogger(__name__)

#: Clips shown with their inputs (half correct, half wrong when there are enough of each).
EXAMPLE_CLIPS = 6
#: Below this many clips no t-SNE is drawn.
MIN_EMBEDDING = 8


@dataclass
class ReportOptions:
    """What the report may do beyond reading files.

    Attributes:
        model: load fold checkpoints (when present) for attention, saliency and, when the fold
            files hold no features, the t-SNE features.
        examples: number of test clips shown with inputs, attention and saliency.
        tsne_seed: seed of the t-SNE layout.
    """

    model: bool = True
    examples: int = EXAMPLE_CLIPS
    tsne_seed: int = 0


def build_report(run_dir: str | Path, options: ReportOptions | None = None,
                 on_step: Callable[[str], None] | None = None) -> Document:
    """The report of any run folder (train, robustness, sweep, released weights, bare predictions)."""
    options = options or ReportOptions()
    run = open_run(run_dir)
    step = on_step or (lambda _: None)
    folder = run.path.resolve().name  # the folder's name only: no absolute path of this machine in a report
    doc = Document(title=f"causalnet report: {folder}", subtitle=f"{run.kind} run folder {folder}",
                   data={"kind": run.kind, "run_dir": folder})
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        step(name)
        t0 = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t0, 3)
        return out

    if run.kind == "robustness":
        timed("robustness", lambda: robustness_sections(run, doc))
    else:
        TrainReport(run, doc, options, timed).build()
    doc.data["seconds"] = timings
    scrub_paths(doc, _machine_paths(run))
    return doc


def _machine_paths(run: RunFolder) -> dict[str, str]:
    """Absolute paths a report could show (the run folder, its data folder, a released-weights folder) and
    the names that replace them: the run folder's name, or the other folders' own names."""
    out: dict[str, str] = {}
    for value, name in ((run.path, run.path.resolve().name), (run.config.get("data"), None),
                        (run.config.get("reference"), None)):
        if not value:
            continue
        for form in {str(value), str(Path(value).resolve()), str(Path(value).absolute())}:
            if len(form) > 1:
                out[form.rstrip("/")] = name or Path(value).name
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))  # longest first: nested paths


def scrub_paths(doc: Document, paths: dict[str, str]) -> None:
    """Replace every absolute path of this machine in ``paths`` by its short name, in every text of the
    report (titles, notes, table cells, captions) and its numbers: a report names the run, not the disk."""
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for long, short in paths.items():
                value = value.replace(long, short)
            return value
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, tuple):
            return tuple(clean(v) for v in value)
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        return value

    doc.title, doc.subtitle, doc.data = clean(doc.title), clean(doc.subtitle), clean(doc.data)
    for section in doc.sections:
        section.title, section.intro, section.notes = clean(section.title), clean(section.intro), clean(section.notes)
        for table in section.tables:
            table.title, table.note, table.columns, table.rows = (clean(table.title), clean(table.note),
                                                                  clean(table.columns), clean(table.rows))
        for figure in section.figures:
            figure.title, figure.caption = clean(figure.title), clean(figure.caption)


# ---------------------------------------------------------------------------------------- train & co.


class TrainReport:
    """Sections of a run folder with ``predictions.csv`` (train, sweep, released weights)."""

    def __init__(self, run: RunFolder, doc: Document, options: ReportOptions, timed) -> None:
        self.run, self.doc, self.options, self.timed = run, doc, options, timed
        self.preds: Predictions | None = None
        self.folds = None
        self.clips = None
        self.notes: list[str] = []  # said in the results section
        self._uncaptured = False  # a CMPLM whose attention weights no hook could see

    def build(self) -> None:
        run = self.run
        if run.predictions_path.is_file():
            self.preds = self.timed("predictions", lambda: load_predictions(run.predictions_path))
        if run.has_folds:
            self.timed("folds", self._load_folds)
        if self.preds is None and self.folds is None:  # no predictions.csv and no fold file
            raise ValueError(f"{run.path}: neither predictions.csv nor fold files to report on")
        self.num_classes = self.preds.num_classes if self.preds is not None else next(
            iter(self.folds.folds.values())).probs.shape[-1]
        self.class_names = run.class_names(self.num_classes)
        datasets = self.preds.dataset.tolist() if self.preds is not None else [
            *self.folds.datasets.values()]
        self.benchmark = benchmark_name(datasets, run.config.get("data"))
        self.doc.data["benchmark"] = self.benchmark
        self.doc.sections.append(self._overview())
        self.timed("tables", self._tables)
        if self.preds is not None:
            self.timed("confusion", self._confusion)
            self.timed("per_subject", self._per_subject)
        if self.folds is not None:
            self.timed("learning_curves", self._learning_curves)
        self.timed("embedding", self._embedding)
        self.timed("examples", self._examples)
        self.timed("extra_tables", self._extra_tables)

    # -- inputs ---------------------------------------------------------------------------
    def _load_folds(self) -> None:
        from causalnet.report.folds import load_folds

        datasets = {}
        keys = None
        if self.preds is not None:
            p = self.preds
            datasets = {(s, c): d for s, c, d in zip(p.subject, p.clip, p.dataset, strict=True)}
            keys = sorted(set(zip(p.run.tolist(), p.subject.tolist(), strict=True)))
        elif self.run.data_root is not None:  # a run still training: datasets from the clip list
            from causalnet.data.composite import read_index

            datasets = {(r["sub"], r["filename_o"]): r["dataset"] for r in read_index(self.run.data_root)}
        try:
            self.folds = load_folds(self.run.path, keys, datasets)
        except (FileNotFoundError, ValueError) as exc:  # missing, or of a layout this report does not know
            if self.preds is None:
                raise
            self.notes.append(f"Fold files not usable ({exc}): the sections that need them are left out.")
            log.warning("%s", exc)
            return
        if keys is None:  # an unfinished run: keep the runs that have every subject seen so far
            from causalnet.report.folds import complete_runs

            self.folds, dropped = complete_runs(self.folds)
            if dropped:
                self.notes.append(f"Runs {dropped} are unfinished and left out.")

    def _clipset(self):
        """The run's clips (images), when its data folder is still there."""
        if self.clips is None and self.run.data_root is not None:
            from causalnet.data import load_composite

            try:
                self.clips = load_composite(self.run.data_root)
            except (FileNotFoundError, ValueError) as exc:
                log.warning("images of %s not available: %s", self.run.data_root, exc)
                self.clips = False
        return self.clips or None

    def _checkpoint(self, run: int, subject: str) -> Path | None:
        """The weights of a fold: ``checkpoints/run<r>/<subject>.safetensors`` (``causalnet train
        --checkpoints``), or the authors' ``<subject>.pth`` a released-weights folder was converted from."""
        candidates = [FoldStore(self.run.path).checkpoint_path(FoldKey("", run, subject)),
                      self.run.path / "checkpoints" / f"{subject}.safetensors"]
        if self.run.kind == "released" and self.run.config.get("reference"):
            candidates.append(Path(self.run.config["reference"]) / f"{subject}.pth")
        return next((p for p in candidates if p.is_file()), None)

    @staticmethod
    def _load_model(path: Path):
        """A model from a causalnet checkpoint or, for ``.pth``, from the authors' released weights
        (``causalnet.models.load_reference``, safe loading); None when this install cannot read it."""
        import causalnet.models as models

        if path.suffix == ".pth":
            loader = getattr(models, "load_reference", None)
            return loader(path).eval() if loader is not None else None
        return models.load_checkpoint(path)

    @staticmethod
    def _weights_label(path: Path) -> str:
        return "the released weights" if path.suffix == ".pth" else "the fold checkpoint (member 0, final epoch)"

    # -- sections -------------------------------------------------------------------------
    def _overview(self) -> Section:
        cfg = self.run.config
        exp = cfg.get("experiment") or {}
        train = exp.get("train") or {}
        facts = [("kind", self.run.kind), ("protocol of predictions.csv", protocol_label(self.run.protocol)),
                 ("model", exp.get("model_name", cfg.get("model", ""))),
                 ("runs (seeds)", str(len(set(self.preds.run.tolist())) if self.preds is not None else
                                      len(self.folds.runs))),
                 ("epochs", str(train.get("epochs", ""))), ("ensemble members", str(train.get("members", ""))),
                 ("base seed", str(train.get("seed", ""))), ("data", Path(cfg["data"]).name if cfg.get("data") else ""),
                 ("causalnet version", str(cfg.get("causalnet_version", "")))]
        if self.preds is not None:
            p = self.preds
            n_clips = len(set(zip(p.subject, p.clip, strict=True)))
            facts.insert(3, ("test subjects / clips", f"{len(set(p.subject.tolist()))} / {n_clips}"))
        facts.insert(3, ("benchmark", self.benchmark))
        rows = [[k, v] for k, v in facts if v not in ("", "None")]
        return Section("overview", "Run", tables=[Table(["", ""], rows)])

    def _tables(self) -> None:
        run = self.run
        section = Section("results", "Results per dataset",
                          intro="UF1 (macro F1), UAR (macro recall) and ACC on the predictions of all folds pooled "
                                "(SPEC §5), in %. Honest protocols first; the ORACLE row chooses each test "
                                "subject's epoch by its own test accuracy — the field's usual protocol, optimistic "
                                "and not an estimate of accuracy on new subjects.")
        tables: dict[str, dict] = {}
        if self.folds is not None:
            from causalnet.report.folds import HONEST, protocol_metrics

            tables = protocol_metrics(self.folds)
            order = sorted(tables, key=lambda p: (p != run.protocol, p not in HONEST))
            tables = {p: tables[p] for p in order}
            if run.metrics and run.protocol in tables and not same_metrics(tables[run.protocol], run.metrics):
                section.notes.append(f"metrics.json differs from the fold files under protocol {run.protocol!r}: "
                                     "the folder may be stale; rerun `causalnet evaluate` on it.")
                self.doc.data["metrics_json_matches_folds"] = False
            elif run.metrics:
                self.doc.data["metrics_json_matches_folds"] = True
        elif run.metrics:
            tables = {run.protocol: run.metrics}
        elif self.preds is not None:
            from causalnet.eval.predictions import metrics_from_rows

            tables = {run.protocol: metrics_from_rows(self.preds.rows(), run.protocol)}
        section.notes += self.notes
        missing = (run.metrics or {}).get("missing_subjects") or run.config.get("missing_subjects")
        if missing:
            section.notes.append(f"{len(missing)} subject(s) of the data have no result in this folder and are not "
                                 f"in these tables: {', '.join(map(str, missing))}.")
        if self.folds is not None and self.preds is None:
            section.notes.append("No predictions.csv yet (the run is unfinished?): every table comes from the "
                                 f"{len(self.folds.folds)} fold files present.")
        for protocol, metrics in tables.items():
            cls = "oracle" if protocol == "oracle" else ("run-protocol" if protocol == run.protocol else "")
            title = protocol_label(protocol) + (" — the protocol of predictions.csv" if protocol == run.protocol
                                                else "")
            section.tables.append(metrics_table(metrics, title, cls, self.benchmark))
        per_run = [(p, m[COMPOSITE]["runs"]) for p, m in tables.items() if "runs" in m.get(COMPOSITE, {})
                   and isinstance(m[COMPOSITE]["runs"], list)]
        if per_run:
            section.tables.append(Table(["protocol", *[f"run {i}" for i in range(len(per_run[0][1]))]],
                                        [[p, *[f"{100 * r['uf1']:.2f}" for r in runs]] for p, runs in per_run],
                                        title=f"{self.benchmark} UF1 % of each run",
                                        row_classes=["oracle" if p == "oracle" else "" for p, _ in per_run]))
        self.doc.data["protocols"] = tables
        self.doc.sections.append(section)

    def _confusion(self) -> None:
        p = self.preds
        runs = len(set(p.run.tolist()))
        groups = {COMPOSITE: np.ones(len(p), bool)}
        names = dataset_order(p.dataset.tolist())
        if len(names) > 1:
            groups.update({d: p.dataset == d for d in names})
        matrices = {g: confusion(p.label[m], p.pred[m], self.num_classes) for g, m in groups.items()}
        pooled = pooled_note(runs, len(p), len(set(zip(p.subject.tolist(), p.clip.tolist(), strict=True))))
        shown = {(self.benchmark if g == COMPOSITE else g): m for g, m in matrices.items()}
        fig = F.confusion_figure(shown, self.class_names, title=f"protocol {self.run.protocol}; {pooled}")
        self.doc.sections.append(Section(
            "confusion", "Confusion matrices",
            intro=f"The predictions of every run are counted together: {pooled}." if runs > 1 else "",
            figures=[FigureItem("confusion", "Confusion matrices", F.png_bytes(fig),
                                f"Rows: true class, columns: prediction; protocol {self.run.protocol}; {pooled}. "
                                "Top: counts; bottom: each row divided by its total (per-class recall on the "
                                "diagonal).")]))
        self.doc.data["confusion"] = {g: m.tolist() for g, m in matrices.items()}
        self.doc.data["confusion_pooled"] = {"runs": runs, "predictions": len(p), "note": pooled}

    def _per_subject(self) -> None:
        p = self.preds
        runs = sorted(set(p.run.tolist()))
        subjects = list(dict.fromkeys(p.subject.tolist()))
        index = {s: i for i, s in enumerate(subjects)}
        per_run = []
        for r in runs:
            sel = p.run == r
            conf = subject_confusions(p.label[sel], p.pred[sel], np.array([index[s] for s in p.subject[sel]]),
                                      len(subjects), self.num_classes)
            per_run.append(confusion_metrics(conf))
        first = p.run == runs[0]
        dataset_of = dict(zip(p.subject[first], p.dataset[first], strict=True))
        counts = dict(zip(*np.unique(p.subject[first], return_counts=True), strict=True))
        stats = [{"subject": s, "dataset": dataset_of.get(s, ""), "n": int(counts.get(s, 0)),
                  "acc": float(np.mean([m["acc"][i] for m in per_run])),
                  "uf1": float(np.mean([m["uf1"][i] for m in per_run]))} for i, s in enumerate(subjects)]
        fig = F.per_subject_figure(stats, f"per-subject results, protocol {self.run.protocol} (sorted by accuracy)")
        small = sum(s["n"] <= 3 for s in stats)
        self.doc.sections.append(Section(
            "subjects", "Per-subject results",
            intro=f"{len(stats)} test subjects; {small} of them have 3 clips or fewer, where one clip moves the "
                  "subject's accuracy by a third or more.",
            figures=[FigureItem("per_subject", "Per-subject accuracy and UF1", F.png_bytes(fig),
                                "Bars: accuracy on the subject's clips (mean over runs), colour = source dataset; "
                                "dots: UF1 of the subject's clips; n = clips.")]))
        self.doc.data["subjects"] = stats

    def _learning_curves(self) -> None:
        from causalnet.report.folds import chosen_epochs, learning_curves

        folds = self.folds
        curves = learning_curves(folds, self.num_classes)
        chosen = {p: chosen_epochs(folds, p) for p in folds.protocols()}
        fig = F.learning_curve_figure(curves["val_uf1"], curves["test_uf1"], chosen)
        notes = []
        if np.isnan(curves["val_uf1"]).all():
            notes.append("No member validation scores in these folds (train.member_validation off): only the "
                         "test curve is drawn and the val protocol is unavailable.")
        self.doc.sections.append(Section(
            "curves", "Learning curves", notes=notes,
            figures=[FigureItem("learning_curves", "Learning curves and chosen epochs", F.png_bytes(fig),
                                "Top: the ensemble members' UF1 on their held-out training subjects, and the "
                                "pooled test UF1 of the ensemble after each epoch — shown for insight only, no "
                                "choice uses it. Bottom: share of folds (val: fold × member) whose epoch each "
                                "protocol chose; fixed is always the last epoch; the ORACLE looks at test labels.")]))
        self.doc.data["learning_curves"] = {k: v.tolist() for k, v in curves.items()}
        self.doc.data["chosen_epochs"] = {p: np.bincount(v, minlength=folds.epochs).tolist() for p, v in chosen.items()}

    def _embedding(self) -> None:
        got = self._features()
        if got is None:
            return
        feats, keys, source = got
        if len(feats) < MIN_EMBEDDING:
            return
        from causalnet.report.embedding import tsne

        xy = tsne(feats, seed=self.options.tsne_seed)
        labels, datasets, correct = self._clip_facts(keys)
        fig = F.embedding_figure(xy, labels, datasets, correct, self.class_names,
                                 f"t-SNE of pre-head features, run 0 ({len(feats)} test clips)")
        self.doc.sections.append(Section(
            "embedding", "Feature embedding",
            figures=[FigureItem("tsne", "t-SNE of the test clips' pre-head features", F.png_bytes(fig),
                                f"Each test clip's feature from the model of its own fold ({source}); colour = "
                                "true class, marker = source dataset, hollow = misclassified "
                                f"(protocol {self.run.protocol}). t-SNE: PCA to ≤ 50 dimensions, perplexity ≤ 30, "
                                f"seed {self.options.tsne_seed}; distances between clusters mean little.")]))

    def _features(self) -> tuple[np.ndarray, list[tuple[str, str]], str] | None:
        if self.folds is not None:
            from causalnet.report.folds import run_features

            got = run_features(self.folds, self.folds.runs[0])
            if got is not None:
                return (*got, "stored by `causalnet train --save-features`: member 0, final epoch")
        if not self.options.model or self.preds is None:
            return None
        run0 = self.preds.run == self.preds.run.min()
        subjects = list(dict.fromkeys(self.preds.subject[run0].tolist()))
        paths = {s: self._checkpoint(int(self.preds.run.min()), s) for s in subjects}
        clips = self._clipset() if all(paths.values()) else None
        if clips is None:
            return None
        from causalnet.report.attention import model_features

        feats, keys = [], []
        for s in subjects:
            rows = np.flatnonzero(clips.subjects == s)
            model = self._load_model(paths[s])
            f = model_features(model, clips.x[rows]) if model is not None else None
            if f is None:
                return None
            feats.append(f)
            keys += [(s, c) for c in clips.clips[rows].tolist()]
        source = f"computed with the weights of each fold: {self._weights_label(paths[subjects[0]])}"
        return np.concatenate(feats), keys, source

    def _clip_facts(self, keys: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label, dataset and correctness (run 0 of predictions.csv, or the run's protocol on the folds)."""
        if self.preds is not None:
            p = self.preds
            sel = np.flatnonzero(p.run == p.run.min())
            at = {(p.subject[i], p.clip[i]): i for i in sel}
            idx = np.array([at[k] for k in keys])
            return p.label[idx], p.dataset[idx], p.label[idx] == p.pred[idx]
        from causalnet.report.folds import protocol_rows

        rows = {(r["subject"], r["clip"]): r for r in protocol_rows(self.folds, self.run.protocol) if r["run"] == 0}
        rs = [rows[k] for k in keys]
        return (np.array([r["label"] for r in rs]), np.array([r["dataset"] for r in rs]),
                np.array([r["label"] == r["pred"] for r in rs]))

    def _examples(self) -> None:
        if self.preds is None or self.options.examples <= 0:
            return
        clips = self._clipset()
        if clips is None:
            return
        picks = pick_examples(self.preds, self.options.examples)
        section = Section("clips", "Test clips: inputs, attention and saliency",
                          intro="A few test clips of run 0, the most confident correct and wrong predictions. Each "
                                "shows the four input images enlarged (flow onset→apex, flow apex→offset and their "
                                "direction maps; colours as stored, BGR shown as RGB), the u, v and strain channels "
                                "of both flow images, and — where the fold's checkpoint exists — the gradient "
                                "saliency |∂ logit / ∂ input| of the predicted class placed back on the face, and "
                                "the CMPLM cross-attention between the two phases' direction tokens. The 2×2 "
                                "tokens are the encoder's final 1×1 feature split into four channel groups "
                                "(SPEC §3), not image regions; q = query token, k = key token; masked pairs are 0.")
        key_index = {(s, c): i for i, (s, c) in enumerate(zip(clips.subjects.tolist(), clips.clips.tolist(),
                                                                strict=True))}
        missing_ckpt = 0
        for n, row in enumerate(picks, start=1):
            i = key_index.get((row["subject"], row["clip"]))
            if i is None:
                continue
            images = clips.raw[i]
            saliency, attention, ckpt_note = None, None, {}
            path = self._checkpoint(row["run"], row["subject"]) if self.options.model else None
            inside = self._look_inside(path, clips.x[i: i + 1]) if path is not None else None
            if inside is not None:
                saliency, attention, ckpt_note = inside
            else:
                missing_ckpt += 1
            names = self.class_names
            verdict = "correct" if row["label"] == row["pred"] else "WRONG"
            title = (f"{row['dataset']} {row['subject']}/{row['clip']}: true {names[row['label']]}, run predicted "
                     f"{names[row['pred']]} (p = {row['conf']:.2f}, {verdict})")
            fig = F.clip_figure(images, title, saliency, attention, saliency_class=ckpt_note.get("class"))
            shown = ["input images", "flow channels", *(["gradient saliency"] if saliency is not None else []),
                     *(["CMPLM attention"] if attention else [])]
            inside = (f" Saliency and attention come from {ckpt_note['weights']}, which predicts "
                      f"{ckpt_note['class']} with its own probability {ckpt_note['p']:.2f} (p above is the run's "
                      "ensemble, as in predictions.csv)." if ckpt_note else "")
            section.figures.append(FigureItem(f"clip{n}_{safe_name(verdict.lower())}", f"Clip {n} ({verdict})",
                                              F.png_bytes(fig), f"{title}. Shown: {', '.join(shown)}.{inside}"))
        if self._uncaptured:
            section.notes.append("The model has a CMPLM module but no attention weights could be captured from it "
                                 "(no sub-module outputs weights shaped [B, heads, n, n]); attention is not shown.")
        if missing_ckpt:
            section.notes.append("Attention and saliency need each fold's weights: train with `--checkpoints` "
                                 "(released-weights folders: the authors' <subject>.pth files named in config.json).")
        if section.figures:
            self.doc.sections.append(section)

    def _look_inside(self, path: Path, x: np.ndarray):
        from causalnet.report.attention import CMPLM_SCOPE, find_module, gradient_saliency, look_inside

        model = self._load_model(path)
        if model is None:
            return None
        probs, attention = look_inside(model, x)
        self._uncaptured = self._uncaptured or (not attention and find_module(model, CMPLM_SCOPE) is not None)
        pred = int(probs[0].argmax())
        saliency = gradient_saliency(model, x, np.array([pred]))[0]
        note = {"weights": self._weights_label(path), "class": self.class_names[pred], "p": float(probs[0, pred])}
        return saliency, [a[0] for a in attention] or None, note

    def _extra_tables(self) -> None:
        files = self.run.candidate_tables()
        if not files:
            return
        from causalnet.report.document import tables_from_file

        section = Section("tables", "Other tables in the folder",
                          intro="Tables other commands left in the run folder (e.g. the candidates of "
                                "`causalnet sweep`), shown as written.")
        for path in files:
            section.tables += tables_from_file(path)
        if section.tables:
            self.doc.sections.append(section)


def pick_examples(preds: Predictions, k: int) -> list[dict[str, Any]]:
    """Run 0's most confident correct and wrong predictions (half each when possible), one per subject first."""
    sel = np.flatnonzero(preds.run == preds.run.min())
    conf = preds.probs[sel].max(axis=1) if preds.probs.shape[1] else np.zeros(len(sel))
    ok = preds.label[sel] == preds.pred[sel]
    order = np.lexsort((np.arange(len(sel)), -conf))
    wrong_idx = [i for i in order if not ok[i]]
    right_idx = [i for i in order if ok[i]]
    n_wrong = min(len(wrong_idx), k // 2)
    chosen: list[int] = []
    for pool, quota in ((right_idx, k - n_wrong), (wrong_idx, n_wrong)):
        chosen += _spread(pool, preds.subject[sel], preds.dataset[sel])[:quota]
    out = []
    for i in chosen[:k]:
        j = sel[i]
        out.append({"run": int(preds.run[j]), "subject": str(preds.subject[j]), "clip": str(preds.clip[j]),
                    "dataset": str(preds.dataset[j]), "label": int(preds.label[j]), "pred": int(preds.pred[j]),
                    "conf": float(conf[i])})
    return out


def _spread(order: list[int], subjects: np.ndarray, datasets: np.ndarray) -> list[int]:
    """``order`` re-ranked so that the first picks come from different datasets, then different subjects."""
    seen: set[str] = set()
    firsts = [i for i in order if not (subjects[i] in seen or seen.add(subjects[i]))]  # best clip per subject
    by_dataset: dict[str, list[int]] = {}
    for i in firsts:
        by_dataset.setdefault(str(datasets[i]), []).append(i)
    interleaved = [i for group in itertools.zip_longest(*by_dataset.values()) for i in group if i is not None]
    return interleaved + [i for i in order if i not in set(firsts)]
