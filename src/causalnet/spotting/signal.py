"""Per-frame spotting signals of a recording, computed as aligned faces stream in.

For every frame ``t`` (``k`` = :meth:`SpotConfig.k` frames):

- ``F_t`` — **feature difference** (MEGC baseline manner): each block's difference between frame
  ``t`` and the mean of frames ``t-k`` and ``t+k``, the mean of the ``top_blocks`` largest minus the
  median block. The eye boxes are left out. A steady drift cancels to first order (the mean of
  ``t-k`` and ``t+k`` sits where ``t`` is), a change of the whole face is removed by the median.
- ``C_t = F_t - (F_{t-k} + F_{t+k}) / 2`` — **contrast** against the local baseline: sharp, short
  changes stand out, slow ones (drift, held expressions) do not.
- ``E_t`` — mean absolute change inside the eye boxes, same windowing (blinks).
- ``G_t`` — global translation between frames ``t-k`` and ``t+k`` (phase correlation of
  down-scaled faces), as a fraction of the face side (head motion).

The frames themselves are kept only in fixed-size rings (:class:`FrameRing`), so memory does not
grow with the recording; the per-frame signals are four floats per frame.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from causalnet.keyframes.lbp import block_histograms, chi_squared
from causalnet.spotting.config import SpotConfig

__all__ = ["FrameRing", "IntensityFeature", "LbpFeature", "Series", "SpotSignals", "aggregate", "border", "eye_boxes",
           "make_feature"]

log = logging.getLogger(__name__)

#: side of the down-scaled faces used for the eye and global-motion signals
SMALL_SIDE = 64


class FrameRing:
    """The last ``capacity`` items of a stream of equally shaped arrays, addressed by absolute index."""

    def __init__(self, capacity: int, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.data = np.zeros((capacity, *shape), dtype)
        self.end = 0  # absolute index one past the newest item

    @property
    def first(self) -> int:
        """Absolute index of the oldest item still held."""
        return max(0, self.end - self.capacity)

    def push(self, items: np.ndarray) -> None:
        """Append ``items`` ``[m, *shape]`` (only the last ``capacity`` are kept)."""
        if len(items) > self.capacity:  # the head would be overwritten at once
            self.end += len(items) - self.capacity
            items = items[-self.capacity :]
        for item in items:
            self.data[self.end % self.capacity] = item
            self.end += 1

    def get(self, index: np.ndarray | int) -> np.ndarray:
        """Items at absolute ``index`` (an int or an integer array); IndexError when not held."""
        idx = np.asarray(index)
        if idx.size and (idx.min() < self.first or idx.max() >= self.end):
            raise IndexError(f"frames {idx.min()}..{idx.max()} are not all in the ring [{self.first}, {self.end})")
        return self.data[idx % self.capacity]


class Series:
    """A growing 1-D float array (amortised appends)."""

    def __init__(self) -> None:
        self._data = np.zeros(1024)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        need = self.size + values.size
        if need > self._data.size:
            grown = np.zeros(max(need, 2 * self._data.size))
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    @property
    def values(self) -> np.ndarray:
        """The values so far (a view)."""
        return self._data[: self.size]


def border(size: int, cfg: SpotConfig) -> np.ndarray:
    """Boolean ``[size, size]``: True within ``cfg.margin`` of the image's edges."""
    edge = np.ones((size, size), bool)
    m = int(round(cfg.margin * size))
    edge[m : size - m, m : size - m] = False
    return edge


def eye_boxes(size: int, cfg: SpotConfig, eye_row: float, eye_distance: float) -> np.ndarray:
    """Boolean ``[size, size]``: True inside the two eye boxes of an aligned face."""
    eyes = np.zeros((size, size), bool)
    r0 = int(round((eye_row - cfg.eye_half_height) * size))
    r1 = int(round((eye_row + cfg.eye_half_height) * size))
    for cx in (0.5 - eye_distance / 2, 0.5 + eye_distance / 2):
        c0 = int(round((cx - cfg.eye_half_width) * size))
        c1 = int(round((cx + cfg.eye_half_width) * size))
        eyes[max(0, r0) : max(0, r1), max(0, c0) : max(0, c1)] = True
    return eyes


def _block_starts(length: int, parts: int) -> np.ndarray:
    """Start offsets of ``parts`` near-equal pieces of ``length`` (as :func:`numpy.array_split`)."""
    return np.cumsum([0] + [len(a) for a in np.array_split(np.arange(length), parts)][:-1])


