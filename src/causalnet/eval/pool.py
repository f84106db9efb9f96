"""Pooling of several probability vectors for one item (ensemble members, test-time views) into one.

>>> import numpy as np
>>> pool(np.array([[0.8, 0.2], [0.4, 0.6]])).tolist()
[0.6000000000000001, 0.4]
"""

from __future__ import annotations

import numpy as np

__all__ = ["POOLINGS", "pool"]

#: The pooling rules :func:`pool` knows.
POOLINGS = ("confidence", "mean")


def pool(probs: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """Pool ensemble probabilities ``[K, C]`` into ``[C]``: ``mean``, or ``confidence``-weighted
    (weights ``max_c p_c − 1/C``, the plain mean when every member is flat)."""
    if pooling == "mean" or len(probs) == 1:
        return probs.mean(axis=0)
    if pooling != "confidence":
        raise ValueError(f"unknown pooling {pooling!r}")
    weights = probs.max(axis=1) - 1.0 / probs.shape[1]
    if weights.sum() <= 0:
        return probs.mean(axis=0)
    return (weights[:, None] * probs).sum(axis=0) / weights.sum()
