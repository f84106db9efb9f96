"""Apex spotting in the manner of Liong et al.: LBP feature difference + divide and conquer.

Algorithm (for a search range ``[start, end]`` of a clip, both inclusive):

1. Every frame of the range (Gaussian-blurred with ``blur_sigma`` unless 0) is described by
   normalised uniform-LBP histograms over a grid of blocks
   (:func:`causalnet.keyframes.lbp.block_histograms`).
2. The *reference* is the mean histogram of the first ``n_reference_frames`` frames of the range
   (the onset frame when the range is the annotated onset–offset interval), and with
   ``reference="both"`` (default) also the mean of the last ``n_reference_frames`` frames (the
   offset frame).
3. Feature difference of frame ``t``: the χ² distance of each block's histogram from the
   reference's (with ``"both"``: the sum of the distances from the two references), and the sum
   over the ``ceil(top_block_fraction · blocks)`` blocks with the largest distances (the blocks that
   move; the rest of the face adds only noise). Optionally smoothed by a centred moving average of
   ``smooth_window`` frames. A difference from the onset alone grows with slow head drift, which
   pulls the apex late; the two-sided reference cancels a steady drift to first order (the distance
   from the onset grows as the distance from the offset shrinks).
4. Divide and conquer: the range is split into ``n_intervals`` near-equal intervals; the interval
   whose scores sum highest is kept (ties: the earliest); repeat until one frame is left. With
   ``peaks_only`` only the local maxima of the curve carry score (every other frame counts 0), and
   the search stops as soon as the kept interval holds a single peak, which is the apex.

Predicted onset/offset (paper Sec. 4.2): ``apex ∓ half_window`` frames, clipped to the clip;
``half_window`` is optionally scaled by ``fps / reference_fps`` (rounded half up).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import ClassVar

import cv2
import numpy as np

from causalnet.checks import Check, between, one_of, positive
from causalnet.config import PresetMixin
from causalnet.keyframes.lbp import block_histograms, chi_squared
from causalnet.keyframes.types import Keyframes

__all__ = [
    "REFERENCES",
    "SpotterConfig",
    "divide_and_conquer",
    "feature_difference_curve",
    "keyframes_around_apex",
    "spot_apex",
    "spot_keyframes",
]

logger = logging.getLogger(__name__)

REFERENCES: tuple[str, ...] = ("both", "onset")
"""Accepted values of :attr:`SpotterConfig.reference`."""

Frames = Sequence[np.ndarray] | np.ndarray
"""A clip: a sequence of (H, W) grayscale frames, or an array of shape (T, H, W)."""


@dataclasses.dataclass(frozen=True)
class SpotterConfig(PresetMixin):
    """Parameters of the apex spotter (see the module docstring for the algorithm).

    Attributes:
        grid_rows, grid_cols: block grid over the face for the LBP histograms.
        lbp_radius: LBP neighbour distance in pixels (8 neighbours).
        blur_sigma: σ in pixels of a Gaussian pre-filter applied to each frame before LBP
            (0 = none); LBP compares single pixels and is sensitive to sensor noise.
        top_block_fraction: fraction of blocks (largest χ² distances) summed per frame.
        reference: ``"both"`` — distance from the start and from the end of the range, summed;
            ``"onset"`` — distance from the start of the range only (Liong et al.'s onset frame).
        n_reference_frames: frames at each end of the range averaged into a reference histogram.
        smooth_window: width of the centred moving average applied to the curve (1 = none; odd).
        n_intervals: intervals per divide-and-conquer step (2 = binary search).
        peaks_only: let only local maxima of the curve carry score, and stop at a single peak.
        half_window: predicted onset/offset = apex ∓ this many frames (paper: 25).
        scale_window_with_fps: scale ``half_window`` by ``fps / reference_fps``.
        reference_fps: frame rate at which ``half_window`` applies.
        chunk_frames: frames whose LBP maps are computed at once (memory bound).
    """

    grid_rows: int = 6
    grid_cols: int = 6
    lbp_radius: int = 1
    blur_sigma: float = 1.0
    top_block_fraction: float = 1.0 / 3.0
    reference: str = "both"
    n_reference_frames: int = 1
    smooth_window: int = 1
    n_intervals: int = 2
    peaks_only: bool = False
    half_window: int = 25
    scale_window_with_fps: bool = False
    reference_fps: float = 200.0
    chunk_frames: int = 32

    #: allowed ranges, checked on construction
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "grid_rows": between(1, 64), "grid_cols": between(1, 64), "lbp_radius": between(1, 16),
        "blur_sigma": between(0, 100), "top_block_fraction": between(0, 1, lo_open=True),
        "reference": one_of(*REFERENCES),
        "n_reference_frames": between(1, 1000), "smooth_window": between(1, 1001, odd=True),
        "n_intervals": between(2, 64), "half_window": between(0, 100_000), "reference_fps": positive(hi=100_000),
        "chunk_frames": between(1, 4096),
    }

    PRESETS: ClassVar[dict] = {
        "default": lambda: SpotterConfig(),
        # Difference from the onset frame only (sensitive to head drift, see docs/keyframes.md).
        "onset": lambda: SpotterConfig(reference="onset"),
        # Onset reference, raw frames, and only local peaks of the curve carry score.
        "peaks": lambda: SpotterConfig(reference="onset", blur_sigma=0.0, peaks_only=True),
    }

    def __post_init__(self) -> None:
        positive = ("grid_rows", "grid_cols", "lbp_radius", "n_reference_frames", "chunk_frames")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"SpotterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not math.isfinite(self.blur_sigma) or self.blur_sigma < 0:
            raise ValueError(f"blur_sigma must be >= 0, got {self.blur_sigma}")
        if self.reference not in REFERENCES:
            raise ValueError(f"unknown reference {self.reference!r}; choose from {list(REFERENCES)}")
        if not 0.0 < self.top_block_fraction <= 1.0:
            raise ValueError(f"top_block_fraction must be in (0, 1], got {self.top_block_fraction}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"smooth_window must be a positive odd number, got {self.smooth_window}")
        if self.n_intervals < 2:
            raise ValueError(f"n_intervals must be >= 2, got {self.n_intervals}")
        if self.half_window < 0:
            raise ValueError(f"half_window must be >= 0, got {self.half_window}")
        if not math.isfinite(self.reference_fps) or self.reference_fps <= 0:
            raise ValueError(f"reference_fps must be > 0, got {self.reference_fps}")

    @property
    def grid(self) -> tuple[int, int]:
        """``(grid_rows, grid_cols)``."""
        return (self.grid_rows, self.grid_cols)


def _resolve_range(n_frames: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Default and check an inclusive search range ``[start, end]`` within ``[0, n_frames-1]``."""
    start = 0 if start is None else int(start)
    end = n_frames - 1 if end is None else int(end)
    if not 0 <= start <= end <= n_frames - 1:
        raise ValueError(
            f"search range [{start}, {end}] is not a non-empty range within the clip's frames "
            f"[0, {n_frames - 1}]"
        )
    return start, end


def _stack_range(frames: Frames, start: int, end: int) -> np.ndarray:
    """The frames ``start..end`` as one (L, H, W) array, with a clear error for non-grayscale input."""
    selected = [np.asarray(frames[i]) for i in range(start, end + 1)]
    shape = selected[0].shape
    for i, frame in zip(range(start, end + 1), selected, strict=True):
        if frame.ndim != 2:
            raise ValueError(
                f"frame {i} has shape {frame.shape}; the spotter needs grayscale (H, W) frames "
                f"(convert colour frames first, e.g. cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))"
            )
        if frame.shape != shape:
            raise ValueError(f"frame {i} has shape {frame.shape}, frame {start} has {shape}: sizes differ")
    return np.stack(selected)


def feature_difference_curve(
    frames: Frames, start: int | None = None, end: int | None = None, config: SpotterConfig | None = None
) -> np.ndarray:
    """LBP feature-difference curve over the search range.

    Args:
        frames: the clip, T grayscale frames of shape (H, W).
        start, end: inclusive search range (default: the whole clip).
        config: spotter parameters.

    Returns:
        float64 array of shape (end - start + 1,): entry ``i`` scores frame ``start + i``.
    """
    config = config or SpotterConfig()
    if len(frames) == 0:
        raise ValueError("the clip has no frames")
    start, end = _resolve_range(len(frames), start, end)
    stack = _stack_range(frames, start, end)
    if config.blur_sigma > 0:
        stack = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), config.blur_sigma) for f in stack])
    hists = block_histograms(stack, config.grid, config.lbp_radius, config.chunk_frames)  # (L, B, 59)
    distances = chi_squared(hists, hists[: config.n_reference_frames].mean(axis=0))  # (L, B)
    if config.reference == "both":
        distances = distances + chi_squared(hists, hists[-config.n_reference_frames :].mean(axis=0))
    n_top = max(1, math.ceil(config.top_block_fraction * distances.shape[1]))
    top = -np.partition(-distances, n_top - 1, axis=1)[:, :n_top]
    curve = top.sum(axis=1)
    if config.smooth_window > 1:
        curve = _moving_average(curve, config.smooth_window)
    return curve


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the window shrunk at the ends (same length as ``values``)."""
    half = window // 2
    padded_sum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(values.size)
    lo = np.clip(idx - half, 0, values.size)
    hi = np.clip(idx + half + 1, 0, values.size)
    return (padded_sum[hi] - padded_sum[lo]) / (hi - lo)


def _local_peaks(scores: np.ndarray) -> np.ndarray:
    """Boolean mask of local maxima: higher than the left neighbour, not lower than the right one.

    The ends compare with their single neighbour; a plateau's peak is its first frame; a curve of
    one frame is its own peak. Frames with score <= 0 are never peaks.
    """
    if scores.size == 1:
        return scores > 0
    left = np.concatenate([[-np.inf], scores[:-1]])
    right = np.concatenate([scores[1:], [-np.inf]])
    return (scores > left) & (scores >= right) & (scores > 0)


def divide_and_conquer(scores: np.ndarray, n_intervals: int = 2, peaks_only: bool = False) -> int:
    """Index of the apex in a 1-D score curve by divide and conquer (see the module docstring).

    Args:
        scores: feature-difference curve, shape (L,), L >= 1.
        n_intervals: intervals per step (>= 2).
        peaks_only: only local maxima carry score; stop when the kept interval holds one peak.

    Returns:
        An index in ``[0, L-1]``.
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {values.shape}")
    if n_intervals < 2:
        raise ValueError(f"n_intervals must be >= 2, got {n_intervals}")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain NaN or infinite values")
    weights = values
    if peaks_only:
        peaks = _local_peaks(values)
        if peaks.any():
            weights = np.where(peaks, values, 0.0)
        else:
            logger.debug("flat feature-difference curve: no peak; using all frames")
            peaks_only = False
    lo, hi = 0, values.size  # half-open interval under consideration
    while hi - lo > 1:
        if peaks_only:
            inside = np.flatnonzero(weights[lo:hi] > 0)
            if inside.size == 1:
                return lo + int(inside[0])
        parts = np.array_split(np.arange(lo, hi), min(n_intervals, hi - lo))
        # Mean, not sum: equal for equal lengths, and unbiased when the lengths differ by one.
        means = [weights[part].mean() for part in parts]
        best = parts[int(np.argmax(means))]
        lo, hi = int(best[0]), int(best[-1]) + 1
    return lo