class IntensityFeature:
    """Blurred faces normalised by their mean brightness; block difference = masked mean |a - b|."""

    def __init__(self, cfg: SpotConfig, size: int, keep: np.ndarray) -> None:
        self.cfg, self.size = cfg, size
        self.sigma = cfg.blur_sigma * size / 128.0
        self.keep = keep.astype(np.float32)
        self.rows, self.cols = _block_starts(size, cfg.grid_rows), _block_starts(size, cfg.grid_cols)
        counts = self._block_sums(self.keep[None])[0]
        self.valid = counts > 0.25 * counts.max()
        self.counts = np.maximum(counts, 1.0)
        self.shape: tuple[int, ...] = (size, size)

    def _block_sums(self, x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.add.reduceat(x, self.rows, axis=1), self.cols, axis=2).reshape(len(x), -1)

    def represent(self, faces: np.ndarray) -> np.ndarray:
        """``[m, S, S]`` uint8 faces → ``[m, S, S]`` float32."""
        out = np.empty(faces.shape, np.float32)
        for i, face in enumerate(faces):
            g = cv2.GaussianBlur(face.astype(np.float32), (0, 0), self.sigma) if self.sigma > 0 else face.astype(
                np.float32)
            out[i] = g / max(float(g.mean()), 1e-3)
        return out

    def block_diff(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-block difference ``[m, blocks]`` of representations ``a``, ``b`` ``[m, ...]``."""
        return self._block_sums(np.abs(a - b) * self.keep) / self.counts

    def block_means(self, x: np.ndarray) -> np.ndarray:
        """Per-block mean ``[m, valid blocks]`` of images ``x`` ``[m, S, S]`` over the pixels that count."""
        return (self._block_sums(x * self.keep) / self.counts)[:, self.valid]

    def shifted(self, rep: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """A representation ``[S, S]`` moved by ``(dx, dy)`` pixels (to compensate a global shift)."""
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(rep, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)


class LbpFeature:
    """Uniform-LBP block histograms of the blurred face (eyes left out); difference = χ² distance."""

    def __init__(self, cfg: SpotConfig, size: int, keep: np.ndarray) -> None:
        self.cfg, self.size = cfg, size
        self.sigma = cfg.blur_sigma * size / 128.0
        self.keep = keep
        grid = (cfg.grid_rows, cfg.grid_cols)
        self.valid = block_histograms(np.zeros((1, size, size), np.float32), grid, cfg.lbp_radius,
                                      mask=keep)[0].sum(axis=1) > 0
        self.shape = (cfg.grid_rows * cfg.grid_cols, 59)

    def represent(self, faces: np.ndarray) -> np.ndarray:
        blurred = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), self.sigma) if self.sigma > 0
                            else f.astype(np.float32) for f in faces])
        grid = (self.cfg.grid_rows, self.cfg.grid_cols)
        return block_histograms(blurred, grid, self.cfg.lbp_radius, mask=self.keep).astype(np.float32)

    def block_diff(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return chi_squared(a, b)

    def shifted(self, rep: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """Block histograms are left as they are (nearly unchanged by a small shift)."""
        return rep


def make_feature(cfg: SpotConfig, size: int, keep: np.ndarray) -> IntensityFeature | LbpFeature:
    """The feature named by ``cfg.feature`` for faces of ``size`` pixels, counting pixels where ``keep``."""
    return IntensityFeature(cfg, size, keep) if cfg.feature == "intensity" else LbpFeature(cfg, size, keep)


def aggregate(diff: np.ndarray, valid: np.ndarray, cfg: SpotConfig) -> np.ndarray:
    """Per-frame feature difference from block differences ``[m, blocks]``: the mean of the
    ``top_blocks`` largest valid blocks, minus the median valid block when ``subtract_median``."""
    d = diff[:, valid]
    top = min(cfg.top_blocks, d.shape[1])
    value = -np.partition(-d, top - 1, axis=1)[:, :top].mean(axis=1)
    if cfg.subtract_median:
        value = value - np.median(d, axis=1)
    return value


def _small(face: np.ndarray, side: int) -> np.ndarray:
    g = cv2.resize(face.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    g = cv2.GaussianBlur(g, (0, 0), 1.0)
    return g / max(float(g.mean()), 1e-3)


class SpotSignals:
    """Streaming ``F``, ``C``, ``E``, ``G`` of one recording (see the module docstring).

    Args:
        cfg: spotter parameters.
        fps: the recording's frame rate.
        size: side of the aligned faces pushed.
        eye_row, eye_distance: eye centres in the aligned face (fractions of the side).
        capacity: frames of representation kept (must cover what the detector looks back at).
    """

    def __init__(self, cfg: SpotConfig, fps: float, size: int, eye_row: float, eye_distance: float,
                 capacity: int) -> None:
        self.cfg, self.fps, self.size = cfg, fps, size
        self.k = cfg.k(fps)
        eyes = eye_boxes(size, cfg, eye_row, eye_distance) if cfg.eye_boxes else np.zeros((size, size), bool)
        self.feature = make_feature(cfg, size, ~(eyes | border(size, cfg)))
        side = min(size, SMALL_SIDE)
        self.small_side = side
        small_eyes = cv2.resize(eyes.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
        self.small_eyes = small_eyes / max(float(small_eyes.sum()), 1e-6)  # weights of the eye signal
        self.small_feature = IntensityFeature(cfg, side, (small_eyes == 0) & ~border(side, cfg))
        self.window = cv2.createHanningWindow((side, side), cv2.CV_32F)
        self.capacity = max(capacity, 2 * self.k + 2)
        self.rep = FrameRing(self.capacity, self.feature.shape, np.float32)
        self.small = FrameRing(self.capacity, (side, side), np.float32)
        #: per-block feature differences of the frames whose ``F`` is final (for the learned spotter)
        self.blocks = FrameRing(self.capacity, (int(self.feature.valid.size),), np.float32)
        self.F, self.E, self.G, self.C = Series(), Series(), Series(), Series()
        self.n = 0  # frames pushed
        self.finished = False

    @property
    def n_final(self) -> int:
        """Frames whose ``F``, ``E``, ``G`` are final."""
        return self.F.size

    @property
    def n_contrast(self) -> int:
        """Frames whose ``C`` is final."""
        return self.C.size

    def push(self, faces: np.ndarray) -> None:
        """Add aligned faces ``[m, S, S]`` uint8 (m ≤ capacity − 2k) and compute what became computable."""
        if len(faces) == 0:
            return
        if len(faces) > self.capacity - 2 * self.k:
            raise ValueError(f"push at most {self.capacity - 2 * self.k} frames at a time, got {len(faces)}")
        self.rep.push(self.feature.represent(faces))
        self.small.push(np.stack([_small(f, self.small_side) for f in faces]))
        self.n += len(faces)
        self._advance(self.n - self.k)

    def finish(self) -> None:
        """The recording ended: the last ``k`` frames get ``F = E = G = 0`` and ``C`` is completed."""
        self._advance(self.n - self.k)
        pad = self.n - self.F.size
        for s in (self.F, self.E, self.G):
            s.extend(np.zeros(pad))
        if pad > 0:
            self.blocks.push(np.zeros((pad, self.blocks.data.shape[1]), np.float32))
        self._contrast(final=True)
        self.finished = True

    def _advance(self, upto: int) -> None:
        start = self.F.size
        if upto <= start:
            return
        k = self.k
        t = np.arange(start, upto)
        head = t[t < k]  # no frame t-k: undefined, 0
        if head.size:
            for s in (self.F, self.E, self.G):
                s.extend(np.zeros(head.size))
            self.blocks.push(np.zeros((head.size, self.blocks.data.shape[1]), np.float32))
        t = t[t >= k]
        if t.size:
            cur, before, after = self.rep.get(t), self.rep.get(t - k), self.rep.get(t + k)
            diff = self.feature.block_diff(cur, (before + after) / 2)
            self.F.extend(aggregate(diff, self.feature.valid, self.cfg))
            self.blocks.push(diff.astype(np.float32))
            s_cur, s_before, s_after = self.small.get(t), self.small.get(t - k), self.small.get(t + k)
            self.E.extend((np.abs(s_cur - (s_before + s_after) / 2) * self.small_eyes).sum(axis=(1, 2)))
            self.G.extend([self._shift(a, b) for a, b in zip(s_before, s_after, strict=True)])
        self._contrast(final=False)

    def change(self, before: np.ndarray, after: np.ndarray) -> float:
        """Difference between the mean down-scaled faces of two frame ranges (absolute indexes, held in
        the rings), aggregated over blocks as ``F`` is, after a global shift between them (phase
        correlation) is compensated: each is moved half-way, so that both are interpolated alike."""
        from causalnet.flow.face import translation

        a, b = self.small.get(before).mean(axis=0), self.small.get(after).mean(axis=0)
        dx, dy, _ = translation(a, b)
        feat = self.small_feature
        a, b = feat.shifted(a, dx / 2, dy / 2), feat.shifted(b, -dx / 2, -dy / 2)
        return float(aggregate(feat.block_diff(a[None], b[None]), feat.valid, self.cfg)[0])

    def _shift(self, a: np.ndarray, b: np.ndarray) -> float:
        # Windowed copies: OpenCV 5.0's phaseCorrelate modifies its inputs in place when given a window.
        (dx, dy), _ = cv2.phaseCorrelate(a * self.window, b * self.window)
        shift = float(np.hypot(dx, dy)) / self.small_side
        return shift if np.isfinite(shift) else 1.0

    def _contrast(self, final: bool) -> None:
        k, f = self.k, self.F.values
        upto = f.size if final else f.size - k
        start = self.C.size
        if upto <= start:
            return
        t = np.arange(start, upto)
        ok = (t >= 2 * k) & (t + k < f.size) & (t < self.n - 2 * k if final else True)
        c = np.zeros(t.size)
        c[ok] = f[t[ok]] - (f[t[ok] - k] + f[t[ok] + k]) / 2
        self.C.extend(c)
