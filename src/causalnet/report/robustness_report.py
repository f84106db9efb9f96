"""The report of a robustness run folder (``causalnet robustness``): results per key-frame condition,
per source dataset, key-frame errors and confusion matrices per model."""

from __future__ import annotations

import numpy as np

from causalnet.eval.metrics import confusion
from causalnet.eval.report import benchmark_name, pooled_note
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
    preds = load_predictions(run.predictions_path) if run.predictions_path.is_file() else None
    datasets = (preds.dataset.tolist() if preds is not None else
                [g for m in metrics.values() for c in m.values() for g in c if g != COMPOSITE])
    bench = benchmark_name(datasets, run.config.get("data"))
    spread = f"mean ± std over {runs} runs" if runs > 1 else "one run"
    doc.sections.append(Section("overview", "Experiment", tables=[Table(["", ""], [
        ["kind", "robustness to key-frame errors (train on annotated key-frames, test under each condition)"],
        ["models", ", ".join(models)], ["conditions", ", ".join(condition_label(c) for c in conditions)],
        ["runs", "one" if runs == 1 else str(runs)],
        ["test subjects / clips", f"{len(res.get('subjects', []))} / {res.get('clips', '')}"],
        ["benchmark", bench],
        ["epoch selection", "; ".join(f"{m}: {protocols[m]}" for m in models if m in protocols) or "?"]])]))
    section = Section("results", f"Results per condition ({bench})",
                      intro=f"UF1 / UAR in % on the predictions of all folds pooled ({bench}: all test clips), "
                            f"{spread}; every condition uses the same trained models and the same honest epoch.")
    rows = [[m, *[f"{percent(metrics[m][c][COMPOSITE], 'uf1')} / {percent(metrics[m][c][COMPOSITE], 'uar')}"
                  for c in conditions]] for m in models]
    section.tables.append(Table(["model", *[condition_label(c) for c in conditions]], rows,
                                title=f"UF1 % / UAR % ({bench})", note=spread))
    drops = res.get("uf1_drop") or {}
    if drops:
        d0 = next(iter(drops.values()))
        vs_plain = any("vs_plain" in d for d in drops.values())  # a column no row can fill is left out
        drop_rows = [[m, _points(d["own"], runs),
                      *([_points(d["vs_plain"], runs) if "vs_plain" in d else "—"] if vs_plain else [])]
                     for m, d in drops.items()]
        section.tables.append(Table(["model", f"UF1 drop {condition_label(d0['from'])} → {condition_label(d0['to'])}",
                                     *(["drop from the plain model's σ = 0"] if vs_plain else [])], drop_rows,
                                    title="UF1 drop (points of %)", note=spread))
    if rcfg is not None:
        fig = F.metric_vs_sigma_figure(metrics, specs, rcfg, bench)
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
        per_ds.tables.append(Table(["condition", *[bench, *groups]], rows, title=f"{m}: UF1 % / UAR %", note=spread))
    if per_ds.tables:
        doc.sections.append(per_ds)
    _keyframe_section(run, res, models, conditions, doc, preds)
    doc.data["robustness"] = {"metrics": metrics, "uf1_drop": drops, "keyframe_error": res.get("keyframe_error"),
                              "benchmark": bench}


def _points(stats: dict, runs: int) -> str:
    """A drop in points of %: ``mean ± std`` over several runs, the value alone for one run."""
    return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}" if runs > 1 else f"{100 * stats['mean']:.2f}"


def _keyframe_section(run: RunFolder, res: dict, models: list[str], conditions: list[str], doc: Document,
                      p: Predictions | None) -> None:
    from causalnet.robustness.report import condition_label

    section = Section("keyframes", "Key-frame errors",
                      intro="How far each condition's key-frames are from the annotation (frames of the clip), "
                            "and how accuracy falls with the apex error.")
    errors = res.get("keyframe_error") or {}
    if errors:
        section.tables.append(Table(["condition", "onset", "apex", "offset"],
                                    [[condition_label(c), *[f"{e[k]:.2f}" for k in ("onset", "apex", "offset")]]
                                     for c, e in errors.items()], title="mean |error| (frames), over clips and runs"))
    if p is not None:
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
            cells = {c: sel & (p.extra["condition"] == c) for c in conditions if "condition" in p.extra}
            mats = {condition_label(c): confusion(p.label[k], p.pred[k], p.num_classes) for c, k in cells.items()}
            if mats:
                k = next(iter(cells.values()))
                pooled = pooled_note(len(set(p.run[k].tolist())), int(k.sum()),
                                     len(set(zip(p.subject[k].tolist(), p.clip[k].tolist(), strict=True))))
                fig = F.confusion_figure(mats, run.class_names(p.num_classes), title=f"{m} ({pooled}, per condition)")
                cm.figures.append(FigureItem(f"confusion_{safe_name(m)}", f"Confusion matrices of {m}",
                                             F.png_bytes(fig), f"Each condition's predictions, {pooled}: counts "
                                                               "(top) and row-normalised (bottom), one column per "
                                                               "condition."))
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
