"""Leave-one-generator-out (LOGO) evaluation of spotters (``benchmarks/spotting_logo.py``).

Recordings come from several independent generators (:mod:`causalnet.synth.long_generators`). For each
held-out generator, every free choice of a spotter — a grid of settings, the learned model and its
acceptance probability — is made on the *other* generators only, then the held-out generator is scored.
The held-out generator's recordings are passed to nothing that fits (:func:`fit_spotter` gets only the
training generators; a test checks it).

The signals of a recording are computed once per signal setting (``window_s``, ``eye_boxes``) with rings
holding the whole recording, then decided again for every detection setting (as ``spotting_tune.py``).

**Frame-rate augmentation** (``augment_fps``): the training generators' recordings are also seen as slower
cameras would record them (:func:`resample`: consecutive frames averaged, as an exposure integrates them), so
that a model fitted on 200-fps recordings has met 100-, 50- and 30-fps candidates. Only training recordings
are resampled; the held-out generator is scored as it is.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from causalnet.data.annotations import Interval, VideoEntry
from causalnet.flow.frames import open_frames
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.learned import CandidateModel, fit_model
from causalnet.spotting.metrics import iou, spotting_report
from causalnet.spotting.signal import SpotSignals
from causalnet.spotting.spotter import Spotter

__all__ = ["AUGMENT_FPS", "Fit", "Recording", "SIGNAL_KEYS", "augment", "collect_candidates", "fit_spotter",
           "load_recordings", "logo", "resample", "spot_all"]

log = logging.getLogger(__name__)

#: settings that change the signals (recomputed); every other SpotConfig field only changes decisions
SIGNAL_KEYS = ("feature", "window_s", "grid_rows", "grid_cols", "top_blocks", "subtract_median", "blur_sigma",
               "eye_boxes", "eye_row", "eye_distance", "eye_half_height", "eye_half_width", "margin")


@dataclass
class Recording:
    """One recording of a generator with its ground truth and (lazily) its signals per signal setting."""

    generator: str
    video: VideoEntry
    truth: list[Interval]
    faces: np.ndarray
    signals: dict[tuple, SpotSignals] = field(default_factory=dict)
    #: candidate features and labels per spotter setting (:func:`collect_candidates`)
    candidates: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def signals_for(self, cfg: SpotConfig, eye: tuple[float, float]) -> SpotSignals:
        """The recording's signals for ``cfg``'s signal settings (computed once, then reused)."""
        key = tuple(getattr(cfg, k) for k in SIGNAL_KEYS) + eye
        if key not in self.signals:
            size = self.faces.shape[1]
            sig = SpotSignals(cfg, self.video.fps, size, *eye, len(self.faces) + 2 * cfg.k(self.video.fps) + 66)
            for i in range(0, len(self.faces), 64):
                sig.push(self.faces[i : i + 64])
            sig.finish()
            # the decisions read only the down-scaled faces and the per-block differences: free the big ring
            sig.rep.data = np.broadcast_to(np.zeros((), np.float32), sig.rep.data.shape)
            self.signals[key] = sig
        return self.signals[key]


def load_recordings(generator: str, data: str, size: int = 128) -> list[Recording]:
    """The recordings of a generator's folder (``synth --long`` layout), faces resized to ``size`` (grey)."""
    from causalnet.spotting.datasets import read_long_dataset

    ds = read_long_dataset("generic", data)
    out = []
    for v in ds.videos:
        faces = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) if f.shape[0] != size else f
                          for f in open_frames(v.frames).iter_frames(gray=True)])
        truth = [t for t in ds.truth if (t.subject, t.video) == (v.subject, v.video)]
        out.append(Recording(generator, v, truth, faces))
    return out


#: frame rates a training recording is also resampled to (those at least twice slower than its own)
AUGMENT_FPS = (100.0, 50.0, 30.0)


