"""Evaluation: protocols, pooling of probabilities, metrics on pooled predictions, the predictions file, tables.

Exports are imported lazily (scikit-learn only when a metric is computed).
"""

from causalnet._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("compute_metrics", "confusion", "grouped_metrics", "summarise_runs"), "metrics"),
    **dict.fromkeys(("metrics_from_rows", "predictions_csv", "read_predictions", "write_predictions"), "predictions"),
    **dict.fromkeys(("POOLINGS", "pool"), "pool"),
    **dict.fromkeys(("HONEST_PROTOCOLS", "PROTOCOLS", "select_epoch", "select_probs", "validation_epoch"),
                    "protocols"),
    **dict.fromkeys(("confusion_table", "metrics_table", "per_class_table", "protocol_label"), "report"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