def spot_apex(
    frames: Frames, start: int | None = None, end: int | None = None, config: SpotterConfig | None = None
) -> int:
    """Spot the apex frame of a clip within ``[start, end]`` (inclusive; default the whole clip).

    Args:
        frames: the clip, T grayscale frames of shape (H, W) (uint8 or any real dtype), ideally the
            cropped and aligned face.
        start, end: search range, e.g. the annotated onset and offset.
        config: spotter parameters.

    Returns:
        The apex as an index into ``frames`` (within ``[start, end]``).
    """
    config = config or SpotterConfig()
    if len(frames) == 0:
        raise ValueError("the clip has no frames")
    start, end = _resolve_range(len(frames), start, end)
    curve = feature_difference_curve(frames, start, end, config)
    apex = start + divide_and_conquer(curve, config.n_intervals, config.peaks_only)
    logger.debug(
        "spotted apex %d in [%d, %d] (curve max at %d)", apex, start, end, start + int(curve.argmax())
    )
    return apex


def keyframes_around_apex(
    apex: int, n_frames: int, config: SpotterConfig | None = None, fps: float | None = None
) -> Keyframes:
    """Key-frames ``(apex - w, apex, apex + w)`` clipped to ``[0, n_frames-1]``.

    ``w = config.half_window``, scaled by ``fps / config.reference_fps`` (rounded half up) when
    ``config.scale_window_with_fps`` (``fps`` is then required).
    """
    config = config or SpotterConfig()
    if not 0 <= apex <= n_frames - 1:
        raise ValueError(f"apex {apex} lies outside the clip's frames [0, {n_frames - 1}]")
    window = config.half_window
    if config.scale_window_with_fps:
        if fps is None or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"scale_window_with_fps needs the clip's frame rate (fps > 0), got {fps!r}")
        window = math.floor(config.half_window * fps / config.reference_fps + 0.5)
    return Keyframes(max(0, apex - window), apex, min(n_frames - 1, apex + window))


def spot_keyframes(
    frames: Frames,
    start: int | None = None,
    end: int | None = None,
    config: SpotterConfig | None = None,
    fps: float | None = None,
) -> Keyframes:
    """Spotted key-frames: apex by :func:`spot_apex`, onset/offset by :func:`keyframes_around_apex`.

    Args:
        frames: the clip, T grayscale frames of shape (H, W).
        start, end: inclusive apex search range (default: the whole clip).
        config: spotter parameters.
        fps: the clip's frame rate (needed only with ``config.scale_window_with_fps``).
    """
    config = config or SpotterConfig()
    apex = spot_apex(frames, start, end, config)
    return keyframes_around_apex(apex, len(frames), config, fps)