def resample(rec: Recording, factor: int) -> Recording:
    """``rec`` as a camera ``factor`` times slower records it: each frame the mean of ``factor`` consecutive
    frames (the exposure integrates the motion; sensor noise falls by √factor), the frame rate divided by
    ``factor``, every annotated frame ``i`` mapped to ``i // factor``. Frames left over at the end are dropped
    (and annotations that start there)."""
    if factor < 1:
        raise ValueError(f"resample factor must be >= 1, got {factor}")
    n = len(rec.faces) // factor
    faces = rec.faces[: n * factor].reshape(n, factor, *rec.faces.shape[1:]).mean(axis=1)
    video = dataclasses.replace(rec.video, video=f"{rec.video.video}@{rec.video.fps / factor:g}fps", n_frames=n,
                                fps=rec.video.fps / factor)
    truth = [dataclasses.replace(t, video=video.video, onset=t.onset // factor, apex=t.apex // factor,
                                 offset=min(n - 1, t.offset // factor)) for t in rec.truth if t.onset // factor < n]
    return Recording(rec.generator, video, truth, np.rint(faces).astype(np.uint8))


def augment(recordings: Sequence[Recording], rates: Sequence[float] = AUGMENT_FPS) -> list[Recording]:
    """``recordings`` and each of them :func:`resample`-d to every rate of ``rates`` at least twice slower than its
    own (the factor ``round(fps / rate)``; a factor reached twice is used once)."""
    out = list(recordings)
    for r in recordings:
        factors = sorted({int(round(r.video.fps / rate)) for rate in rates if r.video.fps / rate >= 2 - 1e-9})
        out += [resample(r, f) for f in factors]
    return out


def spot_all(recordings: Sequence[Recording], cfg: SpotConfig, eye: tuple[float, float],
             model: CandidateModel | None = None) -> list[Interval]:
    """Every recording spotted with ``cfg`` (and ``model`` for the learned method)."""
    spotted: list[Interval] = []
    for r in recordings:
        sig = r.signals_for(cfg, eye)
        spotter = Spotter(cfg, r.video.fps, r.faces.shape[1], *eye, signals=sig, model=model)
        spotted += [Interval(r.video.subject, r.video.video, s.onset, s.apex, s.offset, s.type)
                    for s in spotter.update(final=True)]
    return spotted


def report(recordings: Sequence[Recording], spotted: list[Interval]) -> dict:
    """MEGC spotting metrics of ``spotted`` against the recordings' ground truth."""
    return spotting_report(spotted, [t for r in recordings for t in r.truth], 3)


def collect_candidates(recordings: Sequence[Recording], cfg: SpotConfig,
                       eye: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every candidate of ``recordings`` (label 1: its interval matches an annotated
    micro-expression with IoU ≥ 0.5)."""
    from causalnet.spotting.learned import FEATURE_NAMES

    keep_all = CandidateModel(np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)),
                              np.zeros(len(FEATURE_NAMES)), 0.0, 0.0, {})
    n = len(FEATURE_NAMES)
    xs, ys = [], []
    key = f"{cfg.to_dict()}{eye}"
    for r in recordings:
        if key not in r.candidates:
            spotter = Spotter(cfg, r.video.fps, r.faces.shape[1], *eye, signals=r.signals_for(cfg, eye),
                              model=keep_all)
            spotter.update(final=True)
            cands = [c for c in spotter.candidates if c.kind not in ("head motion", "macro")]
            micro = [(t.onset, t.offset) for t in r.truth if t.type == "micro"]
            labels = [int(any(iou((c.onset, c.offset), m) >= 0.5 for m in micro)) for c in cands]
            r.candidates[key] = (np.array(spotter.features).reshape(-1, n), np.array(labels, int))
        xs.append(r.candidates[key][0])
        ys.append(r.candidates[key][1])
    return np.concatenate(xs), np.concatenate(ys)


@dataclass
class Fit:
    """What was chosen on training generators: the settings, the model (learned method), the inner score."""

    cfg: SpotConfig
    model: CandidateModel | None
    inner_f1: float
    trained_on: list[str]


def _grid(grid: dict[str, Sequence]) -> list[dict]:
    return [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]


def _micro_f1(recordings: Sequence[Recording], cfg: SpotConfig, eye: tuple[float, float],
              model: CandidateModel | None) -> float:
    return report(recordings, spot_all(recordings, cfg, eye, model))["micro"]["f1"]


def _fit_model(train: dict[str, list[Recording]], cfg: SpotConfig, eye: tuple[float, float],
               use: str = "all") -> CandidateModel:
    xs, ys, groups = [], [], []
    for g, recs in train.items():
        x, y = collect_candidates(recs, cfg, eye)
        xs.append(x)
        ys.append(y)
        groups += [g] * len(y)
    return fit_model(np.concatenate(xs), np.concatenate(ys), np.array(groups),
                     info={"generators": sorted(train), "settings": cfg.to_dict()}, use=use)


def fit_spotter(train: dict[str, list[Recording]], base: SpotConfig, grid: dict[str, Sequence],
                eye: tuple[float, float]) -> Fit:
    """Choose ``grid``'s settings (and fit the model, for the learned method) on the ``train`` generators only.

    Rules: the setting with the best mean micro F1 over the training generators. Learned: for each setting,
    leave-one-generator-out *within* the training generators (fit on all but one, score that one); the
    setting with the best inner mean is refitted on every training generator. The grid key ``feature_set``
    (learned only) picks the model's features (:data:`causalnet.spotting.learned.FEATURE_SETS`).
    """
    best: tuple[float, SpotConfig, str] | None = None
    for values in _grid(grid):
        values = dict(values)
        use = str(values.pop("feature_set", "all"))
        cfg = dataclasses.replace(base, **values)
        scores = []
        if cfg.method == "learned":
            for inner in train:
                rest = {g: r for g, r in train.items() if g != inner}
                model = _fit_model(rest, cfg, eye, use)
                scores.append(_micro_f1(train[inner], cfg, eye, model))
        else:
            scores = [_micro_f1(recs, cfg, eye, None) for recs in train.values()]
        mean = float(np.mean(scores))
        log.info("fit on %s: %s %s -> inner mean micro F1 %.3f", sorted(train), values, use, mean)
        if best is None or mean > best[0] + 1e-9:
            best = (mean, cfg, use)
    assert best is not None
    _, cfg, use = best
    model = _fit_model(train, cfg, eye, use) if cfg.method == "learned" else None
    return Fit(cfg, model, best[0], sorted(train))


def logo(data: dict[str, list[Recording]], base: SpotConfig, grid: dict[str, Sequence], eye: tuple[float, float],
         on_result: Callable[[str, Fit, dict], None] | None = None,
         augment_fps: Sequence[float] = ()) -> dict[str, tuple[Fit, dict]]:
    """For each generator: fit on the others (:func:`fit_spotter`; their recordings :func:`augment`-ed to
    ``augment_fps`` when given), score it as it is; generator → (fit, metrics)."""
    out = {}
    training = {g: augment(r, augment_fps) if augment_fps else list(r) for g, r in data.items()}
    for held in data:
        train = {g: r for g, r in training.items() if g != held}
        fit = fit_spotter(train, base, grid, eye)
        metrics = report(data[held], spot_all(data[held], fit.cfg, eye, fit.model))
        out[held] = (fit, metrics)
        if on_result:
            on_result(held, fit, metrics)
    return out
