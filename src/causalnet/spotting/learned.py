"""The learned spotter: a small model that decides which candidate peaks are micro-expressions.

Candidates are the peaks of the contrasted signal ``C`` above a low, recording-relative threshold
(``median + threshold × σ`` of ``C`` around the peak, σ from the median absolute deviation — the
recording's own noise floor). Each candidate is described by :data:`FEATURE_NAMES` — numbers that do
not depend on where the eyes or the mouth are, on the frame rate (durations in seconds) or on the
brightness or noise of the recording (strengths relative to its noise floor):

- ``z_score``, ``z_feature``: the peak of ``C`` and of ``F`` over the local noise floor σ (log);
- ``width_s``, ``rise_s``, ``fall_s``: the span where ``F`` stays above half its peak, and its two halves;
- ``global_motion``: the largest global translation within ``k`` frames (log, fraction of the side);
- ``spread``: the median block's change over the top blocks' (a change of the whole face: lighting, head);
- ``concentration``: the share of the two most changed blocks in the summed change;
- ``symmetry``: correlation of the block changes with their left-right mirror (blinks are symmetric);
- ``upper``, ``lower``: the share of the change in the upper and lower third of the face;
- ``neighbours``: other peaks above the same threshold within ``context_s`` (talking, chewing repeat);
- ``persistence``: how much of the change remains ``micro_max_s`` after the onset (macro-expressions);
- ``flow_local``, ``flow_return``, ``flow_global`` (:func:`flow_features`, optical flow of the down-scaled faces
  ``k`` frames before the peak → the peak → ``k`` frames after): how much more the most moving blocks move than
  the median block (log ratio), how much of their motion returns (a micro-expression's relaxation undoes its
  contraction; a head move or a held expression does not), the median block's motion.

The model is a logistic regression on the standardised features (:class:`CandidateModel`), fitted on
the candidates of training recordings labelled by whether their interval matches an annotated
micro-expression (IoU ≥ 0.5); its acceptance probability is chosen on the training recordings too.
Models are JSON files; the shipped one (``models/generators.json``) was fitted on the five synthetic
generators of :mod:`causalnet.synth.long_generators` (``benchmarks/spotting_logo.py --save-model``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from causalnet.checks import path_part_problem
from causalnet.io import read_json, write_text_atomic

__all__ = ["FEATURE_NAMES", "FEATURE_SETS", "CandidateModel", "candidate_features", "fit_model", "flow_features",
           "load_model"]

log = logging.getLogger(__name__)

#: the features of the block intensity signals (:func:`candidate_features`)
SIGNAL_FEATURES = ("z_score", "z_feature", "width_s", "rise_s", "fall_s", "global_motion", "spread",
                   "concentration", "symmetry", "upper", "lower", "neighbours", "persistence")
#: the optical-flow features (:func:`flow_features`)
FLOW_FEATURES = ("flow_local", "flow_return", "flow_global")
FEATURE_NAMES = SIGNAL_FEATURES + FLOW_FEATURES

#: seconds on either side of a candidate in which other peaks are counted (``neighbours``); no more than the
#: spotter's ``lookahead_s`` ahead, so that a streamed decision sees what an offline one does
CONTEXT_S = 1.0


def _mirror_index(rows: int, cols: int) -> np.ndarray:
    idx = np.arange(rows * cols).reshape(rows, cols)
    return idx[:, ::-1].ravel()


def candidate_features(*, c: np.ndarray, f: np.ndarray, g: np.ndarray, blocks: np.ndarray, valid: np.ndarray,
                       grid: tuple[int, int], p: int, sigma: float, k: int, fps: float, threshold: float,
                       persistence: float, ahead: int, min_gap_s: float = 0.15) -> np.ndarray:
    """The :data:`SIGNAL_FEATURES` of the candidate at frame ``p``.

    Args:
        c, f, g: the contrast, feature-difference and global-motion signals (:class:`SpotSignals`).
        blocks: the per-block differences at the peak ``[rows × cols]``.
        valid: which blocks count.
        grid: ``(rows, cols)``.
        p: the candidate's frame.
        sigma: the local noise floor of ``c`` (1.4826 × MAD).
        k: the window half-length in frames.
        fps: the frame rate.
        threshold: the detection threshold (absolute) around ``p``, for ``neighbours``.
        persistence: :meth:`Spotter._persistence` of the candidate.
        ahead: frames after ``p`` that may be read (the spotter's decision lag: a streamed decision has no more).
        min_gap_s: peaks closer than this are one (``SpotConfig.min_gap_s``).
    """
    eps = 1e-6
    s = max(sigma, eps)
    z_score = np.log1p(max(c[p], 0.0) / s)
    z_feature = np.log1p(max(f[p], 0.0) / s)
    half = 0.5 * f[p]
    left = p
    span = int(round(0.6 * fps))
    while left > max(0, p - span) and f[left - 1] >= half:
        left -= 1
    right = p
    while right < min(f.size - 1, p + span) and f[right + 1] >= half:
        right += 1
    rise_s, fall_s = (p - left) / fps, (right - p) / fps
    motion = float(g[max(0, p - k) : p + k + 1].max()) if g.size else 0.0
    b = np.where(valid, np.maximum(blocks, 0.0), 0.0)
    vals = b[valid]
    top = np.sort(vals)[::-1]
    spread = float(np.median(vals) / max(top[:2].mean(), eps))
    concentration = float(top[:2].sum() / max(vals.sum(), eps))
    rows, cols = grid
    mirrored = b[_mirror_index(rows, cols)]
    both = valid & valid[_mirror_index(rows, cols)]
    x, y = b[both] - b[both].mean(), mirrored[both] - mirrored[both].mean()
    symmetry = float((x * y).sum() / max(np.sqrt((x * x).sum() * (y * y).sum()), eps))
    per_row = b.reshape(rows, cols).sum(axis=1)
    third = max(1, rows // 3)
    total = max(float(per_row.sum()), eps)
    upper, lower = float(per_row[:third].sum() / total), float(per_row[rows - third :].sum() / total)
    ctx = int(round(CONTEXT_S * fps))
    lo, hi = max(1, p - ctx), min(c.size - 1, p + min(ctx, ahead - 1))
    seg = c[lo - 1 : hi + 1]
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > threshold)) + lo
    # peaks as the spotter sees them: each the highest within ``gap`` frames on either side, not the candidate
    gap = max(1, int(round(min_gap_s * fps)))
    distinct = [q for q in peaks if abs(q - p) > gap and c[q] >= c[max(0, q - gap) : q + gap + 1].max()]
    neighbours = float(len(distinct))
    return np.array([z_score, z_feature, rise_s + fall_s, rise_s, fall_s, np.log(motion + 1e-3), spread,
                     concentration, symmetry, upper, lower, np.log1p(neighbours), min(persistence, 3.0)],
                    dtype=np.float64)


def flow_features(before: np.ndarray, peak: np.ndarray, after: np.ndarray,
                  block_means: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """:data:`FLOW_FEATURES` of a candidate from three down-scaled faces ``[s, s]`` (float, brightness-normalised):
    ``k`` frames before its peak, the peak, ``k`` frames after.

    Farnebäck flows ``u`` (before → peak) and ``v`` (peak → after), averaged per block by ``block_means``
    (``[m, s, s]`` → ``[m, blocks]``, the blocks that count). With ``|u|_b`` the per-block magnitudes and ``T`` the
    two blocks moving most in ``u``:

    - ``flow_local = log((mean_T |u|_b + ε) / (median_b |u|_b + ε))`` — motion of a part of the face, not all of it;
    - ``flow_return = −u_T·v_T / ‖u_T‖²`` (clipped to ±2) — how much of the motion is undone: +1 when it returns,
      0 when it stays (a projection, not a cosine: a near-zero ``v`` has a direction too);
    - ``flow_global = log(median_b |u|_b + ε)`` — the whole face moving (pixels of the ``s``-pixel face).
    """
    eps = 1e-3

    def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a8, b8 = (np.clip(x * 128.0, 0, 255).astype(np.uint8) for x in (a, b))
        return cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, 2, 9, 3, 5, 1.1, 0)

    u, v = flow(before, peak), flow(peak, after)
    ub = np.stack([block_means(u[None, ..., 0])[0], block_means(u[None, ..., 1])[0]], axis=1)  # [blocks, 2]
    vb = np.stack([block_means(v[None, ..., 0])[0], block_means(v[None, ..., 1])[0]], axis=1)
    mag = np.hypot(ub[:, 0], ub[:, 1])
    top = np.argsort(mag)[::-1][:2]
    med = float(np.median(mag))
    ut, vt = ub[top].ravel(), vb[top].ravel()
    ret = float(np.clip(-(ut @ vt) / max(float(ut @ ut), 1e-9), -2.0, 2.0))
    return np.array([np.log((mag[top].mean() + eps) / (med + eps)), ret, np.log(med + eps)], dtype=np.float64)


#: feature subsets a model may use (chosen on training generators like any setting): ``all``; ``intensity``, the
#: block-intensity features alone (the shipped model of 2026-12-07); or those without the features that say where
#: on the face the change is (``no-location``: upper, lower, symmetry)
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all": FEATURE_NAMES,
    "intensity": SIGNAL_FEATURES,
    "no-location": tuple(n for n in SIGNAL_FEATURES if n not in ("upper", "lower", "symmetry")),
}


@dataclass
class CandidateModel:
    """Logistic regression on standardised candidate features (``use``: the names of those it reads, a subset
    of :data:`FEATURE_NAMES`); ``accept``: the probability above which a candidate is an expression (chosen on
    the training recordings)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    accept: float
    info: dict
    use: tuple[str, ...] = FEATURE_NAMES

    @property
    def columns(self) -> np.ndarray:
        return np.array([FEATURE_NAMES.index(n) for n in self.use])

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(micro-expression) of feature rows ``x`` ``[n, len(FEATURE_NAMES)]`` (or one row)."""
        z = (np.atleast_2d(x)[:, self.columns] - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.weights + self.bias)))

    def to_dict(self) -> dict:
        return {"features": list(self.use), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias, "accept": self.accept, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict) -> CandidateModel:
        use = tuple(d.get("features", []))
        if not use or any(n not in FEATURE_NAMES for n in use):
            raise ValueError(f"spotter model features {d.get('features')} are not a subset of {list(FEATURE_NAMES)}")
        return cls(np.asarray(d["mean"]), np.asarray(d["scale"]), np.asarray(d["weights"]), float(d["bias"]),
                   float(d["accept"]), dict(d.get("info", {})), use)

    def save(self, path: str | os.PathLike) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")


def fit_model(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, l2: float = 1.0,
              iterations: int = 500, info: dict | None = None, use: str = "all") -> CandidateModel:
    """Fit the logistic regression (L2 penalty ``l2`` on the weights, Newton steps) on features ``x``
    ``[n, len(FEATURE_NAMES)]`` (the columns of :data:`FEATURE_SETS` ``[use]``) and labels ``y`` (1: the candidate
    is a micro-expression); ``accept`` maximises the F1 of the training candidates (averaged over ``groups``,
    e.g. generators, when given: each counts alike)."""
    if use not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {use!r}; choose from {sorted(FEATURE_SETS)}")
    names = FEATURE_SETS[use]
    full = np.asarray(x, np.float64)
    x, y = full[:, [FEATURE_NAMES.index(n) for n in names]], np.asarray(y, np.float64)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("fitting the spotter model needs candidates of both kinds")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        pr = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (pr - y) + reg * w
        hess = (z * (pr * (1 - pr))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    model = CandidateModel(mean, scale, w[:-1], float(w[-1]), 0.5, {**(info or {}), "feature_set": use}, names)
    prob = model.probability(full)
    groups = np.zeros(len(x), int) if groups is None else np.asarray(groups)
    best = (-1.0, 0.5)
    for a in np.round(np.arange(0.1, 0.91, 0.05), 2):
        f1s = []
        for gname in np.unique(groups):
            sel = groups == gname
            tp = float(np.sum((prob[sel] > a) & (y[sel] == 1)))
            n_pred, n_pos = float(np.sum(prob[sel] > a)), float(np.sum(y[sel] == 1))
            f1s.append(2 * tp / (n_pred + n_pos) if n_pred + n_pos else 0.0)
        if np.mean(f1s) > best[0] + 1e-9:
            best = (float(np.mean(f1s)), float(a))
    model.accept = best[1]
    model.info["train_candidate_f1"] = round(best[0], 4)
    return model


#: the shipped model (``src/causalnet/spotting/models/<name>.json``)
SHIPPED_MODEL = "generators"


def load_model(name_or_path: str) -> CandidateModel:
    """A spotter model: a shipped one by name (``generators``) or a JSON file (errors name the file)."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return _from_file(path, read_json(path))
    problem = path_part_problem(name_or_path)
    ref = resources.files("causalnet.spotting") / "models" / f"{name_or_path}.json"
    if problem is not None or not ref.is_file():
        raise ValueError(f"SpotConfig.model: {name_or_path!r} is neither a JSON file nor a shipped spotter model "
                         f"({SHIPPED_MODEL!r})")
    return _from_file(Path(str(ref)), json.loads(ref.read_text()))


def _from_file(path: Path, doc: object) -> CandidateModel:
    try:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return CandidateModel.from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a spotter model ({type(e).__name__}: {e})") from None
