"""Epoch-selection protocols applied to per-epoch test predictions of one fold.

- ``fixed`` (honest): the final epoch of the configured schedule; test labels unused.
- ``val`` (honest): each ensemble member uses the epoch with the best UF1 on its own validation
  subjects (a group of *training* subjects it did not train on; ties go to the lower validation
  loss, then the earlier epoch). Needs ``train.member_validation``.
- ``oracle``: the reference implementation's selection (SPEC §5): the earliest epoch with the
  highest accuracy *on the test subject* (training stops at 100 %). It looks at test labels, so its
  numbers are optimistic; it exists only to compare with published numbers.

A fold is anything with ``probs [members, epochs, n, C]``, ``labels [n]``, ``val_uf1`` and
``val_nll [members, epochs]`` (:class:`causalnet.engine.FoldResult`).
"""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("fixed", "val", "oracle")
#: The protocols that never look at a test label.
HONEST_PROTOCOLS = ("fixed", "val")


def check_protocol(protocol: str, allowed: tuple[str, ...] = PROTOCOLS) -> str:
    """``protocol`` if it is one of ``allowed``; a clear error otherwise."""
    if protocol not in allowed:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(allowed)}")
    return protocol


def select_epoch(history: np.ndarray, labels: np.ndarray, protocol: str) -> int:
    """Index of the epoch whose predictions ``fixed`` or ``oracle`` uses; ``history`` is ``[epochs, n, C]``."""
    if protocol == "fixed":
        return history.shape[0] - 1
    if protocol == "oracle":
        accuracy = (history.argmax(-1) == labels[None, :]).mean(axis=1)
        return int(np.argmax(accuracy))  # first epoch reaching the best accuracy
    raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")


def validation_epoch(val_uf1: np.ndarray, val_nll: np.ndarray) -> int:
    """The epoch with the best validation UF1, ties broken by lower validation loss, then earlier."""
    if np.isnan(val_uf1).all():
        raise ValueError("protocol 'val' needs validation scores, and this fold has none (it was trained "
                         "without member validation); use --protocol fixed")
    return int(np.lexsort((np.arange(len(val_uf1)), val_nll, -val_uf1))[0])


def select_probs(fold, protocol: str) -> tuple[np.ndarray, int]:
    """Test probabilities ``[n, C]`` of a fold under ``protocol`` and the (last member's) chosen epoch.

    Ensemble members' probabilities are averaged: at the final epoch (``fixed``), at each member's
    best validation epoch (``val``), or at the epoch where the averaged ensemble is most accurate on
    the test subject (``oracle``).
    """
    if protocol == "val":
        epochs = [validation_epoch(u, n) for u, n in zip(fold.val_uf1, fold.val_nll, strict=True)]
        return np.mean([p[e] for p, e in zip(fold.probs, epochs, strict=True)], axis=0), epochs[-1]
    ensemble = fold.probs.mean(axis=0)
    epoch = select_epoch(ensemble, fold.labels, protocol)
    return ensemble[epoch], epoch


def validation_scores(history: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch UF1 and mean negative log-likelihood of ``history [epochs, n, C]`` against ``labels [n]``."""
    from sklearn.metrics import f1_score

    uf1 = np.array([f1_score(labels, h.argmax(-1), average="macro", zero_division=0) for h in history])
    nll = -np.log(np.take_along_axis(history, labels[None, :, None], axis=2)[..., 0] + 1e-12).mean(axis=1)
    return uf1, nll
