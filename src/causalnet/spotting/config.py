"""Typed configuration of the long-video spotter (see ``docs/spotting.md``).

Durations are in seconds and become frames at the recording's frame rate, so one configuration
serves 30, 100 and 200 fps recordings; sizes are fractions of the aligned face's side.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from causalnet.checks import ANY, Check, between, one_of
from causalnet.config import PresetMixin

__all__ = ["FEATURES", "INTERVAL_METHODS", "METHODS", "SpotConfig"]

#: Feature whose change over time is the spotting signal: ``intensity`` — mean absolute difference
#: of the blurred, brightness-normalised face per block; ``lbp`` — χ² distance of uniform-LBP block
#: histograms (the MEGC baseline's feature).
FEATURES = ("intensity", "lbp")
#: How candidates become intervals: ``rules`` — fixed blink (eye boxes) and head-motion rules;
#: ``learned`` — a model over candidate features decides (:mod:`causalnet.spotting.learned`).
METHODS = ("rules", "learned")
#: How a spotted interval's onset and offset are placed around its peak (see :class:`SpotConfig`).
INTERVAL_METHODS = ("adaptive", "fixed")


@dataclasses.dataclass(frozen=True)
class SpotConfig(PresetMixin):
    """Parameters of :class:`causalnet.spotting.spotter.Spotter`.

    The defaults of ``window_s``, ``top_blocks``, ``threshold``, ``min_score`` and ``edge_fraction`` were
    chosen on synthetic *training* recordings (``benchmarks/spotting_tune.py``, seed 100; docs/spotting.md).

    Signal (MEGC baseline manner: frame ``t`` against the mean of frames ``t-k`` and ``t+k``):
        feature: see :data:`FEATURES`.
        window_s: ``k`` in seconds (about half a typical micro-expression).
        grid_rows, grid_cols: blocks the face is divided into.
        top_blocks: the per-frame feature difference is the mean of this many most-changed blocks...
        subtract_median: ...minus the median block (a change of the whole face is not local).
        blur_sigma: Gaussian pre-filter in pixels of a 128-pixel face (scaled with the face size).
        lbp_radius: LBP radius (``feature = "lbp"``).
        eye_row, eye_distance: eye centres in the aligned face (fractions of its side; None = the
            alignment's, ``PreprocessConfig.eye_row/eye_distance``).
        eye_half_height, eye_half_width: the eye boxes left out of the feature (blinks).
        margin: a border of this fraction of the side is left out too (image edges, where a shifted
            face is padded).

    Detection:
        threshold: a peak of the contrasted signal ``C_t = F_t - (F_{t-k} + F_{t+k}) / 2`` counts when
            above ``median + threshold × σ`` of ``C`` around it (σ = 1.4826 × median absolute deviation
            over ``baseline_s`` seconds before and ``lookahead_s`` after).
        min_score: and above this absolute floor.
        baseline_s, lookahead_s: see ``threshold``.
        min_gap_s: two peaks closer than this are one (the higher is kept).

    Decision:
        method: see :data:`METHODS`.
        model: the learned spotter's model (``method = "learned"``): a shipped model's name or a JSON file.
        accept: its acceptance probability (None: the model's own, chosen on its training recordings).
        model_first: the model also sees candidates whose change persists (else they are macro without it);
            one it accepts is micro, one it rejects macro.
        eye_boxes: leave the eye boxes out of the feature and watch them for blinks (``rules``); the
            learned spotter uses the whole face and needs no eye positions.

    Distractors:
        blink_level, blink_ratio: a peak where the eye boxes change by more than ``blink_level``
            (mean absolute change, fraction of the face's brightness) and more than ``blink_ratio`` ×
            the peak's own feature difference is a blink.
        head_motion: a peak with a global translation of more than this fraction of the face side
            between frames ``t-k`` and ``t+k`` anywhere within ``k`` frames of it is head motion.

    Intervals and types:
        interval: ``adaptive`` — onset/offset where the feature difference around the peak falls below
            ``edge_fraction`` of its peak height, widened by ``edge_pad_s``; ``fixed`` — the peak
            ∓ ``onset_s`` / ``offset_s`` (the MEGC baseline's ``[p - k, p + k]``).
        micro_max_s: an expression whose face is still changed ``micro_max_s`` after its onset is
            not micro: the change that persists (frames ``persist_s`` seconds long, ``micro_max_s``
            after the onset, against the same length before it) is compared with the peak's own
            difference; above ``persistence_ratio`` → ``macro``.
        macro_merge_s: consecutive macro peaks (rise, relaxation) closer than this are one interval.
    """

    feature: str = "intensity"
    window_s: float = 0.12
    grid_rows: int = 6
    grid_cols: int = 6
    top_blocks: int = 2
    subtract_median: bool = True
    blur_sigma: float = 1.0
    lbp_radius: int = 1
    eye_row: float | None = None
    eye_distance: float | None = None
    eye_half_height: float = 0.06
    eye_half_width: float = 0.11
    margin: float = 0.05

    threshold: float = 3.0
    min_score: float = 0.002
    baseline_s: float = 4.0
    lookahead_s: float = 0.5
    min_gap_s: float = 0.15

    method: str = "rules"
    model: str = "generators"
    accept: float | None = None
    model_first: bool = False
    eye_boxes: bool = True

    blink_level: float = 0.04
    blink_ratio: float = 2.0
    head_motion: float = 0.009

    interval: str = "adaptive"
    edge_fraction: float = 0.4
    edge_pad_s: float = 0.0
    onset_s: float = 0.1
    offset_s: float = 0.1
    micro_max_s: float = 0.5
    persist_s: float = 0.05
    persistence_ratio: float = 0.5
    macro_merge_s: float = 3.0

    PRESETS: ClassVar[dict] = {}
    #: allowed ranges, checked on construction (durations in seconds, sizes as fractions of the face)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "feature": one_of(*FEATURES), "window_s": between(0.001, 10, lo_open=True), "grid_rows": between(1, 64),
        "grid_cols": between(1, 64), "top_blocks": between(1, 4096), "blur_sigma": between(0, 100),
        "lbp_radius": between(1, 16), "eye_row": between(0, 1, lo_open=True, hi_open=True),
        "eye_distance": between(0, 1, lo_open=True, hi_open=True), "eye_half_height": between(0, 0.5),
        "eye_half_width": between(0, 0.5), "margin": between(0, 0.4), "threshold": between(0, 1000),
        "min_score": between(0, 1e6), "baseline_s": between(0.01, 600), "lookahead_s": between(0, 60),
        "min_gap_s": between(0, 60), "blink_level": between(0, 1e6), "blink_ratio": between(0, 1e6),
        "head_motion": between(0, 10, lo_open=True), "interval": one_of(*INTERVAL_METHODS),
        "edge_fraction": between(0, 1, lo_open=True, hi_open=True), "edge_pad_s": between(0, 10),
        "onset_s": between(0, 10), "offset_s": between(0, 10), "micro_max_s": between(0.001, 10, lo_open=True),
        "persist_s": between(0.001, 10, lo_open=True), "persistence_ratio": between(0, 1e6),
        "macro_merge_s": between(0, 600), "method": one_of(*METHODS), "accept": between(0, 1),
        "model": ANY,  # a shipped model's name or a JSON file, resolved (and refused by name) when loaded
    }

    def __post_init__(self) -> None:
        if self.top_blocks > self.grid_rows * self.grid_cols:
            raise ValueError(f"SpotConfig.top_blocks ({self.top_blocks}) exceeds the {self.grid_rows}x"
                             f"{self.grid_cols} blocks")

    def frames(self, seconds: float, fps: float, minimum: int = 1) -> int:
        """``seconds`` at ``fps`` as a whole number of frames (at least ``minimum``)."""
        return max(minimum, int(round(seconds * fps)))

    def k(self, fps: float) -> int:
        """The window half-length ``k`` in frames."""
        return self.frames(self.window_s, fps)


SpotConfig.PRESETS = {
    # The spotter that generalised best across generators (leave-one-generator-out, docs/spotting.md):
    # candidates above a low threshold relative to the recording's noise floor, decided by the learned model.
    # Threshold and window chosen with the model by LOGO within the five generators (models/generators.json).
    "default": lambda: SpotConfig.preset("learned"),
    "learned": lambda: SpotConfig(method="learned", model_first=True, eye_boxes=False, threshold=2.0, window_s=0.12,
                                  edge_pad_s=0.02, min_score=0.0),
    # The hand-set rule spotter of 2026-11 (eye boxes, blink and head-motion rules), tuned on one generator.
    "classic": SpotConfig,
    # The MEGC baseline's feature (LBP χ², mean of the top third of the blocks), everything else as default.
    "lbp": lambda: SpotConfig(feature="lbp", top_blocks=12, subtract_median=False),
    "classic-noeyes": lambda: SpotConfig(eye_boxes=False),
}
