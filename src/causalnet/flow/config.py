"""Typed configuration of the raw-frames → four-images pipeline (face crop, TV-L1 flow, images)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from causalnet.checks import ANY, Check, at_least, between, one_of, positive
from causalnet.config import PresetMixin

__all__ = ["FACE_METHODS", "INTERPOLATIONS", "PreprocessConfig"]

#: Face handling: ``dlib`` detects, landmarks and aligns on the onset frame; ``none`` takes frames as
#: already cropped and aligned faces (they are only resized to ``face_size``).
FACE_METHODS = ("dlib", "none")

#: Names accepted by ``resize_interpolation`` (OpenCV's interpolation flags).
INTERPOLATIONS = ("area", "linear", "cubic", "nearest")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig(PresetMixin):
    """Every parameter of :func:`causalnet.flow.pipeline.clip_images`.

    Face (``face_*``, ``eye_*``, ``detect_*``):
        face_method: ``dlib`` or ``none`` (see :data:`FACE_METHODS`).
        face_size: side in pixels of the square, aligned face the flow is computed on.
        eye_row: row of the eye line in the aligned face, as a fraction of ``face_size``.
        eye_distance: distance between the two eye centres, as a fraction of ``face_size``
            (with ``eye_row`` this fixes the margins: eyebrows to chin fit in the square).
        detect_max_side: the onset frame is shrunk so its longer side is at most this many pixels
            before face detection (speed); landmarks are found on the full-resolution frame.
        detect_upsample: dlib detector upsampling steps on that shrunk frame.
        detect_retry_upsample: upsampling steps of a second, full-resolution try when the first
            finds no face (0 = no second try).
        landmark_model: path of dlib's 68-point shape predictor; empty = the copy shipped in the
            ``face-recognition-models`` package.

    Optical flow (``tvl1_*``: OpenCV-contrib's DualTVL1, run on the grayscale aligned faces;
    the defaults are tuned for speed at 128 px, see ``docs/preprocessing.md``; preset ``opencv``
    restores OpenCV's own defaults):
        tvl1_tau, tvl1_lambda, tvl1_theta, tvl1_epsilon, tvl1_gamma: the solver's time step,
            data-term weight, tightness, stopping threshold and illumination term weight.
        tvl1_scales, tvl1_scale_step: pyramid levels and the down-scaling factor between them.
        tvl1_warps, tvl1_inner_iterations, tvl1_outer_iterations: iterations per level.
        tvl1_median_filtering: median filter size applied to the flow between warps.

    Images:
        out_size: side of the output images (28 in the published data).
        resize_interpolation: interpolation used to shrink the normalised flow channels to
            ``out_size`` (``area`` = anti-aliased averaging).
        min_flow_range: a flow component whose range (max − min, pixels) is below this is treated
            as constant (no motion) and written as 0 instead of min–max-stretching its noise;
            the same for the strain with ``min_strain_range``. Keeps degenerate input finite.
        min_strain_range: see ``min_flow_range``.
        direction_from: ``normalised`` (the published data: angle of the min–max-normalised flow
            components, hues 0–90°) or ``raw`` (angle of the raw flow vector, the full hue circle).
    """

    face_method: str = "dlib"
    face_size: int = 128
    eye_row: float = 0.30
    eye_distance: float = 0.36
    detect_max_side: int = 320
    detect_upsample: int = 1
    detect_retry_upsample: int = 1
    landmark_model: str = ""

    tvl1_tau: float = 0.25
    tvl1_lambda: float = 0.15
    tvl1_theta: float = 0.3
    tvl1_epsilon: float = 0.01
    tvl1_gamma: float = 0.0
    tvl1_scales: int = 3
    tvl1_scale_step: float = 0.5
    tvl1_warps: int = 3
    tvl1_inner_iterations: int = 20
    tvl1_outer_iterations: int = 5
    tvl1_median_filtering: int = 5

    out_size: int = 28
    resize_interpolation: str = "area"
    min_flow_range: float = 1e-3
    min_strain_range: float = 1e-5
    direction_from: str = "normalised"

    PRESETS: ClassVar[dict] = {}
    #: allowed ranges, checked on construction (also of --set values)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "face_method": one_of(*FACE_METHODS),
        "face_size": between(16, 2048),
        "eye_row": between(0, 1, lo_open=True, hi_open=True),
        "eye_distance": between(0, 1, lo_open=True, hi_open=True),
        "detect_max_side": between(16, 8192),
        "detect_upsample": between(0, 4),
        "detect_retry_upsample": between(0, 4),
        "landmark_model": ANY,
        "tvl1_tau": positive(),
        "tvl1_lambda": positive(),
        "tvl1_theta": positive(),
        "tvl1_epsilon": positive(),
        "tvl1_gamma": at_least(0),
        "tvl1_scales": between(1, 10),
        "tvl1_scale_step": between(0, 1, lo_open=True, hi_open=True),
        "tvl1_warps": between(1, 100),
        "tvl1_inner_iterations": between(1, 1000),
        "tvl1_outer_iterations": between(1, 1000),
        "tvl1_median_filtering": one_of(1, 3, 5),  # OpenCV's median filter on float flow: 3 or 5 (1 = none)
        "out_size": between(1, 512),
        "resize_interpolation": one_of(*INTERPOLATIONS),
        "min_flow_range": at_least(0),
        "min_strain_range": at_least(0),
        "direction_from": one_of("normalised", "raw"),
    }


def _default() -> PreprocessConfig:
    return PreprocessConfig()


def _opencv() -> PreprocessConfig:
    """OpenCV's DualTVL1 defaults (slower, ~2x the solver time at 128 px)."""
    return PreprocessConfig(
        tvl1_scales=5, tvl1_scale_step=0.8, tvl1_warps=5, tvl1_inner_iterations=30, tvl1_outer_iterations=10
    )


PreprocessConfig.PRESETS = {"default": _default, "opencv": _opencv}
