"""Paired comparison of runs on the same clips: bootstrap over subjects and a permutation test.

LOSO tests every subject once, so the subject is the unit of resampling. Everything works on
per-subject confusion matrices ``[runs, subjects, C, C]``: a resample of subjects is a weighted sum
of them, and UF1/UAR/ACC follow from the pooled matrix (:func:`confusion_metrics`, equal to
:func:`causalnet.eval.metrics.compute_metrics` on the pooled predictions — tested). A run folder with
several seeds scores as the mean over its runs, as ``metrics.json`` does.

- **Bootstrap** (:func:`paired_bootstrap`): draw ``S`` subjects with replacement (the same draw for
  both runs and every seed), recompute ΔUF1/ΔUAR/ΔACC = B − A; the 95 % interval is the 2.5th and
  97.5th percentile of ``n_boot`` draws.
- **Permutation test** (:func:`paired_permutation`): under "no difference" A's and B's predictions of
  a subject are exchangeable; each draw swaps them for a random set of subjects (a sign flip of the
  subject's contribution) and recomputes Δ. Two-sided p = share of draws with ``|Δ| ≥ |Δ observed|``
  (``(1 + count) / (1 + n)`` for random draws; exact enumeration when ``2**S ≤ n_perm``). Runs with
  several seeds are paired by run index (seed ``r`` of A with seed ``r`` of B; with unequal counts
  only the first ``min`` runs enter the test).
- **Small samples** (:data:`MIN_SUBJECTS`): below that many subjects no interval is given
  (:func:`small_sample`): a percentile bootstrap over S subjects has only C(2S−1, S) distinct resamples
  (10 for 3 subjects), is degenerate with one subject (``[Δ, Δ]``) and covers far less than 95 %; the
  test is then always the exact enumeration of all ``2**S`` swaps, whose smallest reachable p is
  ``2 / 2**S`` (:func:`smallest_p`). At or above it, an interval and a test that disagree at the 5 % level are
  flagged (:func:`disagreement`) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from causalnet.eval.metrics import METRICS

#: Two-sided confidence level of the bootstrap interval.
CONFIDENCE = 0.95
#: Default numbers of bootstrap draws and permutations, and the default seed.
N_BOOT = 10_000
N_PERM = 10_000
SEED = 0
#: Fewest subjects for which a bootstrap interval is given. Below it the exact sign-flip test cannot
#: reach p < 0.05 at 5 subjects or fewer (smallest p = 2 / 2**S), and the percentile bootstrap over subjects
#: has too few distinct resamples to cover 95 %; 10 subjects give 1024 swaps (smallest p ≈ 0.002) and about
#: 25 swaps in each 2.5 % tail. See docs/reports.md.
MIN_SUBJECTS = 10
#: Level at which an interval and a p-value are checked for agreement.
ALPHA = 1 - CONFIDENCE


def confusion_metrics(conf: np.ndarray) -> dict[str, np.ndarray]:
    """UF1, UAR and ACC of confusion matrices ``[..., C, C]`` (rows: true class) -> arrays ``[...]``.

    Macro averages run over the classes present in the truth or the predictions, with F1 and recall
    0 for a class that is predicted but absent from the truth (scikit-learn's defaults with
    ``zero_division=0``, as :mod:`causalnet.eval.metrics`).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    support = conf.sum(axis=-1)
    predicted = conf.sum(axis=-2)
    present = (support + predicted) > 0
    n_present = np.maximum(present.sum(axis=-1), 1)
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=(support + predicted) > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = support.sum(axis=-1)
    return {"uf1": (f1 * present).sum(axis=-1) / n_present,
            "uar": (recall * present).sum(axis=-1) / n_present,
            "acc": np.divide(tp.sum(axis=-1), total, out=np.full_like(total, np.nan), where=total > 0)}


def subject_confusions(labels: np.ndarray, preds: np.ndarray, subject_index: np.ndarray, n_subjects: int,
                       num_classes: int) -> np.ndarray:
    """Per-subject confusion matrices ``[n_subjects, C, C]`` of one run's predictions."""
    conf = np.zeros((n_subjects, num_classes, num_classes), np.int64)
    np.add.at(conf, (subject_index, labels, preds), 1)
    return conf


