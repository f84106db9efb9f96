"""Peaks of the spotting signal → expression intervals, with distractors removed.

A frame ``p`` is a **candidate** when ``C_p`` is the largest value within ``min_gap_s`` on either side
(ties: the earliest) and exceeds both ``min_score`` and the local threshold
``median + threshold × 1.4826 × MAD`` of ``C`` over ``[p - baseline_s, p + lookahead_s]``.

A candidate is dropped as a **blink** when the eye boxes change a lot at the same time, and as
**head motion** when the face moved globally (see :class:`SpotConfig`). Each remaining candidate gets
an interval (onset, apex = ``p``, offset) and a type: **micro** unless the face is still changed
``micro_max_s`` after the onset (**macro**); consecutive macro candidates (a macro-expression's rise
and relaxation) are merged into one interval.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from causalnet.spotting.config import SpotConfig
from causalnet.spotting.signal import SpotSignals

if TYPE_CHECKING:
    from causalnet.spotting.learned import CandidateModel

__all__ = ["Candidate", "Spot", "Spotter", "local_noise", "local_threshold", "threshold_curve"]

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826


@dataclass
class Candidate:
    """A peak of the contrasted signal and what was decided about it (``kind``: ``micro``, ``macro``,
    ``blink`` or ``head motion``)."""

    peak: int
    score: float
    threshold: float
    kind: str
    onset: int = 0
    offset: int = 0
    persistence: float = 0.0
    #: the learned spotter's probability that this is a micro-expression (NaN with the rules)
    probability: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Spot:
    """A spotted interval ``[onset, offset]`` (frames, both included) with its peak (the apex) and score."""

    onset: int
    apex: int
    offset: int
    type: str
    score: float
    threshold: float

    @property
    def length(self) -> int:
        return self.offset - self.onset + 1


def local_noise(c: np.ndarray, p: int, baseline: int, lookahead: int) -> tuple[float, float]:
    """Median and robust σ (1.4826 × median absolute deviation) of ``c`` over ``[p - baseline, p + lookahead]``:
    the recording's own noise floor around ``p``."""
    window = c[max(0, p - baseline) : min(c.size, p + lookahead + 1)]
    med = float(np.median(window))
    return med, MAD_TO_SIGMA * float(np.median(np.abs(window - med)))


def local_threshold(c: np.ndarray, p: int, baseline: int, lookahead: int, cfg: SpotConfig) -> float:
    """The detection threshold at frame ``p``: ``max(median + threshold × σ, min_score)`` of the
    contrast ``c`` over ``[p - baseline, p + lookahead]`` (σ from the median absolute deviation)."""
    med, sigma = local_noise(c, p, baseline, lookahead)
    return max(med + cfg.threshold * sigma, cfg.min_score)


