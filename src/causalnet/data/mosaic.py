"""The facial-block mosaic the network sees (SPEC §2, inherited from HTNet), and the model-input layout.

Four 14x14 blocks are cut around fixed points of the 28x28 optical-flow image and tiled as
``[[left eye | left lips], [right eye | right lips]]``; the nose block is unused.
:func:`images_to_input` is the one place a clip's four images become a model input (the data loader,
``predict``, ``analyze``, the robustness inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: (row, col) centres of the facial blocks in a 28x28 image.
LEFT_EYE = (9, 11)
LEFT_LIPS = (21, 10)
NOSE = (15, 17)
RIGHT_EYE = (10, 21)
RIGHT_LIPS = (20, 21)
BLOCK_HALF = 7
IMAGE_SIZE = 28
#: images per clip and channels per image (SPEC §2).
NUM_IMAGES, CHANNELS = 4, 3
MOSAIC_LAYOUT = ((LEFT_EYE, LEFT_LIPS), (RIGHT_EYE, RIGHT_LIPS))


def _block(img: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    r, c = centre
    return img[..., r - BLOCK_HALF: r + BLOCK_HALF, c - BLOCK_HALF: c + BLOCK_HALF, :]


def facial_mosaic(img: np.ndarray) -> np.ndarray:
    """Turn ``[..., 28, 28, C]`` images (any leading axes) into their 2x2 facial-block mosaics (same shape)."""
    if img.ndim < 3 or img.shape[-3:-1] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"facial_mosaic expects 28x28 images, got shape {img.shape}")
    rows = [np.concatenate([_block(img, a), _block(img, b)], axis=-2) for a, b in MOSAIC_LAYOUT]
    return np.concatenate(rows, axis=-3)


def mosaic_to_face(values: np.ndarray) -> np.ndarray:
    """Put a map over the mosaic ``[..., 28, 28]`` back where its blocks came from in the 28x28 image.

    The inverse placement of :func:`facial_mosaic` for per-pixel maps such as a gradient: each 14x14
    block is added at its source position. Overlapping blocks add (a pixel copied into several blocks
    gets the sum, which is the gradient with respect to that pixel); pixels no block covers stay 0.
    """
    if values.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"mosaic_to_face expects 28x28 maps, got shape {values.shape}")
    out = np.zeros_like(values)
    side = 2 * BLOCK_HALF
    for i, row in enumerate(MOSAIC_LAYOUT):
        for j, (r, c) in enumerate(row):
            out[..., r - BLOCK_HALF: r + BLOCK_HALF, c - BLOCK_HALF: c + BLOCK_HALF] += \
                values[..., i * side: (i + 1) * side, j * side: (j + 1) * side]
    return out


def images_to_input(images: np.ndarray | Sequence[np.ndarray], dtype: Any = None) -> np.ndarray:
    """Clips' four images ``[..., 4, 28, 28, 3]`` (BGR, 0-255) -> model input ``[..., 4, 3, 28, 28]``.

    Each image becomes its facial-block mosaic (:func:`facial_mosaic`); values are kept (0-255), cast
    to ``dtype`` (default float32). An empty sequence gives ``[0, 4, 3, 28, 28]``.

    >>> images_to_input(np.zeros((2, 4, 28, 28, 3), np.uint8)).shape
    (2, 4, 3, 28, 28)
    """
    dtype = np.float32 if dtype is None else dtype
    if len(images) == 0:
        return np.zeros((0, NUM_IMAGES, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), dtype)
    arr = np.asarray(images)
    if arr.shape[-4:] != (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE, CHANNELS):
        raise ValueError(f"expected clips of four {IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS} images "
                         f"[..., {NUM_IMAGES}, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}], got shape {arr.shape}")
    return np.ascontiguousarray(np.moveaxis(facial_mosaic(arr), -1, -3), dtype=dtype)
