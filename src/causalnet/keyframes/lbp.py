"""Uniform local binary patterns (LBP) in vectorised numpy, block histograms and the χ² distance.

LBP code of a pixel ``c`` with neighbours ``g_0 … g_{P-1}`` on a circle of radius ``R``:
``sum_p [g_p >= g_c] · 2^p``. Neighbour ``p`` sits at angle ``2πp/P`` (counter-clockwise from the
right, image rows pointing down) at the *rounded* offset ``(round(-R sin θ), round(R cos θ))`` — no
bilinear interpolation; for ``P = 8, R = 1`` these are the 8 pixels of the 3×3 neighbourhood, the
classic LBP. A pattern is *uniform* when its circular bit string has at most two 0/1 transitions;
with ``P = 8`` there are 58 uniform patterns, each with its own histogram bin (in increasing code
order), and one shared bin for all others: 59 bins (the "u2" mapping, not rotation-invariant).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = [
    "LBP_POINTS",
    "N_UNIFORM_BINS",
    "block_histograms",
    "chi_squared",
    "lbp_codes",
    "neighbour_offsets",
    "uniform_lbp",
    "uniform_lookup",
]

LBP_POINTS = 8
"""Number of sampling points P (codes fit in uint8)."""

N_UNIFORM_BINS = LBP_POINTS * (LBP_POINTS - 1) + 3
"""Bins of the uniform mapping: P(P-1)+2 uniform patterns plus one bin for the rest (59 for P = 8)."""


def neighbour_offsets(radius: int = 1) -> list[tuple[int, int]]:
    """(row, col) offsets of the ``LBP_POINTS`` neighbours at ``radius``, in circular order."""
    if radius < 1:
        raise ValueError(f"LBP radius must be >= 1, got {radius}")
    offsets = []
    for p in range(LBP_POINTS):
        theta = 2.0 * math.pi * p / LBP_POINTS
        offsets.append((int(round(-radius * math.sin(theta))), int(round(radius * math.cos(theta)))))
    return offsets


@lru_cache(maxsize=1)
def uniform_lookup() -> np.ndarray:
    """Lookup table (256,) uint8 from an 8-bit LBP code to its uniform-pattern bin (0..58)."""
    codes = np.arange(2**LBP_POINTS)
    bits = (codes[:, None] >> np.arange(LBP_POINTS)) & 1
    transitions = np.sum(bits != np.roll(bits, 1, axis=1), axis=1)
    uniform = transitions <= 2
    table = np.full(codes.shape, N_UNIFORM_BINS - 1, dtype=np.uint8)
    table[uniform] = np.arange(int(uniform.sum()), dtype=np.uint8)
    if int(uniform.sum()) != N_UNIFORM_BINS - 1:  # pragma: no cover - a property of P = 8
        raise AssertionError("unexpected number of uniform patterns")
    table.flags.writeable = False
    return table


def _as_stack(frames: np.ndarray) -> np.ndarray:
    """Accept (H, W) or (T, H, W); return (T, H, W)."""
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected grayscale frames of shape (H, W) or (T, H, W), got shape {arr.shape}")
    return arr


def lbp_codes(frames: np.ndarray, radius: int = 1) -> np.ndarray:
    """Raw 8-bit LBP codes.

    Args:
        frames: grayscale image(s), shape (H, W) or (T, H, W), any real dtype.
        radius: neighbour distance R in pixels.

    Returns:
        uint8 codes of shape (T, H - 2R, W - 2R) (border pixels without all neighbours are dropped).
    """
    stack = _as_stack(frames)
    _, height, width = stack.shape
    if height <= 2 * radius or width <= 2 * radius:
        raise ValueError(f"frames of {height}x{width} pixels are too small for LBP radius {radius}")
    centre = stack[:, radius : height - radius, radius : width - radius]
    codes = np.zeros(centre.shape, dtype=np.uint8)
    for bit, (dr, dc) in enumerate(neighbour_offsets(radius)):
        neighbour = stack[:, radius + dr : height - radius + dr, radius + dc : width - radius + dc]
        codes |= (neighbour >= centre).astype(np.uint8) << np.uint8(bit)
    return codes


def uniform_lbp(frames: np.ndarray, radius: int = 1) -> np.ndarray:
    """Uniform-pattern bin (0..58) of every interior pixel: shape (T, H - 2R, W - 2R), uint8."""
    return uniform_lookup()[lbp_codes(frames, radius)]


def _block_index(height: int, width: int, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Block id (H, W) of every pixel for a near-equal ``grid`` split, and pixels per block."""
    rows, cols = grid
    if rows < 1 or cols < 1 or rows > height or cols > width:
        raise ValueError(f"a {rows}x{cols} block grid does not fit a {height}x{width} LBP map")
    row_ids = np.repeat(np.arange(rows), [len(a) for a in np.array_split(np.arange(height), rows)])
    col_ids = np.repeat(np.arange(cols), [len(a) for a in np.array_split(np.arange(width), cols)])
    block = row_ids[:, None] * cols + col_ids[None, :]
    counts = np.bincount(block.ravel(), minlength=rows * cols)
    return block, counts


