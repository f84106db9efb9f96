"""Plain-text tables of LOSO results, the way papers print them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PROTOCOL_LABELS = {
    "fixed": "fixed (honest: final epoch, no test labels used)",
    "val": "val (honest: each member's best epoch on its held-out training subjects)",
    "oracle": "ORACLE (best epoch chosen on each test subject: optimistic, not a valid estimate)",
}


def protocol_label(protocol: str) -> str:
    """A human label for a protocol; the oracle one always says it is optimistic."""
    return PROTOCOL_LABELS.get(protocol, protocol)


def _cell(group: dict, metric: str) -> str:
    if "std" in group:
        return f"{100 * group['mean'][metric]:6.2f} ± {100 * group['std'][metric]:5.2f}"
    return f"{100 * group[metric]:6.2f}"


def metrics_table(metrics: dict, groups: Sequence[str] = ("composite", "casme2", "smic", "samm")) -> str:
    """Rows per group with UF1/UAR/ACC in % (mean ± std when several runs)."""
    lines = [f"protocol: {protocol_label(metrics.get('protocol', '?'))}",
             f"{'':10s} {'UF1 %':>15s} {'UAR %':>15s} {'ACC %':>15s} {'n':>5s}"]
    for name in groups:
        if name in metrics:
            g = metrics[name]
            lines.append(f"{name:10s} {_cell(g, 'uf1'):>15s} {_cell(g, 'uar'):>15s} {_cell(g, 'acc'):>15s}"
                         f" {g['n']:5d}")
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
