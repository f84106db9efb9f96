"""Evaluation: metrics on pooled predictions, tables and reports."""

from causalnet.eval.metrics import compute_metrics, confusion, grouped_metrics, summarise_runs
from causalnet.eval.report import confusion_table, metrics_table, per_class_table, protocol_label

__all__ = ["compute_metrics", "confusion", "confusion_table", "grouped_metrics", "metrics_table",
           "per_class_table", "protocol_label", "summarise_runs"]
