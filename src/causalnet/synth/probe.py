"""A quick learnability probe for a generated benchmark (independent of the deep model).

For every clip it computes TV-L1 optical flow (OpenCV-contrib's DualTVL1, on grey frames of the
whole, face-centred image) onset → apex and apex → offset, downsamples each flow to a small grid,
and fits logistic regressions with leave-one-subject-out:

- ``spatial``: the downsampled flow fields of both phases (where and which way the face moved);
- ``global``: only the mean flow and mean flow magnitude of each phase (a trivial model that
  knows how much and which way the face moved on average, but not where).

The gap between the two shows that the classes are told apart by *local* motion, which is what
the benchmark is meant to test. Numbers are macro F1 (UF1) on the pooled LOSO predictions.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from causalnet.io import restore_cell

log = logging.getLogger(__name__)

#: side of the grid each flow component is averaged down to
PROBE_GRID = 14
#: inverse regularisation strength of the logistic regressions
PROBE_C = 0.1


@dataclass
class ProbeResult:
    """UF1 of the spatial and the trivial (global) probe, and the number of clips and subjects."""

    spatial_uf1: float
    global_uf1: float
    n_clips: int
    n_subjects: int


def _grey(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read the frame")
    return img


def clip_flows(frames_dir: Path, onset: int, apex: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """TV-L1 flows (H × W × 2) onset → apex and apex → offset of a clip's frames (natural order)."""
    files = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in {".png", ".jpg"})
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    f_on, f_ap, f_off = (_grey(files[i]) for i in (onset, apex, offset))
    return tvl1.calc(f_on, f_ap, None), tvl1.calc(f_ap, f_off, None)


def flow_features(flows: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(spatial, global) feature vectors of a clip's two flows."""
    spatial, glob = [], []
    for flow in flows:
        spatial.append(cv2.resize(flow, (PROBE_GRID, PROBE_GRID), interpolation=cv2.INTER_AREA).ravel())
        mag = np.sqrt((flow**2).sum(-1))
        glob.extend([flow[..., 0].mean(), flow[..., 1].mean(), mag.mean()])
    return np.concatenate(spatial), np.asarray(glob)


def _loso_uf1(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty_like(y)
    for g in np.unique(groups):
        test = groups == g
        model = make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=2000))
        model.fit(x[~test], y[~test])
        pred[test] = model.predict(x[test])
    return float(f1_score(y, pred, average="macro"))


def probe_benchmark(raw_dir: str | Path, progress: bool = False) -> ProbeResult:
    """Run the learnability probe on a benchmark in the generic raw layout."""
    from tqdm import tqdm

    raw = Path(raw_dir)
    with open(raw / "annotations.csv", newline="", encoding="utf-8") as fh:
        rows = [{k: restore_cell(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    spatial, glob, labels, groups = [], [], [], []
    for row in tqdm(rows, desc="probe", unit="clip", disable=not progress):
        flows = clip_flows(
            raw / "frames" / row["subject"] / row["clip"],
            int(row["onset"]),
            int(row["apex"]),
            int(row["offset"]),
        )
        s, g = flow_features(flows)
        spatial.append(s)
        glob.append(g)
        labels.append(int(row["label"]))
        groups.append(row["subject"])
    y, grp = np.asarray(labels), np.asarray(groups)
    result = ProbeResult(
        spatial_uf1=_loso_uf1(np.stack(spatial), y, grp),
        global_uf1=_loso_uf1(np.stack(glob), y, grp),
        n_clips=len(rows),
        n_subjects=len(set(groups)),
    )
    log.info("probe: spatial UF1 %.3f, global UF1 %.3f", result.spatial_uf1, result.global_uf1)
    return result
