"""Group-wise input centring: remove each subject's (or each source dataset's) mean input pattern.

Micro-expression flow images carry, besides the expression, what is constant for a person or a
recording set-up: the face's shape after alignment, residual head motion, the camera. Subtracting the
mean input of the clip's group (a subject, or a source dataset) and adding back the overall mean keeps
the value range the model expects and removes that constant part (a known remedy for identity bias in
this field). Labels are never used.

Two ways to use it (``train.input_norm``):

- ``"subject"``: the groups are subjects, and every subject's mean comes from all its clips, the test
  subject's included. That uses the test subject's *unlabelled* inputs: a **transductive** setting
  (it needs a batch of clips of the person to be classified), stated wherever it is reported.
- ``"dataset"``: the groups are source datasets (CASME II, SMIC, SAMM), and the means come from the
  training subjects only (the test subject's clips are centred with their dataset's training mean):
  not transductive.

Mirrored rows (:mod:`causalnet.data.mirror`) form groups of their own, so a mirrored clip is centred
with the mean of its group's mirror images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INPUT_NORMS", "center_groups"]

#: choices of ``train.input_norm``
INPUT_NORMS = ("none", "subject", "dataset")


def center_groups(x: np.ndarray, groups: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
    """``x`` with each group's mean input replaced by the overall mean (float32, same shape).

    Args:
        x: inputs ``[N, ...]``.
        groups: group label of each row ``[N]`` (any hashable values).
        fit: optional boolean mask ``[N]`` of the rows whose values the means are taken from (default:
            all). A group without such rows is left as it is; the overall mean is that of the ``fit`` rows.

    Returns:
        ``x - mean(x[fit & group]) + mean(x[fit])`` row-wise, per group.
    """
    x = np.asarray(x, dtype=np.float32)
    groups = np.asarray(groups)
    if groups.shape != (len(x),):
        raise ValueError(f"groups must have one entry per row ({len(x)}), got shape {groups.shape}")
    fit = np.ones(len(x), bool) if fit is None else np.asarray(fit, bool)
    if fit.shape != (len(x),) or not fit.any():
        raise ValueError("fit must be a boolean mask [N] selecting at least one row")
    overall = x[fit].mean(axis=0, dtype=np.float64)
    out = x.copy()
    for g in np.unique(groups):
        rows = groups == g
        source = rows & fit
        if source.any():
            out[rows] += (overall - x[source].mean(axis=0, dtype=np.float64)).astype(np.float32)
    return out