def block_histograms(
    frames: np.ndarray,
    grid: tuple[int, int] = (6, 6),
    radius: int = 1,
    chunk_frames: int = 64,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Normalised uniform-LBP histograms of a grid of blocks, for every frame.

    The LBP map (the frame less a ``radius`` border) is split into ``grid = (rows, cols)`` blocks of
    near-equal size; each block's 59-bin histogram sums to 1.

    Args:
        frames: grayscale frames, shape (T, H, W) (or one (H, W) frame).
        grid: number of block rows and columns.
        radius: LBP radius.
        chunk_frames: frames processed at once (bounds the memory of the intermediate arrays).
        mask: optional boolean (H, W): only pixels where it is True are counted (e.g. the face less
            the eyes); a block without any counted pixel gets an all-zero histogram.

    Returns:
        float64 array of shape (T, rows * cols, 59), blocks in row-major order.
    """
    stack = _as_stack(frames)
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    n_frames, height, width = stack.shape
    block, counts = _block_index(height - 2 * radius, width - 2 * radius, grid)
    n_blocks = int(counts.size)
    cell = (block.astype(np.int64) * N_UNIFORM_BINS)[None]  # (1, h, w) first bin of each pixel's block
    per_frame = n_blocks * N_UNIFORM_BINS
    keep = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"mask of shape {mask.shape} does not match frames of {height}x{width}")
        keep = mask[radius : height - radius, radius : width - radius]
        counts = np.bincount(block[keep].ravel(), minlength=n_blocks)
    out = np.empty((n_frames, n_blocks, N_UNIFORM_BINS), dtype=np.float64)
    for start in range(0, n_frames, chunk_frames):
        chunk = stack[start : start + chunk_frames]
        bins = uniform_lbp(chunk, radius).astype(np.int64)
        frame_base = (np.arange(chunk.shape[0], dtype=np.int64) * per_frame)[:, None, None]
        index = frame_base + cell + bins
        index = index[:, keep] if keep is not None else index
        flat = np.bincount(index.ravel(), minlength=chunk.shape[0] * per_frame)
        out[start : start + chunk.shape[0]] = flat.reshape(chunk.shape[0], n_blocks, N_UNIFORM_BINS)
    out /= np.maximum(counts, 1)[None, :, None]
    return out


def chi_squared(hist_a: np.ndarray, hist_b: np.ndarray) -> np.ndarray:
    """χ² distance ``sum_k (a_k - b_k)² / (a_k + b_k)`` over the last axis (0/0 bins count 0).

    Broadcasts: e.g. (T, B, 59) against (B, 59) gives (T, B).
    """
    a = np.asarray(hist_a, dtype=np.float64)
    b = np.asarray(hist_b, dtype=np.float64)
    total = a + b
    diff2 = (a - b) ** 2
    safe = np.where(total > 0, total, 1.0)
    return np.sum(np.where(total > 0, diff2 / safe, 0.0), axis=-1)
