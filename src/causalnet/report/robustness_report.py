"""The report of a robustness run folder (``causalnet robustness``): results per key-frame condition,
per source dataset, key-frame errors and confusion matrices per model."""

from __future__ import annotations

import numpy as np

from causalnet.eval.metrics import confusion
from causalnet.report import figures as F
from causalnet.report.document import Document, FigureItem, Section, Table
from causalnet.report.runs import Predictions, RunFolder, load_predictions, safe_name
from causalnet.report.tables import COMPOSITE, percent

__all__ = ["APEX_BINS", "robustness_sections"]

#: Bins of the absolute apex error (frames) in the robustness accuracy plot.
APEX_BINS = (0, 2, 5, 10, 20, 40, np.inf)


def robustness_sections(run: RunFolder, doc: Document) -> None:
    """Add the sections of a robustness run folder (``results.json``, ``predictions.csv``) to ``doc``."""
    from causalnet.robustness.config import RobustnessConfig, parse_model_specs
    from causalnet.robustness.report import condition_label

    res = run.results
    metrics = res["metrics"]
    models = list(res.get("models") or metrics)
    conditions = list(res.get("conditions") or next(iter(metrics.values())))
    rcfg = RobustnessConfig.from_dict(res["robustness"]) if "robustness" in res else None
    specs = parse_model_specs(models)
    runs = rcfg.runs if rcfg else len(next(iter(next(iter(metrics.values())).values()))[COMPOSITE].get("runs", [1]))
    protocols = res.get("protocols", {})
    doc.sections.append(Section("overview", "Experiment", tables=[Table(["", ""], [
        ["kind", "robustness to key-frame errors (train on annotated key-frames, test under each condition)"],
        ["models", ", ".join(models)], ["conditions", ", ".join(condition_label(c) for c in conditions)],
        ["runs", str(runs)], ["test subjects / clips", f"{len(res.get('subjects', []))} / {res.get('clips', '')}"],
        ["epoch selection", ", ".join(sorted(set(protocols.values()))) or "?"]])]))
    section = Section("results", "Composite results per condition",
                      intro="UF1 / UAR in % on the predictions of all folds pooled, mean ± std over runs; every "
                            "condition uses the same trained models and the same honest epoch.")
    rows = [[m, *[f"{percent(metrics[m][c][COMPOSITE], 'uf1')} / {percent(metrics[m][c][COMPOSITE], 'uar')}"
                  for c in conditions]] for m in models]
    section.tables.append(Table(["model", *[condition_label(c) for c in conditions]], rows,
                                title="UF1 % / UAR % (composite)"))
    drops = res.get("uf1_drop") or {}
    if drops:
        d0 = next(iter(drops.values()))
        drop_rows = [[m, f"{100 * d['own']['mean']:.2f} ± {100 * d['own']['std']:.2f}",
                      f"{100 * d['vs_plain']['mean']:.2f} ± {100 * d['vs_plain']['std']:.2f}" if "vs_plain" in d
                      else ""] for m, d in drops.items()]
        section.tables.append(Table(["model", f"UF1 drop {condition_label(d0['from'])} → {condition_label(d0['to'])}",
                                     "drop from the plain model's σ = 0"], drop_rows, title="UF1 drop (points of %)"))
    if rcfg is not None:
        fig = F.metric_vs_sigma_figure(metrics, specs, rcfg)
        section.figures.append(FigureItem("metric_vs_sigma", "UF1 and UAR against the key-frame error",
                                          F.png_bytes(fig), "Error bars: std over runs; squares: automatic apex "
                                          "spotting (key-frames from the LBP spotter)."))
    doc.sections.append(section)
    per_ds = Section("datasets", "Per source dataset")
    for m in models:
        groups = [g for g in metrics[m][conditions[0]] if g != COMPOSITE]
        if not groups:
            continue
        rows = [[condition_label(c), *[f"{percent(metrics[m][c][g], 'uf1')} / {percent(metrics[m][c][g], 'uar')}"
                                       for g in [COMPOSITE, *groups]]] for c in conditions]
        per_ds.tables.append(Table(["condition", *[COMPOSITE, *groups]], rows, title=f"{m}: UF1 % / UAR %"))
    if per_ds.tables:
        doc.sections.append(per_ds)
    _keyframe_section(run, res, models, conditions, doc)
    doc.data["robustness"] = {"metrics": metrics, "uf1_drop": drops, "keyframe_error": res.get("keyframe_error")}


