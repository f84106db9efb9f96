"""Left-right mirroring of a clip's four mosaic images (a face seen in a mirror).

A mirrored face makes the same expression, so mirrored clips keep their label: a cheap doubling of
the training data (augmentation) and of the test input (test-time averaging).

What mirroring does to each part of the input (SPEC §2):

- **Mosaic layout** ``[[left eye | left lips], [right eye | right lips]]``: the left half of the face
  becomes the right half, so the two block *rows* swap, and every 14×14 block is flipped
  horizontally. (Flipping the 28×28 image instead would move the eyes off the fixed block centres,
  which are not symmetric about the image centre.)
- **Flow images** (0, 1): the horizontal flow ``u`` changes sign. Each channel is min–max normalised
  per image, so ``-u`` normalises to exactly ``255 - u``; ``v`` and the strain magnitude are unchanged.
- **Direction maps** (2, 3): recomputed from the mirrored flow channels with
  :func:`causalnet.flow.direction.direction_map`. This is exact for direction maps taken from the
  normalised 28×28 flow (the published data and ``causalnet preprocess``'s default, agreement to one
  hue step); :func:`direction_maps_match` checks that before mirroring is trusted.
"""

from __future__ import annotations

import numpy as np
from einops import rearrange

from causalnet.data.mosaic import BLOCK_HALF
from causalnet.flow.direction import direction_map
from causalnet.flow.optical_flow import CHANNEL_U, CHANNEL_V

#: largest per-pixel difference (0..255) between a stored and a recomputed direction map that still
#: counts as a match: one OpenCV hue step moves a BGR channel by up to 255/30 ≈ 8.5.
DIRECTION_TOLERANCE = 9
#: smallest :func:`direction_maps_match` agreement at which mirroring is trusted.
MIN_AGREEMENT = 0.99
FLOW_IMAGES, DIRECTION_IMAGES = (0, 1), (2, 3)


def _flip_layout(x: np.ndarray) -> np.ndarray:
    """Swap the block rows (left/right half of the face) and flip each block horizontally."""
    side = 2 * BLOCK_HALF
    blocks = rearrange(x, "... (r h) (k w) -> ... r k h w", h=side, w=side)
    return rearrange(blocks[..., ::-1, :, :, ::-1], "... r k h w -> ... (r h) (k w)")


def _directions(flow: np.ndarray) -> np.ndarray:
    """Direction maps ``[N, 3, H, W]`` (float, 0..255, BGR) of flow images ``[N, 3, H, W]`` (0..255)."""
    n, _, h, w = flow.shape
    u = rearrange(flow[:, CHANNEL_U], "n h w -> (n h) w") / 255.0
    v = rearrange(flow[:, CHANNEL_V], "n h w -> (n h) w") / 255.0
    bgr = direction_map(u, v)  # [(n h), w, 3] uint8
    return rearrange(bgr, "(n h) w c -> n c h w", n=n, h=h).astype(np.float32)


def direction_maps_match(x: np.ndarray, tolerance: int = DIRECTION_TOLERANCE) -> float:
    """Fraction of pixels whose stored direction maps agree with those recomputed from the flow images.

    ``x`` is ``[N, 4, 3, H, W]`` (0..255). Near 1.0 for the published data; far lower when the maps
    were made another way (e.g. ``direction_from = "raw"``), in which case mirroring would be wrong.
    """
    x = np.asarray(x, dtype=np.float32)
    agree = [np.abs(_directions(x[:, f]) - x[:, d]).max(axis=1) <= tolerance
             for f, d in zip(FLOW_IMAGES, DIRECTION_IMAGES, strict=True)]
    return float(np.mean(agree))


def mirror_clips(x: np.ndarray) -> np.ndarray:
    """Mirror clips ``[N, 4, 3, 28, 28]`` (mosaic images, float 0..255, BGR) left-right; same shape.

    Mirroring twice gives the input back (exactly for the flow images; the direction maps are
    recomputed, so they equal the stored ones to within :data:`DIRECTION_TOLERANCE`).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 5 or x.shape[1] != 4 or x.shape[2] != 3:
        raise ValueError(f"mirror_clips expects [N, 4, 3, H, W] clips, got shape {x.shape}")
    out = np.ascontiguousarray(_flip_layout(x))
    out[:, FLOW_IMAGES, CHANNEL_U] = 255.0 - out[:, FLOW_IMAGES, CHANNEL_U]
    for f, d in zip(FLOW_IMAGES, DIRECTION_IMAGES, strict=True):
        out[:, d] = _directions(out[:, f])
    return out
