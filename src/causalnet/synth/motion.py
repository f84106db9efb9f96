"""Action-unit-like local motions, the three classes, and the temporal intensity profile.

An action unit (AU) is a set of Gaussian displacement bumps attached to facial landmarks. Each
bump moves the skin around a landmark in one direction; directions are written as
``(outward, down)`` — ``outward`` points away from the face's vertical midline, so the left and
right halves mirror each other. A clip's displacement field at frame ``t`` is
``profile(t) × field``, where ``profile`` rises from 0 at the onset to 1 at the apex and falls back
to 0 at the offset: the relaxation (apex→offset) exactly reverses the contraction (onset→apex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bump:
    """One Gaussian displacement bump of an action unit.

    ``landmark`` is a landmark name without its side suffix when ``sided`` (then the bump exists
    on both sides, ``_l`` and ``_r``); ``sigma`` is a fraction of the frame side; ``direction`` is
    ``(outward, down)``; ``weight`` scales it relative to the AU's other bumps.
    """

    landmark: str
    sigma: float
    direction: tuple[float, float]
    weight: float = 1.0
    sided: bool = True


#: The action units (FACS names), as bumps on the face's landmarks.
ACTION_UNITS: dict[str, tuple[Bump, ...]] = {
    # AU1+2, inner and outer brow raiser: the whole brow goes up
    "AU1+2": (
        Bump("brow_inner", 0.045, (0.0, -1.0)),
        Bump("brow_mid", 0.05, (0.0, -1.0)),
        Bump("brow_outer", 0.045, (0.1, -1.0), 0.7),
    ),
    # AU4, brow lowerer: the inner brows go down and toward the midline
    "AU4": (
        Bump("brow_inner", 0.045, (-0.6, 0.8)),
        Bump("brow_mid", 0.045, (-0.25, 0.9), 0.6),
    ),
    # AU6, cheek raiser: the cheeks and the lower lids go up
    "AU6": (
        Bump("cheek", 0.055, (0.1, -1.0)),
        Bump("lower_lid", 0.03, (0.0, -1.0), 0.5),
    ),
    # AU12, lip corner puller: the mouth corners go up and out
    "AU12": (Bump("mouth_corner", 0.05, (0.7, -0.7)),),
    # AU15, lip corner depressor: the mouth corners go down
    "AU15": (Bump("mouth_corner", 0.045, (0.15, 1.0)),),
    # AU26, jaw drop: the lower lip and the chin go down
    "AU26": (
        Bump("lower_lip", 0.05, (0.0, 1.0), 0.8, sided=False),
        Bump("chin", 0.08, (0.0, 1.0), 1.0, sided=False),
    ),
}

#: Blinks (a distractor, no class): the upper lids and, a little, the brows move down.
BLINK_BUMPS: tuple[Bump, ...] = (
    Bump("upper_lid", 0.035, (0.0, 1.0)),
    Bump("brow_mid", 0.05, (0.0, 1.0), 0.3),
)


@dataclass(frozen=True)
class ExpressionClass:
    """A class: the AUs always present and those that join a clip at random (the ``±`` ones)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def action_units(self) -> tuple[str, ...]:
        """All AUs the class may use."""
        return self.required + self.optional


#: The three classes in label order (SPEC §4: 0 negative, 1 positive, 2 surprise).
CLASSES: tuple[ExpressionClass, ...] = (
    ExpressionClass("negative", required=("AU4",), optional=("AU15",)),
    ExpressionClass("positive", required=("AU12",), optional=("AU6",)),
    ExpressionClass("surprise", required=("AU1+2", "AU26")),
)

#: Where each AU moves the face: the landmarks of its bumps (used by tests and docs).
AU_REGIONS: dict[str, tuple[str, ...]] = {
    name: tuple(sorted({b.landmark for b in bumps})) for name, bumps in ACTION_UNITS.items()
}


