"""Plain-text tables of LOSO results, the way papers print them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL_LABELS = {
    "fixed": "fixed (honest: final epoch, no test labels used)",
    "val": "val (honest: each member's best epoch on its held-out training subjects)",
    "oracle": "ORACLE (best epoch chosen on each test subject: optimistic, not a valid estimate)",
    "released": "released (the authors' released weights, one per test subject)",
}
#: The group of every clip pooled in a metrics dict; shown under the benchmark's name (:func:`benchmark_name`).
COMPOSITE = "composite"


def protocol_label(protocol: str) -> str:
    """A human label for a protocol; the oracle one always says it is optimistic.

    >>> protocol_label("nested-val")
    "nested-val (honest: a sweep's candidate chosen per fold on held-out training subjects, then val)"
    """
    if protocol.startswith("nested-"):
        inner = protocol.removeprefix("nested-")
        return (f"{protocol} (honest: a sweep's candidate chosen per fold on held-out training subjects, "
                f"then {inner})")
    return PROTOCOL_LABELS.get(protocol, protocol)


def benchmark_name(datasets: Iterable[str], data: str | Path | None = None) -> str:
    """What to call all clips pooled: "composite" only for the composite benchmark (every clip from CASME II,
    SMIC or SAMM); otherwise the data folder's name (e.g. ``synth_raw``), or the datasets' names.

    >>> benchmark_name(["casme2", "samm"]), benchmark_name(["synth"], "/data/synth_raw"), benchmark_name(["synth"])
    ('composite', 'synth_raw', 'synth')
    """
    from causalnet.data.composite import DATASETS

    present = sorted({str(d) for d in datasets if d})
    if present and set(present) <= set(DATASETS):
        return COMPOSITE
    if data and Path(data).name:
        return Path(data).name
    return "+".join(present) or "all clips"


def pooled_note(runs: int, predictions: int, clips: int) -> str:
    """What a confusion matrix pools: ``pooled over 5 runs: n = 2,210 predictions of 442 clips``.

    >>> pooled_note(5, 2210, 442), pooled_note(1, 442, 442)
    ('pooled over 5 runs: n = 2,210 predictions of 442 clips', 'one run: n = 442 clips')
    """
    if runs > 1:
        return f"pooled over {runs} runs: n = {predictions:,} predictions of {clips:,} clips"
    return f"one run: n = {clips:,} clips" if predictions == clips else f"one run: n = {predictions:,} predictions"


def several_runs(group: Mapping[str, Any]) -> bool:
    """Whether a metrics group summarises more than one run (so that ``± std`` means something)."""
    runs = group.get("runs")
    return isinstance(group.get("std"), dict) and "mean" in group and not (isinstance(runs, list) and len(runs) < 2)


def _cell(group: dict, metric: str) -> str:
    if several_runs(group):
        return f"{100 * group['mean'][metric]:6.2f} ± {100 * group['std'][metric]:5.2f}"
    return f"{100 * group[metric]:6.2f}"


def metrics_table(metrics: dict, groups: Sequence[str] = (COMPOSITE, "casme2", "smic", "samm"),
                  benchmark: str = COMPOSITE) -> str:
    """Rows per group with UF1/UAR/ACC in % (mean ± std when several runs, "one run" said otherwise); the
    pooled group is labelled ``benchmark`` (:func:`benchmark_name`)."""
    runs = int(metrics.get("runs", 1) or 1)
    spread = f"mean ± std over {runs} runs" if runs > 1 else "one run"
    width = max(10, len(benchmark) + (len(" (all)") if benchmark != COMPOSITE else 0))
    lines = [f"protocol: {protocol_label(metrics.get('protocol', '?'))}",
             f"{'':{width}s} {'UF1 %':>15s} {'UAR %':>15s} {'ACC %':>15s} {'n':>5s}   ({spread})"]
    for name in groups:
        if name in metrics:
            g = metrics[name]
            label = name if name != COMPOSITE else (benchmark if benchmark == COMPOSITE else f"{benchmark} (all)")
            lines.append(f"{label:{width}s} {_cell(g, 'uf1'):>15s} {_cell(g, 'uar'):>15s} {_cell(g, 'acc'):>15s}"
                         f" {g['n']:5d}")
    return "\n".join(lines)


def condition_table(per_condition: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str] | None = None) -> str:
    """One model's results under several conditions (rows), each condition evaluated on its own (never
    pooled): UF1/UAR/ACC in % of all its clips, n. ``per_condition``: condition -> metrics dict
    (:func:`causalnet.eval.predictions.metrics_from_rows`); ``labels``: display names of the conditions.

    >>> print(condition_table({"sigma0": {"runs": 1, "composite": {"uf1": 0.5, "uar": 0.5, "acc": 0.5, "n": 4}}}))
    condition            UF1 %           UAR %           ACC %     n
    sigma0               50.00           50.00           50.00     4
    """
    labels = labels or {}
    width = max(10, *(len(labels.get(c, c)) for c in per_condition)) if per_condition else 10
    lines = [f"{'condition':{width}s} {'UF1 %':>15s} {'UAR %':>15s} {'ACC %':>15s} {'n':>5s}"]
    for condition, metrics in per_condition.items():
        g = metrics[COMPOSITE]
        lines.append(f"{labels.get(condition, condition):{width}s} {_cell(g, 'uf1'):>15s} {_cell(g, 'uar'):>15s} "
                     f"{_cell(g, 'acc'):>15s} {g['n']:5d}")
    return "\n".join(lines)


def confusion_table(matrix: np.ndarray, class_names: Sequence[str]) -> str:
    """A confusion matrix with class names; rows are the true class, columns the prediction."""
    width = max(8, *(len(c) for c in class_names)) + 1
    head = "true \\ pred".ljust(width + 2) + "".join(c.rjust(width) for c in class_names)
    rows = [c.ljust(width + 2) + "".join(str(v).rjust(width) for v in row)
            for c, row in zip(class_names, matrix, strict=True)]
    return "\n".join([head, *rows])


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> str:
    """Precision, recall, F1 and support per class."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(len(class_names))),
                                                 zero_division=0)
    lines = [f"{'class':10s} {'prec %':>8s} {'recall %':>9s} {'F1 %':>8s} {'n':>5s}"]
    for i, name in enumerate(class_names):
        lines.append(f"{name:10s} {100 * p[i]:8.2f} {100 * r[i]:9.2f} {100 * f[i]:8.2f} {int(s[i]):5d}")
    return "\n".join(lines)
