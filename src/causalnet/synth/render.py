"""Sampling a clip's ground truth and rendering its frames.

A frame is the subject's neutral face warped by a displacement field::

    D_t(x) = profile(t) · F(x) + closure(t) · B(x) + drift(t)

with ``F`` the clip's expression field (its action units' Gaussian bumps), ``profile`` the
onset → apex → offset intensity, ``B`` the blink's motion, ``closure`` the blink's eye closure (which
also blends in the closed-eye face), and ``drift`` a slow head translation. The warped image is
area-downsampled from the supersampled rendering, multiplied by an illumination gain (flicker) and
degraded by Gaussian sensor noise before it is quantised to 8 bits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from causalnet.synth.config import SynthConfig
from causalnet.synth.face import Face
from causalnet.synth.motion import (
    ACTION_UNITS,
    BLINK_BUMPS,
    CLASSES,
    blink_profile,
    bumps_field,
    intensity_profile,
)

#: intensity range of a class's required action units (relative to the clip amplitude)
REQUIRED_INTENSITY = (0.85, 1.0)
#: intensity range of an optional action unit that joins the clip
OPTIONAL_INTENSITY = (0.5, 1.0)


@dataclass
class SubjectStyle:
    """Per-subject motion traits: how expressive the subject is and how their AUs are tilted."""

    expressiveness: float
    rotation_deg: float


@dataclass
class ClipSpec:
    """The exact ground truth of one synthetic clip (all frame indices from 0)."""

    subject: str
    clip: str
    label: int
    n_frames: int
    onset: int
    apex: int
    offset: int
    #: displacement, in output pixels, of the strongest point of an intensity-1 action unit at the apex
    amplitude_px: float
    #: action unit → relative intensity (the class's own AUs and any confuser)
    action_units: dict[str, float] = field(default_factory=dict)
    confusers: tuple[str, ...] = ()
    side_gain: tuple[float, float] = (1.0, 1.0)
    rotation_deg: float = 0.0
    blink_start: int | None = None
    blink_frames: int = 0

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        d = asdict(self)
        d["side_gain"] = list(self.side_gain)
        d["confusers"] = list(self.confusers)
        return d


@dataclass
class RenderedClip:
    """A rendered clip: BGR ``uint8`` frames and the per-frame ground-truth motion.

    ``displacement[t]`` is the largest expression displacement (output pixels) at frame ``t``
    relative to the neutral face — equal to the displacement from the onset frame, since the
    onset frame is neutral; it excludes nuisances (drift, blinks). ``field`` is the expression's
    displacement field at the apex (output pixels, ``H × W × 2``, (dx, dy)).
    """

    frames: list[np.ndarray]
    displacement: np.ndarray
    profile: np.ndarray
    field: np.ndarray


def sample_subject_style(rng: np.random.Generator, cfg: SynthConfig) -> SubjectStyle:
    """Draw a subject's motion traits."""
    half = cfg.direction_jitter_deg / 2
    return SubjectStyle(
        expressiveness=float(rng.uniform(*cfg.expressiveness)),
        rotation_deg=float(rng.uniform(-half, half)),
    )


def sample_clip_spec(
    rng: np.random.Generator, cfg: SynthConfig, style: SubjectStyle, subject: str, clip: str, label: int
) -> ClipSpec:
    """Draw the timing, action units, intensity and distractors of one clip of class ``label``."""
    n_before = cfg.frames(rng.uniform(*cfg.neutral_before_s))
    rise = cfg.frames(rng.uniform(*cfg.rise_s))
    fall = cfg.frames(rng.uniform(*cfg.fall_s))
    n_after = cfg.frames(rng.uniform(*cfg.neutral_after_s))
    onset = n_before
    apex = onset + rise
    offset = apex + fall
    n_frames = offset + n_after + 1

    cls = CLASSES[label]
    aus = {au: float(rng.uniform(*REQUIRED_INTENSITY)) for au in cls.required}
    for au in cls.optional:
        if rng.random() < cfg.optional_au_prob:
            aus[au] = float(rng.uniform(*OPTIONAL_INTENSITY))
    confusers: tuple[str, ...] = ()
    if rng.random() < cfg.confuser_prob:
        others = sorted({a for c in CLASSES if c is not cls for a in c.action_units} - set(cls.action_units))
        pick = others[int(rng.integers(len(others)))]
        aus[pick] = float(rng.uniform(*cfg.confuser_intensity))
        confusers = (pick,)

    half = cfg.direction_jitter_deg / 2
    asym = float(rng.uniform(*cfg.asymmetry))
    blink_start, blink_frames = None, 0
    if rng.random() < cfg.blink_prob:
        blink_frames = min(cfg.frames(rng.uniform(*cfg.blink_s)), n_frames - 1)
        blink_start = int(rng.integers(0, n_frames - blink_frames + 1))
    return ClipSpec(
        subject=subject,
        clip=clip,
        label=label,
        n_frames=n_frames,
        onset=onset,
        apex=apex,
        offset=offset,
        amplitude_px=float(rng.uniform(*cfg.amplitude_px) * style.expressiveness),
        action_units=aus,
        confusers=confusers,
        side_gain=(float(np.sqrt(asym)), float(1 / np.sqrt(asym))),
        rotation_deg=style.rotation_deg + float(rng.uniform(-half, half)),
        blink_start=blink_start,
        blink_frames=blink_frames,
    )