def _keyframe_section(run: RunFolder, res: dict, models: list[str], conditions: list[str], doc: Document) -> None:
    from causalnet.robustness.report import condition_label

    section = Section("keyframes", "Key-frame errors",
                      intro="How far each condition's key-frames are from the annotation (frames of the clip), "
                            "and how accuracy falls with the apex error.")
    errors = res.get("keyframe_error") or {}
    if errors:
        section.tables.append(Table(["condition", "onset", "apex", "offset"],
                                    [[condition_label(c), *[f"{e[k]:.2f}" for k in ("onset", "apex", "offset")]]
                                     for c, e in errors.items()], title="mean |error| (frames), over clips and runs"))
    if run.predictions_path.is_file():
        p = load_predictions(run.predictions_path)
        got = _keyframe_errors(p, conditions)
        if got is not None:
            per_condition, per_model = got
            per_condition = {condition_label(c): e for c, e in per_condition.items()}
            fig = F.keyframe_error_figure(per_condition, per_model, APEX_BINS)
            section.figures.append(FigureItem("keyframe_errors", "Key-frame errors and accuracy", F.png_bytes(fig),
                                              "Left: |error| of onset, apex and offset against the annotated "
                                              "key-frames (the σ = 0 condition), per condition (boxes: quartiles, "
                                              "whiskers 1.5 IQR). Right: share of correct predictions against the "
                                              "|apex error|, every condition and run pooled."))
        cm = Section("confusion", "Confusion matrices per model")
        for m in models:
            sel = p.extra["model"] == m if "model" in p.extra else np.ones(len(p), bool)
            mats = {condition_label(c): confusion(p.label[sel & (p.extra["condition"] == c)],
                                                  p.pred[sel & (p.extra["condition"] == c)], p.num_classes)
                    for c in conditions if "condition" in p.extra}
            if mats:
                fig = F.confusion_figure(mats, run.class_names(p.num_classes), title=m)
                cm.figures.append(FigureItem(f"confusion_{safe_name(m)}", f"Confusion matrices of {m}",
                                             F.png_bytes(fig), "Counts pooled over runs (top) and row-normalised "
                                                               "(bottom), one column per condition."))
        if section.tables or section.figures:
            doc.sections.append(section)
        if cm.figures:
            doc.sections.append(cm)
    elif section.tables:
        doc.sections.append(section)


def _keyframe_errors(p: Predictions, conditions: list[str]):
    """Per condition |error| ``[n, 3]`` against the σ = 0 key-frames, and per model (|apex error|, correct)."""
    need = {"model", "condition", "onset", "apex", "offset"}
    if not need <= set(p.extra) or "sigma0" not in conditions:
        return None
    try:
        kf = np.stack([p.extra[k].astype(float) for k in ("onset", "apex", "offset")], axis=1)
    except ValueError:
        return None
    key = np.char.add(np.char.add(np.char.add(p.extra["model"], "|"), p.run.astype(str)),
                      np.char.add(np.char.add("|", p.subject), np.char.add("|", p.clip)))
    base = p.extra["condition"] == "sigma0"
    annotated = dict(zip(key[base].tolist(), kf[base], strict=True))
    ref = np.array([annotated.get(k, (np.nan,) * 3) for k in key.tolist()])
    err = np.abs(kf - ref)
    ok = np.isfinite(err).all(axis=1)
    per_condition = {c: err[ok & (p.extra["condition"] == c)] for c in conditions if c != "sigma0"}
    per_condition = {c: e for c, e in per_condition.items() if len(e)}
    if not per_condition:
        return None
    correct = p.label == p.pred
    per_model = {m: (err[ok & (p.extra["model"] == m), 1], correct[ok & (p.extra["model"] == m)])
                 for m in dict.fromkeys(p.extra["model"].tolist())}
    return per_condition, per_model
