"""Typed configuration of the raw-frames → four-images pipeline (face crop, TV-L1 flow, images)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

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

    def __post_init__(self) -> None:
        if self.face_method not in FACE_METHODS:
            raise ValueError(f"face_method must be one of {FACE_METHODS}, got {self.face_method!r}")
        if self.resize_interpolation not in INTERPOLATIONS:
            raise ValueError(f"resize_interpolation must be one of {INTERPOLATIONS}, got {self.resize_interpolation!r}")
        if self.direction_from not in ("normalised", "raw"):
            raise ValueError(f"direction_from must be 'normalised' or 'raw', got {self.direction_from!r}")
        if self.face_size < 16 or self.out_size < 1:
            raise ValueError(f"face_size must be >= 16 and out_size >= 1 (got {self.face_size}, {self.out_size})")
        if not (0 < self.eye_row < 1 and 0 < self.eye_distance < 1):
            raise ValueError("eye_row and eye_distance are fractions of face_size in (0, 1)")


def _default() -> PreprocessConfig:
    return PreprocessConfig()


def _opencv() -> PreprocessConfig:
    """OpenCV's DualTVL1 defaults (slower, ~2x the solver time at 128 px)."""
    return PreprocessConfig(
        tvl1_scales=5, tvl1_scale_step=0.8, tvl1_warps=5, tvl1_inner_iterations=30, tvl1_outer_iterations=10
    )


PreprocessConfig.PRESETS = {"default": _default, "opencv": _opencv}
