"""Epoch-selection protocols applied to per-epoch test predictions of one fold.

- ``fixed`` (default, honest): the final epoch of the configured schedule; test labels unused.
- ``oracle``: the reference implementation's selection (SPEC §5): the earliest epoch with the
  highest accuracy *on the test subject* (training stops at 100 %). It looks at test labels, so its
  numbers are optimistic; it exists only to compare with published numbers.
"""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("fixed", "oracle")


def select_epoch(history: np.ndarray, labels: np.ndarray, protocol: str) -> int:
    """Index of the epoch whose predictions a protocol uses; ``history`` is ``[epochs, n, C]``."""
    if protocol == "fixed":
        return history.shape[0] - 1
    if protocol == "oracle":
        accuracy = (history.argmax(-1) == labels[None, :]).mean(axis=1)
        return int(np.argmax(accuracy))  # first epoch reaching the best accuracy
    raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
