"""Outputs of a robustness experiment: the Table-4-style table, the UF1-vs-σ plot, predictions, results.

- ``table.md`` — rows: model specs; columns: the σ levels and spotting; UF1 and UAR in % of all test
  clips pooled (mean ± std over runs, or "one run"), the UF1 drop from σ = 0 to the largest σ, and —
  only when some spec has techniques and its plain model is in the run — the drop measured from the
  *plain* model's σ = 0 score.
- ``uf1_vs_sigma.png`` — UF1 (%) against σ per spec (error bars: std over runs), spotting as a separate
  point at the right.
- ``predictions.csv`` — ``model, condition, run, subject, dataset, clip, label, pred, p0.., onset,
  apex, offset`` (:mod:`causalnet.eval.predictions`; the key-frames of the condition; with ``+tta`` the
  probabilities are the ensemble's).
- ``results.json`` — the configuration, per spec and condition the metrics (composite and per source
  dataset; per run, mean, std), the drops, the mean key-frame errors of each condition and timings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from causalnet.io import atomic_path
from causalnet.robustness.config import SPOTTING, ModelSpec, RobustnessConfig

__all__ = ["condition_label", "draw_metric_vs_sigma", "drops", "plot_uf1", "table_markdown"]

COMPOSITE = "composite"
#: Decimals of the percentages in table.md (the units of every report: %).
DIGITS = 2
#: Figure size in inches and resolution of the plot.
FIG_SIZE = (6.4, 4.2)
FIG_DPI = 130


def condition_label(condition: str) -> str:
    """``sigma10`` → ``σ = 10``; ``spotting`` stays."""
    return f"σ = {condition.removeprefix('sigma')}" if condition.startswith("sigma") else condition


def _fmt(mean: float, std: float, runs: int) -> str:
    """A fraction as % (``mean ± std`` over several runs; one run: the value alone)."""
    return f"{100 * mean:.{DIGITS}f} ± {100 * std:.{DIGITS}f}" if runs > 1 else f"{100 * mean:.{DIGITS}f}"


def _run_values(metrics: dict, spec: str, condition: str, metric: str) -> np.ndarray:
    return np.array([r[metric] for r in metrics[spec][condition][COMPOSITE]["runs"]])


def drops(metrics: dict, specs: Sequence[ModelSpec], rcfg: RobustnessConfig, metric: str = "uf1") -> dict[str, Any]:
    """Per spec, the loss from σ = 0 to the largest σ (per run, mean, std).

    ``own``: the spec's σ = 0 score minus its score at the largest σ. ``vs_plain`` (specs with
    techniques whose plain model is in the run): the plain model's σ = 0 score minus this spec's score
    at the largest σ — what the technique leaves of the plain model's loss; and ``plain`` that loss.
    """
    noise = [c for c in rcfg.conditions if c != SPOTTING]
    if len(noise) < 2 or min(rcfg.sigmas) != 0:
        return {}
    first, last = noise[0], noise[-1]
    labels = {s.label for s in specs}
    out: dict[str, Any] = {}
    for spec in specs:
        own = _run_values(metrics, spec.label, first, metric) - _run_values(metrics, spec.label, last, metric)
        entry: dict[str, Any] = {"from": first, "to": last, "own": _stats(own)}
        if (spec.jitter or spec.tta) and spec.name in labels:
            base = _run_values(metrics, spec.name, first, metric)
            entry["vs_plain"] = _stats(base - _run_values(metrics, spec.label, last, metric))
            entry["plain"] = _stats(base - _run_values(metrics, spec.name, last, metric))
        out[spec.label] = entry
    return out


def _stats(values: np.ndarray) -> dict[str, Any]:
    return {"mean": float(values.mean()), "std": float(values.std()), "runs": [float(v) for v in values]}


def table_markdown(metrics: dict, specs: Sequence[ModelSpec], rcfg: RobustnessConfig) -> str:
    """The Table-4-style markdown: UF1 and UAR in % per spec and condition, and the drops (points of %);
    the drop from the plain model's σ = 0 only when some row has one."""
    runs = rcfg.runs
    conditions = rcfg.conditions
    lost = drops(metrics, specs, rcfg)
    vs_plain = any("vs_plain" in d for d in lost.values())
    lines = []
    for metric, title in (("uf1", "UF1 %"), ("uar", "UAR %")):
        spread = f"mean ± std over {runs} runs" if runs > 1 else "one run"
        lines.append(f"**{title}** (all test clips pooled, {spread})\n")
        head = ["model", *[condition_label(c) for c in conditions]]
        if metric == "uf1" and lost:
            last = condition_label(next(iter(lost.values()))["to"])
            head.append(f"drop σ = 0 → {last.removeprefix('σ = ')} (points)")
            if vs_plain:
                head.append("drop vs plain σ = 0 (points)")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for spec in specs:
            cells = [spec.label]
            for c in conditions:
                m = metrics[spec.label][c][COMPOSITE]
                cells.append(_fmt(m[metric], m["std"][metric], runs))
            if metric == "uf1" and lost:
                d = lost[spec.label]
                cells.append(_fmt(d["own"]["mean"], d["own"]["std"], runs))
                if vs_plain:
                    cells.append(_fmt(d["vs_plain"]["mean"], d["vs_plain"]["std"], runs) if "vs_plain" in d
                                 else "—")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_uf1(metrics: dict, specs: Sequence[ModelSpec], rcfg: RobustnessConfig, path: str | Path,
             title: str = "") -> None:
    """UF1 against σ per spec (error bars = std over runs); spotting as a separate point. Written atomically."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIG_SIZE)
    ax = fig.subplots()
    draw_metric_vs_sigma(ax, metrics, specs, rcfg, "uf1")
    ax.set_title(title or "UF1 under key-frame errors")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=FIG_DPI)


def draw_metric_vs_sigma(ax, metrics: dict, specs: Sequence[ModelSpec], rcfg: RobustnessConfig,
                         metric: str = "uf1", benchmark: str = "all test clips") -> None:
    """Draw a metric of all test clips pooled, in %, against σ per spec on a matplotlib axis (error bars =
    std over runs), with the spotting condition as a separate point at the right; ``benchmark`` names
    the pooled clips on the y axis."""
    sigmas = sorted(rcfg.sigmas)
    noise = [c for c in rcfg.conditions if c != SPOTTING]
    spot_x = sigmas[-1] + (sigmas[-1] - sigmas[0]) / max(len(sigmas) - 1, 1) if rcfg.spotting else None
    if spot_x is not None and len(sigmas) == 1:
        spot_x = sigmas[0] + 10
    for spec in specs:
        mean = [100 * metrics[spec.label][c][COMPOSITE][metric] for c in noise]
        std = [100 * metrics[spec.label][c][COMPOSITE]["std"][metric] for c in noise]
        line = ax.errorbar(sigmas, mean, yerr=std, marker="o", capsize=3, label=spec.label)
        if spot_x is not None:
            m = metrics[spec.label][SPOTTING][COMPOSITE]
            ax.errorbar([spot_x], [100 * m[metric]], yerr=[100 * m["std"][metric]], marker="s", capsize=3,
                        color=line[0].get_color(), linestyle="none")
    ticks = [*sigmas, *([spot_x] if spot_x is not None else [])]
    ax.set_xticks(ticks, [f"{s:g}" for s in sigmas] + (["spotting"] if spot_x is not None else []))
    ax.set_xlabel("key-frame error σ (frames at 200 fps)")
    ax.set_ylabel(f"{metric.upper()} % ({benchmark})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
