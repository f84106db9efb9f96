"""Spotting and spot-then-recognise (STR) metrics on long recordings (MEGC protocol).

**Spotting** (MEGC 2019–2023): a spotted interval ``[onset, offset]`` is a true positive when its
intersection over union with a ground-truth interval of the same video is at least 0.5 (frames
counted inclusively: ``|A ∩ B| / |A ∪ B|``). Matching is one-to-one: the pairs are taken in
decreasing IoU, each ground truth and each spot used at most once, so a ground truth spotted twice
gives one TP and one FP. Counts are pooled over all videos, then
``precision = TP / spotted``, ``recall = TP / ground truth``, ``F1 = 2PR / (P + R)``.

**Recognition on the true positives** (the analysis task): each TP pair's predicted class against
its ground-truth class (pairs whose ground truth has no class, e.g. ``others``, are left out). UF1
(mean per-class F1) and UAR (mean per-class recall) over the classes present, and the *analysis F1*
of Liong et al. (2023), used as the MEGC 2023 STR metric: per class, precision and recall over the
TP pairs; their means over the classes ``P̄``, ``R̄``; ``F1 = 2 P̄ R̄ / (P̄ + R̄)``.
**STRS** = spotting F1 × analysis F1 (MEGC 2023 overall score).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from causalnet.data.annotations import Interval

__all__ = ["IOU_THRESHOLD", "SpotCounts", "iou", "match_intervals", "recognition_scores", "spotting_report"]

IOU_THRESHOLD = 0.5


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two inclusive frame intervals ``(onset, offset)``."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(spotted: Sequence[tuple[int, int]], truth: Sequence[tuple[int, int]],
                    threshold: float = IOU_THRESHOLD) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(spot index, truth index, IoU)`` with IoU ≥ ``threshold``, best IoU first."""
    pairs = [(iou(s, t), i, j) for i, s in enumerate(spotted) for j, t in enumerate(truth)]
    pairs = sorted((p for p in pairs if p[0] >= threshold), key=lambda p: (-p[0], p[1], p[2]))
    used_s, used_t, out = set(), set(), []
    for value, i, j in pairs:
        if i in used_s or j in used_t:
            continue
        used_s.add(i)
        used_t.add(j)
        out.append((i, j, value))
    return sorted(out)


@dataclass
class SpotCounts:
    """Pooled spotting counts."""

    tp: int = 0
    n_spotted: int = 0
    n_truth: int = 0

    @property
    def fp(self) -> int:
        return self.n_spotted - self.tp

    @property
    def fn(self) -> int:
        return self.n_truth - self.tp

    @property
    def precision(self) -> float:
        return self.tp / self.n_spotted if self.n_spotted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_truth if self.n_truth else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "spotted": self.n_spotted, "truth": self.n_truth,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


def recognition_scores(truth: Sequence[int], predicted: Sequence[int], n_classes: int) -> dict:
    """UF1, UAR, accuracy and the analysis F1 (mean precision × mean recall harmonic) of class pairs.

    Classes absent from both ``truth`` and ``predicted`` are left out of the means.
    """
    y, p = np.asarray(truth, dtype=int), np.asarray(predicted, dtype=int)
    if y.size == 0:
        return {"n": 0, "uf1": 0.0, "uar": 0.0, "acc": 0.0, "analysis_f1": 0.0}
    present = [c for c in range(n_classes) if (y == c).any() or (p == c).any()]
    f1s, recalls, precisions = [], [], []
    for c in present:
        tp = int(((y == c) & (p == c)).sum())
        fp = int(((y != c) & (p == c)).sum())
        fn = int(((y == c) & (p != c)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        precisions.append(prec)
        recalls.append(rec)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    mp, mr = float(np.mean(precisions)), float(np.mean(recalls))
    return {"n": int(y.size), "uf1": float(np.mean(f1s)), "uar": mr, "acc": float((y == p).mean()),
            "analysis_f1": 2 * mp * mr / (mp + mr) if mp + mr > 0 else 0.0}


def spotting_report(spotted: Iterable[Interval], truth: Iterable[Interval], n_classes: int,
                    threshold: float = IOU_THRESHOLD) -> dict:
    """Spotting metrics per type (``micro``, ``macro``, ``all``) pooled over videos, and the STR
    scores of the micro-expressions (see the module docstring).

    ``spotted`` intervals carry their type and predicted label (None when not recognised);
    ``truth`` their annotated type and label. A spot is matched only with ground truth of its type
    (``all``: of any type). Videos absent from ``spotted`` count as analysed with nothing spotted.
    """
    spotted, truth = list(spotted), list(truth)
    videos = sorted({(i.subject, i.video) for i in truth} | {(i.subject, i.video) for i in spotted})
    report: dict = {"iou_threshold": threshold, "videos": len(videos)}
    pairs: list[tuple[int, int]] = []
    for kind in ("micro", "macro", "all"):
        counts = SpotCounts()
        for key in videos:
            s = [i for i in spotted if (i.subject, i.video) == key and kind in ("all", i.type)]
            t = [i for i in truth if (i.subject, i.video) == key and kind in ("all", i.type)]
            matches = match_intervals([(i.onset, i.offset) for i in s], [(i.onset, i.offset) for i in t], threshold)
            counts.tp += len(matches)
            counts.n_spotted += len(s)
            counts.n_truth += len(t)
            if kind == "micro":
                pairs.extend((t[j].label, s[i].label) for i, j, _ in matches
                             if t[j].label is not None and s[i].label is not None)
        report[kind] = counts.to_dict()
    rec = recognition_scores([a for a, _ in pairs], [b for _, b in pairs], n_classes)
    report["recognition_tp"] = rec
    report["strs"] = report["micro"]["f1"] * rec["analysis_f1"]
    return report