def expression_field(face: Face, spec: ClipSpec, pixels_per_output_pixel: float = 1.0) -> np.ndarray:
    """The clip's apex displacement field on the face's grid (``face.size`` pixels).

    Displacements are in pixels of that grid; ``pixels_per_output_pixel`` is the supersampling
    factor between it and the written frames (``spec.amplitude_px`` is in output pixels).
    """
    total = np.zeros((face.size, face.size, 2), np.float32)
    for au, intensity in spec.action_units.items():
        total += intensity * bumps_field(
            ACTION_UNITS[au], face.landmarks, face.size, spec.side_gain, spec.rotation_deg
        )
    return total * np.float32(spec.amplitude_px * pixels_per_output_pixel)


def _drift(rng: np.random.Generator, n: int, std_px: float) -> np.ndarray:
    """A slow random-walk head translation (n × 2, output pixels) with standard deviation ``std_px``."""
    if std_px <= 0:
        return np.zeros((n, 2))
    walk = np.cumsum(rng.standard_normal((n, 2)), axis=0)
    walk -= walk.mean(axis=0)
    return walk * (std_px / (walk.std(axis=0) + 1e-9))


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(yy, xx)`` float32 pixel coordinates of a ``size``-pixel square (for :func:`render_frame`)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def render_frame(
    face: Face,
    disp: np.ndarray | None,
    closure: float,
    blink_field: np.ndarray | None,
    shift: np.ndarray,
    gain: float,
    cfg: SynthConfig,
    rng: np.random.Generator,
    grid: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """One frame: ``face`` warped by an expression displacement, a blink and a head shift.

    Args:
        face: the subject's face (rendered at ``face.size`` = supersampled pixels).
        disp: the expression displacement ``[size, size, 2]`` (dx, dy) in supersampled pixels, or
            None for a neutral face.
        closure: the blink's eye closure (0 open .. 1 closed); ``blink_field`` its lid/brow motion at
            full closure (``[size, size, 2]``; needed when ``closure > 0``).
        shift: head translation (dx, dy) in supersampled pixels.
        gain: illumination gain (1 = none).
        cfg: ``image_size`` (output side) and ``noise_sigma``.
        rng: draws the sensor noise.
        grid: :func:`pixel_grid` of ``face.size``.

    Returns:
        The BGR uint8 frame ``[image_size, image_size, 3]``.
    """
    yy, xx = grid
    base = face.open
    if disp is None:
        disp = np.zeros((face.size, face.size, 2), np.float32)
    if closure > 0:
        c = np.float32(closure)
        eye_mask = face.eye_mask[..., None]
        base = face.open * (1 - c * eye_mask) + face.closed * (c * eye_mask)
        disp = disp + blink_field * c
    map_x = xx - disp[..., 0] - np.float32(shift[0])
    map_y = yy - disp[..., 1] - np.float32(shift[1])
    warped = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    out = cfg.image_size
    small = cv2.resize(warped, (out, out), interpolation=cv2.INTER_AREA) if face.size != out else warped
    img = small * np.float32(255.0 * gain)
    if cfg.noise_sigma > 0:
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(cfg.noise_sigma)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render_clip(face: Face, spec: ClipSpec, cfg: SynthConfig, rng: np.random.Generator) -> RenderedClip:
    """Render the frames of ``spec`` on ``face`` (drawn at ``cfg.image_size × cfg.supersample``).

    ``rng`` draws the nuisances (drift, flicker, sensor noise); the expression itself is fixed by
    ``spec``.
    """
    big, out = face.size, cfg.image_size
    scale = big / out
    profile = intensity_profile(spec.n_frames, spec.onset, spec.apex, spec.offset)
    field_big = expression_field(face, spec, scale)
    field_out = cv2.resize(field_big, (out, out), interpolation=cv2.INTER_AREA) / scale
    peak = float(np.sqrt((field_out**2).sum(-1)).max())

    closure = np.zeros(spec.n_frames)
    blink_big = None
    if spec.blink_start is not None and spec.blink_frames > 0:
        closure = blink_profile(spec.n_frames, spec.blink_start, spec.blink_frames)
        blink_big = bumps_field(BLINK_BUMPS, face.landmarks, big) * np.float32(cfg.blink_px * scale)
    drift = _drift(rng, spec.n_frames, cfg.drift_px) * scale
    gain = 1.0 + cfg.flicker * rng.standard_normal(spec.n_frames)

    grid = pixel_grid(big)
    frames = [
        render_frame(face, field_big * np.float32(profile[t]), closure[t], blink_big, drift[t], gain[t], cfg, rng, grid)
        for t in range(spec.n_frames)
    ]
    return RenderedClip(frames=frames, displacement=profile * peak, profile=profile, field=field_out)
