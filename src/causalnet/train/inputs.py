"""Model-input rows of a clip set, as every training path builds them: mirror images, compact storage,
source-dataset codes. One implementation, used by LOSO runs, sweeps, robustness folds and
:func:`causalnet.train.deploy.train_all`.
"""

from __future__ import annotations

import numpy as np

from causalnet.data.composite import ClipSet

__all__ = ["compact_inputs", "dataset_codes", "with_mirror_images"]


def with_mirror_images(clips: ClipSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs ``[2N, ...]`` (rows ``N + i`` = mirror image of clip ``i``, :mod:`causalnet.data.mirror`),
    labels ``[2N]`` and the variant table ``[2N, 2]`` pairing each row with its mirror.

    Refuses (a clear error naming the folder) when the folder's direction maps do not follow from its
    flow images, because the mirror images would then be wrong.
    """
    from causalnet.data.mirror import MIN_AGREEMENT, direction_maps_match, mirror_clips

    agreement = direction_maps_match(clips.x)
    if agreement < MIN_AGREEMENT:
        raise ValueError(f"{clips.root}: the direction maps do not follow from the flow images "
                         f"({agreement:.1%} of pixels agree), so clips cannot be mirrored; "
                         "train with train.mirror=false and train.mirror_tta=false")
    n = len(clips)
    table = np.stack([np.arange(2 * n), np.r_[np.arange(n, 2 * n), np.arange(n)]], axis=1)
    return np.concatenate([clips.x, mirror_clips(clips.x)]), np.concatenate([clips.y, clips.y]), table


def compact_inputs(x: np.ndarray) -> np.ndarray:
    """``x`` as uint8 when every value is an integer in 0..255 (4x less to ship to workers; the loop
    converts back to exactly the same float32 values), else unchanged.

    >>> compact_inputs(np.array([0.0, 255.0])).dtype
    dtype('uint8')
    >>> compact_inputs(np.array([0.5])).dtype
    dtype('float64')
    """
    small = x.astype(np.uint8)
    return small if np.array_equal(small, x) else x


def dataset_codes(clips: ClipSet, rows: int) -> np.ndarray:
    """Source-dataset index (sorted dataset names → 0, 1, ...) of each input row: the clips, then any
    copies of them (mirror images) in the same order."""
    codes = np.unique(clips.datasets, return_inverse=True)[1].astype(np.int64)
    return np.tile(codes, rows // len(clips))