def intensity_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """The expression's intensity per frame: 0 up to the onset, 1 at the apex, 0 from the offset.

    Rise and fall are raised-cosine ramps, so the intensity is strictly increasing on
    ``[onset, apex]`` and strictly decreasing on ``[apex, offset]``; the apex is its unique maximum.
    """
    if not 0 <= onset < apex < offset < n_frames:
        raise ValueError(
            f"need 0 <= onset < apex < offset < n_frames, got {onset}, {apex}, {offset}, {n_frames}"
        )
    return plateau_profile(n_frames, onset, apex, apex, offset)


def plateau_profile(n_frames: int, onset: int, rise_end: int, fall_start: int, offset: int) -> np.ndarray:
    """Intensity per frame of an expression held at its peak: a raised-cosine rise from 0 at
    ``onset`` to 1 at ``rise_end``, 1 until ``fall_start``, a raised-cosine fall to 0 at ``offset``.

    With ``rise_end == fall_start`` (the apex) this is :func:`intensity_profile`; a macro-expression
    holds its peak for a while (``rise_end < fall_start``). Indexes may lie past the recording's end
    (the profile is then cut off).
    """
    if not 0 <= onset < rise_end <= fall_start < offset:
        raise ValueError(
            f"need 0 <= onset < rise_end <= fall_start < offset, got {onset}, {rise_end}, {fall_start}, {offset}"
        )
    t = np.arange(n_frames, dtype=np.float64)
    p = np.zeros(n_frames)
    rise = (t >= onset) & (t <= rise_end)
    p[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / (rise_end - onset))
    p[(t > rise_end) & (t <= fall_start)] = 1.0
    fall = (t > fall_start) & (t <= offset)
    p[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - fall_start) / (offset - fall_start))
    return p


def blink_profile(n_frames: int, start: int, duration: int) -> np.ndarray:
    """Eye closure per frame (0 open, 1 closed) of a blink: a fast close, a slower reopening."""
    t = np.arange(n_frames, dtype=np.float64) - start
    close = max(1.0, 0.4 * duration)
    c = np.zeros(n_frames)
    closing = (t >= 0) & (t < close)
    c[closing] = 0.5 - 0.5 * np.cos(np.pi * t[closing] / close)
    opening = (t >= close) & (t < duration)
    c[opening] = 0.5 + 0.5 * np.cos(np.pi * (t[opening] - close) / (duration - close))
    return c


def _rotation(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _raw_field(
    bumps: tuple[Bump, ...],
    landmarks: dict[str, tuple[float, float]],
    size: int,
    side_gain: tuple[float, float],
    rotation_deg: float,
) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size
    field = np.zeros((size, size, 2))
    for bump in bumps:
        if bump.sided:
            sides = (("_l", -1.0, side_gain[0]), ("_r", 1.0, side_gain[1]))
        else:
            sides = (("", 1.0, 0.5 * (side_gain[0] + side_gain[1])),)
        for suffix, sign, gain in sides:
            x0, y0 = landmarks[bump.landmark + suffix]
            d = np.array([bump.direction[0] * sign, bump.direction[1]], dtype=np.float64)
            d = _rotation(rotation_deg * sign) @ d
            d /= np.linalg.norm(d) + 1e-12
            g = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * bump.sigma**2))
            field += (gain * bump.weight * g)[..., None] * d
    return field


def bumps_field(
    bumps: tuple[Bump, ...],
    landmarks: dict[str, tuple[float, float]],
    size: int,
    side_gain: tuple[float, float] = (1.0, 1.0),
    rotation_deg: float = 0.0,
) -> np.ndarray:
    """The displacement field (``size × size × 2``, (dx, dy) in pixels) of a set of bumps.

    The field is scaled so that, with equal gains on both sides, its largest displacement is
    1 pixel; ``side_gain`` then scales the bumps of the image's left and right halves (an
    asymmetric expression). ``rotation_deg`` turns every direction, mirrored between the halves.
    """
    unit = _raw_field(bumps, landmarks, size, (1.0, 1.0), rotation_deg)
    peak = float(np.sqrt((unit**2).sum(-1)).max())
    field = unit if side_gain == (1.0, 1.0) else _raw_field(bumps, landmarks, size, side_gain, rotation_deg)
    return (field / max(peak, 1e-12)).astype(np.float32)