@dataclass
class PairedData:
    """Two runs' per-subject confusion matrices on the same subjects: ``a [Ra, S, C, C]``, ``b [Rb, S, C, C]``."""

    a: np.ndarray
    b: np.ndarray
    subjects: list[str]

    def __post_init__(self) -> None:
        if self.a.shape[1:] != self.b.shape[1:]:
            raise ValueError(f"runs differ in subjects or classes: {self.a.shape[1:]} vs {self.b.shape[1:]}")


def _score(conf: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Mean over runs of the metrics of subject-weighted pooled confusions: ``weights [D, S]`` -> ``[D]``."""
    r, s, c, _ = conf.shape
    pooled = np.einsum("ds,rsk->drk", weights, conf.reshape(r, s, c * c).astype(np.float64))
    m = confusion_metrics(pooled.reshape(len(weights), r, c, c))
    return {k: v.mean(axis=1) for k, v in m.items()}


def observed_difference(data: PairedData) -> dict[str, float]:
    """ΔUF1/ΔUAR/ΔACC = B − A on all subjects (each run folder: mean over its runs)."""
    ones = np.ones((1, len(data.subjects)))
    a, b = _score(data.a, ones), _score(data.b, ones)
    return {k: float(b[k][0] - a[k][0]) for k in METRICS}


def paired_bootstrap(data: PairedData, n_boot: int = N_BOOT, seed: int = SEED,
                     confidence: float = CONFIDENCE, chunk: int = 2_000) -> dict[str, dict[str, float]]:
    """Percentile bootstrap over subjects of Δ = B − A: per metric ``{"low", "high", "se"}``."""
    s = len(data.subjects)
    rng = np.random.default_rng(seed)
    deltas = {k: [] for k in METRICS}
    for start in range(0, n_boot, chunk):
        weights = rng.multinomial(s, np.full(s, 1.0 / s), size=min(chunk, n_boot - start)).astype(np.float64)
        a, b = _score(data.a, weights), _score(data.b, weights)
        for k in METRICS:
            deltas[k].append(b[k] - a[k])
    tail = 100 * (1 - confidence) / 2
    out = {}
    for k in METRICS:
        d = np.concatenate(deltas[k])
        d = d[np.isfinite(d)]
        low, high = np.percentile(d, [tail, 100 - tail]) if len(d) else (np.nan, np.nan)
        out[k] = {"low": float(low), "high": float(high), "se": float(d.std(ddof=1)) if len(d) > 1 else 0.0}
    return out


def small_sample(subjects: int) -> bool:
    """Whether ``subjects`` is below :data:`MIN_SUBJECTS` (no interval; the test is exact)."""
    return subjects < MIN_SUBJECTS


def smallest_p(subjects: int) -> float:
    """The smallest two-sided p the exact sign-flip test over ``subjects`` can give: ``2 / 2**S`` (the
    identity and the swap of every subject both reach ``|Δ observed|``), 1 with one subject.

    >>> smallest_p(3), smallest_p(10)
    (0.25, 0.001953125)
    """
    return min(1.0, 2.0 / 2**subjects)


def no_interval(reason: str) -> dict[str, dict[str, Any]]:
    """The interval entry of a group too small for one: per metric ``low``/``high``/``se`` None and why."""
    return {k: {"low": None, "high": None, "se": None, "reason": reason} for k in METRICS}


def disagreement(ci: dict[str, Any], p: float, alpha: float = ALPHA) -> str:
    """Why an interval and a p-value seem to disagree at level ``alpha`` (an interval excluding 0 beside
    ``p ≥ alpha``, or one holding 0 beside ``p < alpha``), or "" when they agree or there is no interval.

    >>> disagreement({"low": 0.01, "high": 0.2}, 0.25)[:40]
    'the bootstrap interval excludes 0 but th'
    >>> disagreement({"low": -0.01, "high": 0.2}, 0.25)
    ''
    """
    low, high = ci.get("low"), ci.get("high")
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    excludes = low > 0 or high < 0
    if excludes and p >= alpha:
        return ("the bootstrap interval excludes 0 but the permutation test does not reject: the percentile "
                "bootstrap over few subjects is too narrow (it resamples the observed subjects only); trust the "
                "exact or permutation p")
    if not excludes and p < alpha:
        return ("the permutation test rejects but the bootstrap interval holds 0: the two answer different "
                "questions (no difference at all vs. the size of the difference); report both")
    return ""


def paired_permutation(data: PairedData, n_perm: int = N_PERM, seed: int = SEED,
                       chunk: int = 2_000) -> dict[str, Any]:
    """Two-sided paired permutation (subject-wise swap) test of Δ = B − A: per metric its p-value,
    plus ``"exact"`` (all ``2**S`` swaps enumerated: always below :data:`MIN_SUBJECTS` subjects),
    ``"draws"``, ``"runs"`` (seed pairs used) and ``"smallest_p"`` (the exact test's smallest reachable p)."""
    runs = min(len(data.a), len(data.b))
    a, b = data.a[:runs].astype(np.float64), data.b[:runs].astype(np.float64)
    s = len(data.subjects)
    ones = np.ones((1, s))
    observed = {k: abs(v[0] - u[0]) for (k, v), u in zip(_score(b, ones).items(), _score(a, ones).values(),
                                                            strict=True)}
    exact = 2**s <= n_perm or small_sample(s)
    rng = np.random.default_rng(seed)
    if exact:
        batches = [np.array(list(product((0.0, 1.0), repeat=s)))] if s else [np.zeros((1, 0))]
    else:
        batches = [rng.integers(0, 2, size=(min(chunk, n_perm - i), s)).astype(np.float64)
                   for i in range(0, n_perm, chunk)]
    hits = dict.fromkeys(METRICS, 0)
    draws = 0
    for swap in batches:
        keep = 1.0 - swap
        # swapped runs: A' takes B's predictions on the swapped subjects and B' takes A's
        sa = _mix(a, b, keep, swap)
        sb = _mix(b, a, keep, swap)
        for k in METRICS:
            hits[k] += int((np.abs(sb[k] - sa[k]) >= observed[k] - 1e-12).sum())
        draws += len(swap)
    if exact:
        p = {k: hits[k] / draws for k in METRICS}
    else:
        p = {k: (1 + hits[k]) / (1 + draws) for k in METRICS}
    return {"p": p, "exact": exact, "draws": draws, "runs": runs, "smallest_p": smallest_p(s) if exact else None}


def _mix(own: np.ndarray, other: np.ndarray, keep: np.ndarray, swap: np.ndarray) -> dict[str, np.ndarray]:
    r, s, c, _ = own.shape
    flat = lambda x: x.reshape(r, s, c * c)
    pooled = np.einsum("ds,rsk->drk", keep, flat(own)) + np.einsum("ds,rsk->drk", swap, flat(other))
    m = confusion_metrics(pooled.reshape(len(keep), r, c, c))
    return {k: v.mean(axis=1) for k, v in m.items()}


@dataclass
class SeedSpread:
    """Per-run scores of each side and the standard error of Δ from the seeds alone."""

    a: dict[str, list[float]]
    b: dict[str, list[float]]
    se: dict[str, float] = field(default_factory=dict)
    paired: dict[str, list[float]] = field(default_factory=dict)


def seed_spread(data: PairedData) -> SeedSpread:
    """Each run's score on all subjects; ``se`` = sqrt(var_A/R_A + var_B/R_B) (sample variances over
    runs; NaN with one run on a side) and, when the run counts agree, Δ of each seed pair."""
    ones = np.ones((1, len(data.subjects)))

    def per_run(conf: np.ndarray) -> dict[str, np.ndarray]:
        m = confusion_metrics(np.einsum("ds,rsij->rij", ones, conf.astype(np.float64)))
        return m

    a, b = per_run(data.a), per_run(data.b)
    se = {}
    for k in METRICS:
        if len(a[k]) > 1 and len(b[k]) > 1:
            se[k] = float(np.sqrt(a[k].var(ddof=1) / len(a[k]) + b[k].var(ddof=1) / len(b[k])))
        else:
            se[k] = float("nan")
    paired = {k: (b[k] - a[k]).tolist() for k in METRICS} if len(data.a) == len(data.b) else {}
    return SeedSpread({k: v.tolist() for k, v in a.items()}, {k: v.tolist() for k, v in b.items()}, se, paired)
