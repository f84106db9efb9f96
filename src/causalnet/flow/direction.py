"""Direction maps (SPEC §2, supplementary Algorithm 1).

The flow components are normalised, their polar angle θ is taken with ``cv2.cartToPolar``
(radians, 0..2π), hue = θ·180/(2π) (OpenCV's 0..180 hue scale), saturation = value = 255, and the
HSV image is converted to BGR uint8.

With min–max-normalised components (``direction_from = "normalised"``, the published data) both
components are ≥ 0, so θ ∈ [0, π/2] and the hues run red → yellow-green: channel 0 (blue) of
every map is 0 and channels 1–2 carry the colour, as in the published PNGs. A motion reversal
turns each normalised component c into 1 − c. With ``direction_from = "raw"`` the angle of the
raw flow vector is used instead and the whole hue circle appears (a reversal shifts the hue by
90 OpenCV units, i.e. 180°).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from causalnet.flow.config import PreprocessConfig
from causalnet.flow.optical_flow import normalise_01, resize_channels

__all__ = ["direction_map", "direction_map_from_flow", "hue_of"]

HUE_SCALE = 180.0 / (2.0 * math.pi)
"""Radians → OpenCV 8-bit hue units (0..180 for a full turn)."""


def direction_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BGR uint8 ``[H, W, 3]`` direction map of the (normalised) flow components ``x``, ``y`` ``[H, W]``."""
    x = np.ascontiguousarray(np.nan_to_num(x, nan=0.0), dtype=np.float32)
    y = np.ascontiguousarray(np.nan_to_num(y, nan=0.0), dtype=np.float32)
    _, angle = cv2.cartToPolar(x, y)  # radians in [0, 2π)
    hue = np.rint(angle * HUE_SCALE).astype(np.int32) % 180
    hsv = np.empty(x.shape + (3,), dtype=np.uint8)
    hsv[..., 0] = hue.astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def direction_map_from_flow(flow: np.ndarray, cfg: PreprocessConfig | None = None) -> np.ndarray:
    """Direction map ``[out, out, 3]`` uint8 (BGR) of a flow field ``[H, W, 2]`` at face resolution.

    The components are normalised as ``cfg.direction_from`` says and shrunk to ``cfg.out_size``
    before the angle is taken (in the published data the map matches the angle of the 28×28
    flow channels to within rounding).
    """
    cfg = cfg or PreprocessConfig()
    if cfg.direction_from == "normalised":
        comps = np.stack(
            [normalise_01(flow[..., 0], cfg.min_flow_range), normalise_01(flow[..., 1], cfg.min_flow_range)],
            axis=-1,
        )
    else:
        comps = flow.astype(np.float32)
    comps = resize_channels(comps, cfg.out_size, cfg.resize_interpolation)
    return direction_map(comps[..., 0], comps[..., 1])


def hue_of(direction: np.ndarray) -> np.ndarray:
    """OpenCV hue ``[H, W]`` (0..179) of a BGR direction map — the inverse view used by tests and checks."""
    return cv2.cvtColor(direction, cv2.COLOR_BGR2HSV)[..., 0]
