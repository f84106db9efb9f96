"""TV-L1 optical flow, optical strain and the optical-flow image of SPEC §2.

Optical-flow image (as written by ``cv2.imwrite``, i.e. BGR channel order)::

    channel 0  optical strain magnitude   min–max normalised to 0..255 (mostly dark)
    channel 1  vertical flow v            min–max normalised to 0..255
    channel 2  horizontal flow u          min–max normalised to 0..255

This order was read off the published data: there the direction map's hue is the polar angle of
(channel 2, channel 1) (correlation 0.998 over all 884 flow/direction-map pairs), and Algorithm 1
takes the angle of (u, v); it is also what an RGB stack ``[u, v, strain]`` (the folder name
``..._u_v_os``) becomes when OpenCV reads it back as BGR.

Optical strain (the form used here): with ``εxx = ∂u/∂x``, ``εyy = ∂v/∂y`` and
``εxy = ½(∂u/∂y + ∂v/∂x)`` (central differences, ``numpy.gradient``, unit pixel spacing),
``strain = sqrt(εxx² + εyy² + 2·εxy²)`` — the Frobenius norm of the symmetric strain tensor.

Each channel is min–max normalised over the aligned face (at ``face_size``), then shrunk to
``out_size`` (default 28, area interpolation). A channel with (near) zero range — identical
frames, a flat image — is written as 0 rather than stretching noise; nothing is ever NaN.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

from causalnet.flow.config import PreprocessConfig

__all__ = [
    "CHANNEL_STRAIN",
    "CHANNEL_U",
    "CHANNEL_V",
    "flow_channels",
    "flow_image",
    "normalise_01",
    "optical_strain",
    "resize_channels",
    "tvl1_flow",
]

log = logging.getLogger(__name__)

#: Channel indexes of the optical-flow image (BGR as OpenCV writes/reads it).
CHANNEL_STRAIN = 0
CHANNEL_V = 1
CHANNEL_U = 2

_INTERPOLATION = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}


@functools.lru_cache(maxsize=4)
def _tvl1_solver(params: tuple) -> cv2.optflow.DualTVL1OpticalFlow:
    (tau, lam, theta, eps, gamma, scales, scale_step, warps, inner, outer, median) = params
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    # Setters rather than keyword arguments: the keyword for inner iterations is misspelt in OpenCV.
    solver.setTau(tau)
    solver.setLambda(lam)
    solver.setTheta(theta)
    solver.setEpsilon(eps)
    solver.setGamma(gamma)
    solver.setScalesNumber(scales)
    solver.setScaleStep(scale_step)
    solver.setWarpingsNumber(warps)
    solver.setInnerIterations(inner)
    solver.setOuterIterations(outer)
    solver.setMedianFiltering(median)
    solver.setUseInitialFlow(False)
    return solver


def _solver_params(cfg: PreprocessConfig) -> tuple:
    return (
        cfg.tvl1_tau,
        cfg.tvl1_lambda,
        cfg.tvl1_theta,
        cfg.tvl1_epsilon,
        cfg.tvl1_gamma,
        cfg.tvl1_scales,
        cfg.tvl1_scale_step,
        cfg.tvl1_warps,
        cfg.tvl1_inner_iterations,
        cfg.tvl1_outer_iterations,
        cfg.tvl1_median_filtering,
    )


def tvl1_flow(first: np.ndarray, second: np.ndarray, cfg: PreprocessConfig | None = None) -> np.ndarray:
    """Dense TV-L1 flow from ``first`` to ``second`` (grayscale uint8 ``[H, W]``, same shape).

    Returns float32 ``[H, W, 2]``: ``[..., 0]`` = u (horizontal, + right), ``[..., 1]`` = v
    (vertical, + down), in pixels, such that ``second(x + u, y + v) ≈ first(x, y)``.
    """
    cfg = cfg or PreprocessConfig()
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(f"tvl1_flow needs two grayscale images of one shape, got {first.shape} and {second.shape}")
    first = first if first.dtype == np.uint8 else np.clip(first, 0, 255).astype(np.uint8)
    second = second if second.dtype == np.uint8 else np.clip(second, 0, 255).astype(np.uint8)
    flow = _tvl1_solver(_solver_params(cfg)).calc(first, second, None)
    return np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude ``[H, W]`` (float32) of a flow field ``[H, W, 2]`` (see module doc)."""
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    exy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2.0 * exy**2).astype(np.float32)


def normalise_01(channel: np.ndarray, min_range: float) -> np.ndarray:
    """Min–max normalise to ``[0, 1]`` (float32); a range below ``min_range`` gives all zeros."""
    channel = np.nan_to_num(channel.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(channel.min()), float(channel.max())
    if hi - lo < min_range:
        return np.zeros_like(channel)
    return (channel - lo) / (hi - lo)


def resize_channels(image: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """Resize ``[H, W, C]`` (float32) to ``[size, size, C]`` with a named OpenCV interpolation."""
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=_INTERPOLATION[interpolation])


def flow_channels(flow: np.ndarray, cfg: PreprocessConfig | None = None) -> np.ndarray:
    """The optical-flow image as float32 ``[out, out, 3]`` in 0..255 (strain, v, u; not rounded).

    ``flow`` is ``[H, W, 2]`` (u, v) at face resolution.
    """
    cfg = cfg or PreprocessConfig()
    channels = np.empty(flow.shape[:2] + (3,), dtype=np.float32)
    channels[..., CHANNEL_STRAIN] = normalise_01(optical_strain(flow), cfg.min_strain_range)
    channels[..., CHANNEL_V] = normalise_01(flow[..., 1], cfg.min_flow_range)
    channels[..., CHANNEL_U] = normalise_01(flow[..., 0], cfg.min_flow_range)
    channels *= 255.0
    return np.clip(resize_channels(channels, cfg.out_size, cfg.resize_interpolation), 0.0, 255.0)


def flow_image(flow: np.ndarray, cfg: PreprocessConfig | None = None) -> np.ndarray:
    """The optical-flow image, uint8 ``[out, out, 3]`` (BGR order as written: strain, v, u)."""
    return np.rint(flow_channels(flow, cfg)).astype(np.uint8)
