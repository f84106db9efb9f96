"""``causalnet compare``: paired comparison of runs on the same clips (statistics: :mod:`.stats`).

A run is a run folder, a predictions CSV, or either with a selection of rows: ``DIR:model=htnet,
condition=sigma30`` picks one model and condition of a robustness folder. The first run is the
baseline A; every other run B is compared with it as Δ = B − A, on the composite and on each source
dataset, after checking that both cover exactly the same clips with the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.report.runs import PREDICTIONS, Predictions, dataset_order, load_predictions
from causalnet.report.stats import (
    ALPHA,
    MIN_SUBJECTS,
    N_BOOT,
    N_PERM,
    SEED,
    PairedData,
    disagreement,
    no_interval,
    observed_difference,
    paired_bootstrap,
    paired_permutation,
    seed_spread,
    small_sample,
    subject_confusions,
)
from causalnet.report.tables import COMPOSITE


@dataclass
class Side:
    """One run of a comparison: its label (the folder's or file's name, never a path of this machine)
    and its (selected) predictions."""

    label: str
    predictions: Predictions

    @property
    def runs(self) -> list[int]:
        return sorted(set(self.predictions.run.tolist()))


def parse_run(text: str) -> tuple[Path, dict[str, str]]:
    """``PATH`` or ``PATH:key=value,key=value`` -> (path, filters)."""
    if Path(text).exists() or ":" not in text:
        return Path(text), {}
    path, _, spec = text.rpartition(":")
    if "=" not in spec:
        return Path(text), {}
    filters = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{text}: selection {item!r} is not KEY=VALUE")
        filters[key.strip()] = value.strip()
    return Path(path), filters


def load_side(text: str) -> Side:
    """Read one run of a comparison; robustness predictions must be narrowed to one model and condition."""
    path, filters = parse_run(text)
    csv_path = path / PREDICTIONS if path.is_dir() else path
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: predictions file not found")
    preds = load_predictions(csv_path).where(filters)
    for column in ("model", "condition"):
        values = sorted(set(preds.extra.get(column, np.array([], str)).tolist()))
        if len(values) > 1:
            raise ValueError(f"{csv_path}: holds several {column}s {values}; select one as "
                             f"{path}:{column}={values[0]}")
    return Side(run_label(path, filters), preds)


def run_label(path: Path, filters: dict[str, str] | None = None) -> str:
    """How a report names a run: the folder's name (a CSV: its folder's name and its own), plus the
    row selection — no absolute path of this machine.

    >>> run_label(Path("/home/me/runs/a"), {"model": "htnet"})
    'a:model=htnet'
    >>> run_label(Path("/tmp/x/b.csv"))
    'x/b.csv'
    """
    path = Path(path)
    name = f"{path.parent.name}/{path.name}" if path.suffix and path.parent.name else path.name
    name = name or str(path)
    return name + (":" + ",".join(f"{k}={v}" for k, v in filters.items()) if filters else "")


def _keys(p: Predictions, run: int) -> dict[tuple[str, str], int]:
    sel = np.flatnonzero(p.run == run)
    keys = {}
    for i in sel:
        key = (p.subject[i], p.clip[i])
        if key in keys:
            raise ValueError(f"{p.source}: run {run} predicts clip {key[0]}/{key[1]} twice")
        keys[key] = int(i)
    return keys


def check_same_clips(sides: list[Side]) -> list[tuple[str, str]]:
    """The clips (subject, clip) every run of every side predicts; a clear error when they differ."""
    reference = None
    ref_labels: dict[tuple[str, str], int] = {}
    for side in sides:
        p = side.predictions
        for run in side.runs:
            keys = _keys(p, run)
            if reference is None:
                reference, ref_side = set(keys), side.label
                ref_labels = {k: int(p.label[i]) for k, i in keys.items()}
                continue
            if set(keys) != reference:
                only_a = sorted(reference - set(keys))
                only_b = sorted(set(keys) - reference)
                example = (f"{len(only_a)} only in {ref_side} (e.g. {'/'.join(only_a[0])})" if only_a else
                           f"{len(only_b)} only in {side.label} run {run} (e.g. {'/'.join(only_b[0])})")
                raise ValueError(f"runs do not cover the same clips: {side.label} run {run} has {len(keys)}, "
                                 f"{ref_side} has {len(reference)}; {example}")
            wrong = [k for k, i in keys.items() if int(p.label[i]) != ref_labels[k]]
            if wrong:
                raise ValueError(f"{side.label} run {run}: label of clip {'/'.join(wrong[0])} differs from "
                                 f"{ref_side} ({len(wrong)} clips differ)")
    return sorted(reference or [])


def paired_data(a: Side, b: Side, clips: list[tuple[str, str]], dataset: str | None = None) -> PairedData:
    """Per-subject confusion matrices of both sides on the given clips (one source dataset, or all)."""
    pa = a.predictions
    datasets = {(s, c): d for s, c, d in zip(pa.subject, pa.clip, pa.dataset, strict=True)}
    if dataset is not None:
        clips = [k for k in clips if datasets[k] == dataset]
    subjects = sorted({s for s, _ in clips})
    index = {s: i for i, s in enumerate(subjects)}
    num_classes = max(a.predictions.num_classes, b.predictions.num_classes)

    def confusions(side: Side) -> np.ndarray:
        p = side.predictions
        out = []
        for run in side.runs:
            keys = _keys(p, run)
            rows = np.array([keys[k] for k in clips], np.int64)
            sidx = np.array([index[s] for s, _ in clips], np.int64)
            out.append(subject_confusions(p.label[rows], p.pred[rows], sidx, len(subjects), num_classes))
        return np.stack(out)

    return PairedData(confusions(a), confusions(b), subjects)


def compare_pair(a: Side, b: Side, n_boot: int = N_BOOT, n_perm: int = N_PERM, seed: int = SEED) -> dict[str, Any]:
    """Δ = B − A with bootstrap CI, permutation p and seed spread, for the composite and each dataset."""
    clips = check_same_clips([a, b])
    pa = a.predictions
    datasets = {(s, c): d for s, c, d in zip(pa.subject, pa.clip, pa.dataset, strict=True)}
    names = dataset_order(datasets[k] for k in clips)
    groups: dict[str, Any] = {}
    warnings: list[str] = []
    for name in [COMPOSITE, *(names if len(names) > 1 else [])]:
        data = paired_data(a, b, clips, None if name == COMPOSITE else name)
        spread = seed_spread(data)
        n = len(data.subjects)
        permutation = paired_permutation(data, n_perm=n_perm, seed=seed)
        if small_sample(n):
            ci = no_interval(f"not enough subjects for an interval ({n} < {MIN_SUBJECTS})")
            warnings.append(f"{name}: only {n} subject(s), fewer than {MIN_SUBJECTS}: no interval is given, and "
                            f"the exact permutation test over all 2^{n} swaps cannot give p below "
                            f"{permutation['smallest_p']:.4g}")
        else:
            ci = paired_bootstrap(data, n_boot=n_boot, seed=seed)
        agreement = {k: disagreement(ci[k], permutation["p"][k]) for k in ci}
        groups[name] = {
            "subjects": n, "clips": int(data.a[0].sum()),
            "delta": observed_difference(data), "ci": ci, "permutation": permutation,
            "disagreement": {k: v for k, v in agreement.items() if v},
            "seeds": {"a": spread.a, "b": spread.b, "se": spread.se, "paired": spread.paired},
        }
    return {"a": a.label, "b": b.label, "runs_a": len(a.runs), "runs_b": len(b.runs), "n_boot": n_boot,
            "n_perm": n_perm, "seed": seed, "min_subjects": MIN_SUBJECTS, "alpha": ALPHA, "groups": groups,
            "warnings": warnings}


def compare_runs(runs: list[str], n_boot: int = N_BOOT, n_perm: int = N_PERM, seed: int = SEED) -> list[dict]:
    """Compare every run with the first one (see :func:`compare_pair`); all must cover the same clips."""
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    sides = [load_side(r) for r in runs]
    check_same_clips(sides)
    return [compare_pair(sides[0], b, n_boot, n_perm, seed) for b in sides[1:]]


def _pct(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{100 * v:+.2f}"


def comparison_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """Display rows (per group and metric) of one comparison: Δ, CI, p, seed spread, in points of %."""
    rows = []
    for group, g in result["groups"].items():
        for metric in ("uf1", "uar"):
            ci, seeds = g["ci"][metric], g["seeds"]
            a, b = np.array(seeds["a"][metric]), np.array(seeds["b"][metric])
            spread = (f"A {100 * a.mean():.2f} ± {100 * a.std():.2f}, B {100 * b.mean():.2f} ± {100 * b.std():.2f}"
                      if len(a) > 1 or len(b) > 1 else "one run each")
            rows.append({"group": group, "metric": metric.upper(), "n": f"{g['subjects']} subj / {g['clips']} clips",
                         "delta": _pct(g["delta"][metric]), "ci": _interval(ci),
                         "p": _p_text(g["permutation"], metric),
                         "seed_se": "" if not np.isfinite(seeds["se"][metric]) else f"{100 * seeds['se'][metric]:.2f}",
                         "seeds": spread,
                         "note": g.get("disagreement", {}).get(metric, "")})
    return rows


def _interval(ci: dict[str, Any]) -> str:
    if ci.get("low") is None or ci.get("high") is None:
        return ci.get("reason") or "no interval"
    return f"[{_pct(ci['low'])}, {_pct(ci['high'])}]"


def _p_text(permutation: dict[str, Any], metric: str) -> str:
    p = f"{permutation['p'][metric]:.4f}"
    floor = permutation.get("smallest_p")
    return f"{p} (exact; smallest possible {floor:.4g})" if floor is not None and floor > ALPHA else p


COLUMNS = (("group", "data"), ("metric", "metric"), ("n", "n"), ("delta", "Δ (B−A), pts"),
           ("ci", "95% CI (subject bootstrap)"), ("p", "p (permutation)"), ("seed_se", "seed s.e. of Δ"),
           ("seeds", "per-run mean ± std"), ("note", "note"))


def comparison_text(result: dict[str, Any]) -> str:
    """A plain-text table of one comparison (for the terminal)."""
    rows = comparison_rows(result)
    columns = _columns(rows)
    widths = {k: max(len(t), *(len(r[k]) for r in rows)) for k, t in columns}
    head = "  ".join(t.ljust(widths[k]) for k, t in columns)
    perm = next(iter(result["groups"].values()))["permutation"]
    lines = [f"A = {result['a']} ({result['runs_a']} run(s))", f"B = {result['b']} ({result['runs_b']} run(s))",
             f"Δ = B − A in points of %; {result['n_boot']} bootstrap draws over subjects; permutation test "
             f"{'exact' if perm['exact'] else 'with ' + str(perm['draws']) + ' draws'} over subjects "
             f"(seed {result['seed']}); no interval below {result.get('min_subjects', MIN_SUBJECTS)} subjects",
             head, "-" * len(head)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k, _ in columns).rstrip() for r in rows]
    return "\n".join(lines)


def _columns(rows: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    """The display columns, without the note column when no row has a note."""
    return tuple(c for c in COLUMNS if c[0] != "note" or any(r["note"] for r in rows))


def comparison_document(results: list[dict[str, Any]]):
    """The comparison as a report document (a section per pair and a forest plot)."""
    from causalnet.report import figures as F
    from causalnet.report.document import Document, FigureItem, Section, Table

    doc = Document(title="causalnet compare", subtitle=f"baseline A = {results[0]['a']}",
                   data={"kind": "compare", "min_subjects": MIN_SUBJECTS, "comparisons": results})
    for i, result in enumerate(results, start=1):
        perm = next(iter(result["groups"].values()))["permutation"]
        rows = comparison_rows(result)
        swaps = "all swaps enumerated" if perm["exact"] else f"{perm['draws']} random swaps"
        section = Section(f"pair{i}", f"{result['b']} vs {result['a']}",
                          intro=f"A = {result['a']} ({result['runs_a']} run(s)), B = {result['b']} "
                                f"({result['runs_b']} run(s)); Δ = B − A in points of %. 95 % interval: percentile "
                                f"bootstrap over subjects, {result['n_boot']} draws; p: two-sided paired permutation "
                                f"test over subjects ({swaps}, "
                                f"{perm['runs']} seed pair(s)); seed s.e. = √(s²_A/R_A + s²_B/R_B) over runs. "
                                f"Below {MIN_SUBJECTS} subjects in a group no interval is given and the test is "
                                "exact (all swaps).",
                          notes=[f"Warning: {w}." for w in result.get("warnings", [])])
        columns = _columns(rows)
        section.tables.append(Table([t for _, t in columns], [[r[k] for k, _ in columns] for r in rows]))
        doc.sections.append(section)
    fig = F.forest_figure(results)
    doc.sections.append(Section("forest", "Differences at a glance", figures=[FigureItem(
        "compare_forest", "ΔUF1 and ΔUAR with 95 % intervals", F.png_bytes(fig),
        "Dots: observed difference on all subjects of the group; bars: the subject-bootstrap interval.")]))
    return doc