def threshold_curve(c: np.ndarray, cfg: SpotConfig, fps: float, step: int = 0) -> np.ndarray:
    """:func:`local_threshold` at every frame (evaluated every ``step`` frames and interpolated;
    default: every ``window_s / 2``), for plots."""
    if c.size == 0:
        return c.copy()
    step = step or max(1, cfg.k(fps) // 2)
    at = np.unique(np.r_[np.arange(0, c.size, step), c.size - 1])
    baseline, lookahead = cfg.frames(cfg.baseline_s, fps), cfg.frames(cfg.lookahead_s, fps, minimum=0)
    values = [local_threshold(c, int(p), baseline, lookahead, cfg) for p in at]
    return np.interp(np.arange(c.size), at, values)


class Spotter:
    """Streaming spotter of one recording: push aligned faces, get spots as they are decided.

    Args:
        cfg: spotter parameters.
        fps: the recording's frame rate.
        size: side of the aligned faces.
        eye_row, eye_distance: eye centres in the aligned face (fractions of its side).
        chunk: most faces pushed at once.
        signals: signals already computed (with rings holding the whole recording) to decide again
            with other detection settings (parameter sweeps); None = computed from the pushed faces.
        model: the learned spotter's model (``cfg.method = "learned"``); None = ``cfg.model`` loaded.

    Attributes:
        signals: the per-frame signals (:class:`SpotSignals`).
        candidates: every candidate peak and what was decided about it.
        blocked: frames near which candidates are dropped (e.g. where the face was aligned again).
    """

    def __init__(self, cfg: SpotConfig, fps: float, size: int, eye_row: float, eye_distance: float,
                 chunk: int = 64, signals: SpotSignals | None = None, model: CandidateModel | None = None) -> None:
        if not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"the frame rate must be > 0, got {fps!r} (give --fps)")
        self.cfg, self.fps, self.chunk = cfg, fps, chunk
        self.k = cfg.k(fps)
        self.gap = cfg.frames(cfg.min_gap_s, fps)
        self.baseline = cfg.frames(cfg.baseline_s, fps)
        self.lookahead = cfg.frames(cfg.lookahead_s, fps, minimum=0)
        self.micro_max = cfg.frames(cfg.micro_max_s, fps)
        self.persist = cfg.frames(cfg.persist_s, fps)
        self.merge = cfg.frames(cfg.macro_merge_s, fps)
        self.next = 0  # first frame not yet examined as a candidate
        self.candidates: list[Candidate] = []
        self.blocked: list[int] = []
        self._macro: list[Candidate] = []  # macro candidates not yet merged into a spot
        self.model = None
        if cfg.method == "learned":
            from causalnet.spotting.learned import load_model

            self.model = model if model is not None else load_model(cfg.model)
        #: features of every candidate (``method = "learned"``), in the order of :attr:`candidates`
        self.features: list[np.ndarray] = []
        self.signals = signals or SpotSignals(cfg, fps, size, eye_row, eye_distance, self.span + chunk + 2 * self.k)

    @property
    def span(self) -> int:
        """Frames between the oldest frame a decision reads and the newest frame held then."""
        return self.reach_back + self.reach_ahead + self.lag + 2 * self.k

    def push(self, faces: np.ndarray) -> list[Spot]:
        """Add aligned faces ``[m, S, S]`` uint8 (any number, taken ``chunk`` at a time); return the spots decided
        meanwhile."""
        spots: list[Spot] = []
        for start in range(0, len(faces), self.chunk):  # decide after each chunk: the rings hold only so much
            self.signals.push(faces[start : start + self.chunk])
            spots += self.update()
        return spots

    def finish(self) -> list[Spot]:
        """The recording ended: decide everything left."""
        self.signals.finish()
        return self.update(final=True)

    @property
    def lag(self) -> int:
        """Frames of signal needed after a candidate before it can be decided."""
        return max(self.gap, self.lookahead, self.k) + 1

    @property
    def reach_back(self) -> int:
        """How far before a candidate the representation ring is read (frames)."""
        return self.micro_max + self.persist + 2 * self.k

    @property
    def reach_ahead(self) -> int:
        """How far after a candidate the representation ring is read (frames)."""
        return self.micro_max + self.persist + 2 * self.k

    def update(self, final: bool = False) -> list[Spot]:
        """Examine the frames whose contrast is now final; return the spots decided (in order)."""
        sig = self.signals
        c = sig.C.values
        ready = sig.n_contrast if final else min(sig.n_contrast - self.lag, sig.n_final - self.reach_ahead)
        spots: list[Spot] = []
        while self.next < ready:
            p = self.next
            self.next += 1
            if not self._is_peak(c, p):
                continue
            threshold = local_threshold(c, p, self.baseline, self.lookahead, self.cfg)
            if c[p] <= threshold:
                continue
            cand = Candidate(peak=p, score=float(c[p]), threshold=threshold, kind="micro")
            self._classify(cand)
            self.candidates.append(cand)
            if cand.kind == "micro":
                spots.extend(self._flush_macro())
                spots.append(self._spot(cand, cand.onset, cand.offset))
            elif cand.kind == "macro":
                if self._macro and cand.peak - self._macro[-1].peak > self.merge:
                    spots.extend(self._flush_macro())
                self._macro.append(cand)
        if final:
            self.next = max(self.next, c.size)
            spots.extend(self._flush_macro())
        elif self._macro and self.next - self._macro[-1].peak > self.merge:
            spots.extend(self._flush_macro())
        return sorted(spots, key=lambda s: s.onset)

    def _is_peak(self, c: np.ndarray, p: int) -> bool:
        if c[p] <= 0:
            return False
        lo, hi = max(0, p - self.gap), min(c.size, p + self.gap + 1)
        window = c[lo:hi]
        top = float(window.max())
        return c[p] == top and int(np.argmax(window)) + lo == p

    def _spot(self, cand: Candidate, onset: int, offset: int) -> Spot:
        return Spot(onset=onset, apex=cand.peak, offset=offset, type=cand.kind, score=cand.score,
                    threshold=cand.threshold)

    def _flush_macro(self) -> list[Spot]:
        if not self._macro:
            return []
        group, self._macro = self._macro, []
        best = max(group, key=lambda c: c.score)
        spot = Spot(onset=group[0].onset, apex=best.peak, offset=group[-1].offset, type="macro",
                    score=best.score, threshold=best.threshold)
        return [spot]

    def _classify(self, cand: Candidate) -> None:
        """Blink, head motion, or an expression with its interval and type."""
        if self.model is not None:
            self._decide_learned(cand)
            return
        sig, cfg, k, p = self.signals, self.cfg, self.k, cand.peak
        f, e, g = sig.F.values, sig.E.values, sig.G.values
        eye = float(e[max(0, p - k // 2) : p + k // 2 + 1].max())
        if eye > cfg.blink_level and eye > cfg.blink_ratio * max(float(f[p]), 0.0):
            cand.kind = "blink"
            return
        motion = float(g[max(0, p - k) : p + k + 1].max())
        if motion > cfg.head_motion or any(abs(p - b) <= 2 * k for b in self.blocked):
            cand.kind = "head motion"
            return
        cand.onset, cand.offset = self._interval(f, p, sig.n)
        cand.persistence = self._persistence(cand)
        cand.kind = "macro" if cand.persistence > cfg.persistence_ratio else "micro"

    def candidate_features(self, cand: Candidate) -> np.ndarray:
        """The learned spotter's features (:data:`~causalnet.spotting.learned.FEATURE_NAMES`) of a candidate whose
        interval and persistence are set; the optical-flow ones only when the model reads them (else NaN)."""
        from causalnet.spotting.learned import FLOW_FEATURES, candidate_features, flow_features

        sig, p = self.signals, cand.peak
        _, sigma = local_noise(sig.C.values, p, self.baseline, self.lookahead)
        x = candidate_features(c=sig.C.values, f=sig.F.values, g=sig.G.values, blocks=sig.blocks.get(p),
                               valid=sig.feature.valid, grid=(self.cfg.grid_rows, self.cfg.grid_cols), p=p,
                               sigma=sigma, k=self.k, fps=self.fps, threshold=cand.threshold,
                               persistence=cand.persistence, ahead=self.lag, min_gap_s=self.cfg.min_gap_s)
        if self.model is not None and not set(FLOW_FEATURES) & set(self.model.use):
            return np.r_[x, np.full(len(FLOW_FEATURES), np.nan)]  # the model reads no flow: none computed
        frames = np.clip([p - self.k, p, p + self.k], sig.small.first, sig.small.end - 1)
        before, peak, after = sig.small.get(frames)
        return np.r_[x, flow_features(before, peak, after, sig.small_feature.block_means)]

    def _decide_learned(self, cand: Candidate) -> None:
        """The learned spotter: interval and persistence (macro when the change persists, unless
        ``model_first``), then the model's probability decides whether it is a micro-expression (with
        ``model_first``, a persistent change the model does not take for one is macro)."""
        sig, cfg = self.signals, self.cfg
        cand.onset, cand.offset = self._interval(sig.F.values, cand.peak, sig.n)
        cand.persistence = self._persistence(cand)
        if any(abs(cand.peak - b) <= 2 * self.k for b in self.blocked):
            cand.kind = "head motion"
            return
        persistent = cand.persistence > cfg.persistence_ratio  # lasts beyond micro_max_s: macro by the rule
        if persistent and not cfg.model_first:
            cand.kind = "macro"
            return
        x = self.candidate_features(cand)
        self.features.append(x)
        assert self.model is not None
        cand.probability = float(self.model.probability(x)[0])
        accept = cfg.accept if cfg.accept is not None else self.model.accept
        cand.kind = "micro" if cand.probability > accept else "macro" if persistent else "rejected"

    def _interval(self, f: np.ndarray, p: int, n: int) -> tuple[int, int]:
        cfg = self.cfg
        if cfg.interval == "fixed":
            onset, offset = p - cfg.frames(cfg.onset_s, self.fps, 0), p + cfg.frames(cfg.offset_s, self.fps, 0)
        else:
            level = cfg.edge_fraction * f[p]
            span = self.micro_max
            left = p
            while left > max(0, p - span) and f[left - 1] >= level:
                left -= 1
            right = p
            while right < min(f.size - 1, p + span) and f[right + 1] >= level:
                right += 1
            pad = cfg.frames(cfg.edge_pad_s, self.fps, 0) + self.k // 2
            onset, offset = left - pad, right + pad
        return max(0, onset), min(n - 1, offset)

    def _persistence(self, cand: Candidate) -> float:
        """How much of the peak's change is still there ``micro_max_s`` after the onset: the change
        from before the onset to then, over the change from before the onset to the peak."""
        sig, p = self.signals, cand.peak
        pre_end, post_start = cand.onset - 1, cand.onset + self.micro_max
        pre = np.arange(max(0, pre_end - self.persist + 1), pre_end + 1)
        post = np.arange(post_start, min(sig.n, post_start + self.persist))
        half = max(1, self.persist // 4)
        apex = np.arange(max(0, p - half), min(sig.n, p + half + 1))
        if pre.size == 0 or post.size == 0 or pre[0] < sig.rep.first or post[-1] >= sig.rep.end:
            return 0.0
        return sig.change(pre, post) / max(sig.change(pre, apex), 1e-9)
