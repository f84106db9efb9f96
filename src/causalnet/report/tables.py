"""Tables shared by the report's sections: metrics per data group, in percent (mean ± std over runs)."""

from __future__ import annotations

from causalnet.eval.metrics import METRICS
from causalnet.eval.report import several_runs
from causalnet.report.document import Table

__all__ = ["COMPOSITE", "metrics_table", "percent", "same_metrics"]

#: The group of every clip pooled (the other groups are the source datasets).
COMPOSITE = "composite"


def percent(group: dict, metric: str) -> str:
    """``metric`` of a metrics group in %: ``mean ± std`` over runs when it summarises several, else the value
    (one run never shows ``± 0.00``)."""
    if several_runs(group):
        return f"{100 * group['mean'][metric]:.2f} ± {100 * group['std'][metric]:.2f}"
    return f"{100 * group[metric]:.2f}"


def metrics_table(metrics: dict, title: str, row_class: str = "", benchmark: str = COMPOSITE) -> Table:
    """Rows: all clips pooled (labelled ``benchmark``: "composite" only for the composite benchmark) then each
    source dataset; columns UF1/UAR/ACC in % (mean ± std over runs), n."""
    groups = [COMPOSITE, *[k for k in metrics if isinstance(metrics[k], dict) and "uf1" in metrics[k]
                           and k != COMPOSITE]]
    label = {COMPOSITE: benchmark if benchmark == COMPOSITE else f"{benchmark} (all clips)"}
    rows = [[label.get(g, g), *[percent(metrics[g], m) for m in METRICS], str(metrics[g]["n"])] for g in groups]
    runs = metrics.get("runs", 1)
    return Table(["data", "UF1 %", "UAR %", "ACC %", "clips"], rows, title=title,
                 row_classes=[row_class] * len(rows),
                 note=f"mean ± std over {runs} runs (population std)" if runs and runs > 1 else "one run")


def same_metrics(a: dict, b: dict) -> bool:
    """Every group of ``a`` is in ``b`` with the same UF1, UAR and ACC (to 1e-9)."""
    for g, v in a.items():
        if isinstance(v, dict) and "uf1" in v:
            if g not in b or any(abs(v[m] - b[g][m]) > 1e-9 for m in METRICS):
                return False
    return True
