"""Stacking the deep members with a linear model on the flow pixels (SPEC §6's honest floor).

The linear model is a logistic regression on the onset→apex flow image (image 0 of the mosaic),
averaged down to 14 × 14 pixels (588 features, standardised), with class-balanced weights. It errs
differently from the deep model, so a weighted mean of the two can beat both.

Everything is fitted on training subjects only (``train.stack = "linear"``, applied to a fold's
per-epoch predictions right after training, :func:`stack_fold`):

1. for every member ``k``, a linear model is fitted on the member's training rows and predicts the
   member's validation rows (the training subjects it did not see) — out-of-fold predictions;
2. the weight ``w`` of the deep model in ``p = w * p_deep + (1 - w) * p_linear`` is the grid value
   (0, 0.05, ..., 1) with the lowest log-loss of the pooled out-of-fold predictions at the final epoch;
3. a linear model fitted on all training rows predicts the test rows, and every member's per-epoch
   test predictions become ``w * p_deep + (1 - w) * p_linear``.

Each member's validation predictions are stacked with the weight fitted on the *other* members'
validation rows (cross-fitting), so the validation scores that the ``val`` protocol and inner
validation read stay out-of-sample estimates.

With mirroring the linear model also trains on the mirror images (``variants``) and averages a clip
and its mirror image at prediction time, like the deep members (``eval_sets`` with two columns).
"""

from __future__ import annotations

import numpy as np
from einops import reduce

__all__ = ["LINEAR_C", "STACKS", "WEIGHT_GRID", "choose_weight", "fit_linear", "linear_features",
           "predict_linear", "stack_fold"]

#: choices of ``train.stack``
STACKS = ("none", "linear")
#: inverse regularisation strength of the logistic regression (chosen by inner validation, docs/results.md)
LINEAR_C = 0.01
#: candidate weights of the deep model
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
#: the image the linear model reads (onset→apex flow) and the pooling factor (28 → 14 pixels)
LINEAR_IMAGE, LINEAR_POOL = 0, 2


def linear_features(x: np.ndarray) -> np.ndarray:
    """Features ``[N, 3 * 14 * 14]`` of clips ``x [N, 4, 3, 28, 28]`` (0–255): the onset→apex flow image
    averaged over 2 × 2 pixels, scaled to 0–1."""
    img = np.asarray(x[:, LINEAR_IMAGE], dtype=np.float32) / 255.0
    pooled = reduce(img, "n c (h p) (w q) -> n (c h w)", "mean", p=LINEAR_POOL, q=LINEAR_POOL)
    return np.ascontiguousarray(pooled)


def _with_variants(rows: np.ndarray, variants: np.ndarray | None) -> np.ndarray:
    """``rows`` and every alternative input of them (e.g. mirror images), without duplicates."""
    rows = np.asarray(rows, dtype=np.int64)
    return rows if variants is None else np.unique(np.concatenate([rows, *np.asarray(variants)[rows].T]))


def fit_linear(feats: np.ndarray, y: np.ndarray, rows: np.ndarray, variants: np.ndarray | None = None,
               c: float = LINEAR_C, seed: int = 0):
    """A standardised, class-balanced logistic regression fitted on ``feats[rows]`` (and their variants)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = _with_variants(rows, variants)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000,
                                                               random_state=seed))
    return model.fit(feats[rows], y[rows])


def predict_linear(model, feats: np.ndarray, eval_rows: np.ndarray, num_classes: int) -> np.ndarray:
    """Probabilities ``[n, C]`` for eval rows ``[n]`` or ``[n, A]`` (mean over a row's ``A`` inputs)."""
    eval_rows = np.asarray(eval_rows, dtype=np.int64)
    cols = eval_rows[:, None] if eval_rows.ndim == 1 else eval_rows
    out = np.zeros((len(cols), num_classes), np.float32)
    classes = model.classes_
    for c in range(cols.shape[1]):
        out[:, classes] += model.predict_proba(feats[cols[:, c]]).astype(np.float32)
    return out / cols.shape[1]


def choose_weight(deep: np.ndarray, linear: np.ndarray, labels: np.ndarray) -> float:
    """The grid weight ``w`` whose mixture ``w * deep + (1 - w) * linear`` (``[n, C]`` each) has the lowest
    log-loss on ``labels``; ties go to the larger ``w``."""
    picked_deep = deep[np.arange(len(labels)), labels]
    picked_linear = linear[np.arange(len(labels)), labels]
    losses = [-np.log(w * picked_deep + (1 - w) * picked_linear + 1e-12).mean() for w in WEIGHT_GRID]
    best = min(losses)
    return float(max(w for w, loss in zip(WEIGHT_GRID, losses, strict=True) if loss <= best + 1e-12))


def stack_fold(history: list[np.ndarray], x: np.ndarray, y: np.ndarray, train_sets: list[np.ndarray],
               eval_sets: list[np.ndarray], n_test: int, num_classes: int, variants: np.ndarray | None = None,
               seed: int = 0, c: float = LINEAR_C) -> tuple[list[np.ndarray], dict]:
    """Stack a fold's member histories (``fit``'s output) with the linear model; see the module docstring.

    Args:
        history: per member, eval predictions ``[epochs, n_k, C]`` (test rows first, then validation rows).
        x, y, train_sets, eval_sets, variants: the fold's inputs (:class:`causalnet.engine.FoldJob`).
        n_test: the number of test rows at the start of every eval set.
        c: the logistic regression's inverse regularisation strength.

    Returns:
        the stacked histories (same shapes) and facts about the stacking: ``weight`` (the test weight),
        ``val_weights`` (each member's cross-fitted weight), ``linear_val`` (the linear model's
        out-of-fold predictions per member).
        Without validation rows (no member validation) the histories come back unchanged (weight 1).
    """
    val_sets = [np.asarray(e)[n_test:] for e in eval_sets]
    if any(len(v) == 0 for v in val_sets):
        return history, {"weight": 1.0}
    feats = linear_features(x)
    first = [v if v.ndim == 1 else v[:, 0] for v in val_sets]
    lin_val = [predict_linear(fit_linear(feats, y, t, variants, c, seed), feats, v, num_classes)
               for t, v in zip(train_sets, val_sets, strict=True)]
    deep_val = [h[-1, n_test:] for h in history]
    labels = [y[f] for f in first]

    def weight(members: list[int]) -> float:
        return choose_weight(np.concatenate([deep_val[k] for k in members]),
                             np.concatenate([lin_val[k] for k in members]),
                             np.concatenate([labels[k] for k in members]))

    everyone = list(range(len(history)))
    w_test = weight(everyone)
    all_train = np.unique(np.concatenate([np.concatenate([t, f]) for t, f in zip(train_sets, first, strict=True)]))
    lin_test = predict_linear(fit_linear(feats, y, all_train, variants, c, seed), feats,
                              np.asarray(eval_sets[0])[:n_test], num_classes)
    out, val_weights = [], []
    for k, h in enumerate(history):
        w_val = weight([j for j in everyone if j != k]) if len(everyone) > 1 else w_test
        val_weights.append(w_val)
        stacked = np.empty_like(h)
        stacked[:, :n_test] = w_test * h[:, :n_test] + (1 - w_test) * lin_test
        stacked[:, n_test:] = w_val * h[:, n_test:] + (1 - w_val) * lin_val[k]
        out.append(stacked)
    return out, {"weight": w_test, "val_weights": [float(w) for w in val_weights], "linear_val": lin_val}
