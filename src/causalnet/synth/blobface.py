"""An independent generator of long recordings ("blob" faces) for testing spotters beyond ``synth --long``.

Nothing here is shared with the action-unit generator of :mod:`causalnet.synth.long` (faces, motion,
blinks, head motion and rendering are separate code), so a spotter tuned on one can be scored on the
other:

- **Face**: an ellipse of skin with a multi-scale noise texture and fine pores, eyes (sclera, iris),
  brows, a nose shading and nostrils, lips — every position and size drawn per subject (the eye line
  between 0.36 and 0.45 of the side, eye distance 0.28–0.40).
- **Motion**: each expression is a sum of smooth local displacement fields (Gaussian radial-basis
  kernels) at class-specific places (negative: brows down and together, mouth corners down; positive:
  mouth corners up and out, cheeks up; surprise: brows up, jaw down), jittered per expression, with
  one random extra kernel; a smooth-step rise and fall (micro) or a held plateau (macro).
- **Distractors** (not annotated): blinks (an eyelid of skin sliding over the eye), head turns (a yaw-like
  field: the face's centre moves more than its outline, plus a small roll) that stay or come back,
  lighting changes (a gain and a left-right gradient ramp), talking (the lower lip and jaw opening at
  3–6 syllables a second for a second or two), a slow drift of the head over the whole recording.
- **Camera**: sensor noise, optionally JPEG compression of every frame (``jpeg_quality``).

It writes the layout of ``causalnet synth --long`` (``frames/<subject>/<video>/NNNN.png``, ``videos.csv``,
``annotations.csv``, ``ground_truth.json``), deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from causalnet.checks import Check, between
from causalnet.config import PresetMixin
from causalnet.io import write_json_atomic
from causalnet.synth.generate import write_frame_folder

__all__ = ["BLOB_CLASSES", "BlobFace", "BlobLongConfig", "generate_blob_benchmark", "make_blob_face",
           "render_blob_recording", "sample_blob_recording"]

log = logging.getLogger(__name__)

#: class names in label order (the MEGC 2019 three-class scheme, as the other generator)
BLOB_CLASSES = ("negative", "positive", "surprise")


@dataclass(frozen=True)
class BlobLongConfig(PresetMixin):
    """Settings of the blob-face generator (durations in seconds, displacements in output pixels)."""

    n_subjects: int = 2
    recordings_per_subject: int = 1
    seed: int = 0
    image_size: int = 128
    fps: float = 200.0
    supersample: int = 2
    lead_s: tuple[float, float] = (0.4, 0.7)
    gap_s: tuple[float, float] = (0.35, 0.8)
    micro_per_recording: int = 6
    macro_per_recording: int = 1
    blinks_per_recording: int = 3
    head_turns_per_recording: int = 1
    light_changes_per_recording: int = 1
    talking_per_recording: int = 0
    micro_amplitude_px: tuple[float, float] = (0.8, 2.0)
    micro_rise_s: tuple[float, float] = (0.05, 0.14)
    micro_fall_s: tuple[float, float] = (0.07, 0.2)
    macro_amplitude_px: tuple[float, float] = (2.5, 4.5)
    macro_rise_s: tuple[float, float] = (0.15, 0.35)
    macro_hold_s: tuple[float, float] = (0.4, 1.0)
    macro_fall_s: tuple[float, float] = (0.2, 0.45)
    blink_s: tuple[float, float] = (0.1, 0.25)
    turn_px: tuple[float, float] = (1.5, 4.0)
    turn_s: tuple[float, float] = (0.2, 0.5)
    light_change: tuple[float, float] = (0.05, 0.15)
    light_s: tuple[float, float] = (0.2, 0.6)
    talk_s: tuple[float, float] = (0.8, 1.6)
    talk_hz: tuple[float, float] = (3.0, 6.0)
    talk_px: tuple[float, float] = (1.0, 2.5)
    drift_px: float = 1.0
    drift_s: float = 1.5
    noise_sigma: float = 2.0
    jpeg_quality: int = 0

    PRESETS: ClassVar[dict[str, Callable[[], BlobLongConfig]]] = {}
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "seed": between(0, 2**32 - 1),
        "n_subjects": between(1, 1000), "recordings_per_subject": between(1, 100), "image_size": between(32, 1024),
        "fps": between(1, 2000), "supersample": between(1, 4), "lead_s": between(0, 60), "gap_s": between(0, 60),
        "micro_per_recording": between(0, 1000), "macro_per_recording": between(0, 1000),
        "blinks_per_recording": between(0, 1000), "head_turns_per_recording": between(0, 1000),
        "light_changes_per_recording": between(0, 1000), "talking_per_recording": between(0, 1000),
        "micro_amplitude_px": between(0, 100), "micro_rise_s": between(0.001, 10), "micro_fall_s": between(0.001, 10),
        "macro_amplitude_px": between(0, 100), "macro_rise_s": between(0.001, 10), "macro_hold_s": between(0, 60),
        "macro_fall_s": between(0.001, 10), "blink_s": between(0.01, 10), "turn_px": between(0, 100),
        "turn_s": between(0.01, 10), "light_change": between(0, 1), "light_s": between(0.01, 10),
        "talk_s": between(0.01, 60), "talk_hz": between(0.1, 20), "talk_px": between(0, 100),
        "drift_px": between(0, 100), "drift_s": between(0.01, 100), "noise_sigma": between(0, 100),
        "jpeg_quality": between(0, 100),
    }

    def frames(self, seconds: float) -> int:
        """``seconds`` as a whole number of frames (at least 1)."""
        return max(1, int(round(seconds * self.fps)))


BlobLongConfig.PRESETS = {
    "default": BlobLongConfig,
    "tiny": lambda: BlobLongConfig(n_subjects=1, image_size=64, micro_per_recording=2, macro_per_recording=0,
                                   blinks_per_recording=1, head_turns_per_recording=0,
                                   light_changes_per_recording=0, fps=100.0, lead_s=(0.2, 0.3)),
}


@dataclass
class BlobFace:
    """A drawn face at ``size`` pixels (supersampled): the open-eyed image, the image with closed eyes,
    the eye mask (where the lid slides), and its landmarks (fractions of the side, ``name → (x, y)``)."""

    size: int
    open: np.ndarray
    closed: np.ndarray
    eye_mask: np.ndarray
    mouth_mask: np.ndarray
    points: dict[str, tuple[float, float]]
    eye_top: float
    eye_height: float


def _rng(cfg: BlobLongConfig, *keys: int) -> np.random.Generator:
    # 7919: keeps these streams apart from the action-unit generator's for the same seed
    return np.random.default_rng(np.random.SeedSequence([7919, cfg.seed, *keys]))


def _texture(rng: np.random.Generator, size: int, scales: tuple[float, ...], amplitude: float) -> np.ndarray:
    tex = np.zeros((size, size), np.float32)
    for s in scales:
        n = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), s)
        tex += n / max(float(n.std()), 1e-6)
    return tex / max(float(tex.std()), 1e-6) * amplitude


def _ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, rx: float, ry: float, soft: float) -> np.ndarray:
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1 - d) / soft + 0.5, 0, 1).astype(np.float32)


def make_blob_face(rng: np.random.Generator, size: int) -> BlobFace:
    """Draw one subject's face at ``size`` pixels (grey levels 0..255, float32)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = 0.5 + rng.uniform(-0.03, 0.03), 0.52 + rng.uniform(-0.03, 0.03)
    rx, ry = rng.uniform(0.33, 0.40), rng.uniform(0.42, 0.48)
    skin, bg = rng.uniform(130, 190), rng.uniform(40, 90)
    eye_y = rng.uniform(0.36, 0.45)
    eye_d = rng.uniform(0.28, 0.40)
    mouth_y = rng.uniform(min(0.74, eye_y + 0.27), min(0.8, eye_y + 0.35))
    mouth_w = rng.uniform(0.10, 0.15)
    brow_y = eye_y - rng.uniform(0.07, 0.1)
    face = np.full((size, size), bg, np.float32) + _texture(rng, size, (size / 6,), 12)
    inside = _ellipse(xx, yy, cx, cy, rx, ry, 0.03)
    shade = 1 - 0.25 * ((xx - cx) / rx) ** 2  # cheeks darker towards the outline
    skin_img = skin * shade * (1 + _texture(rng, size, (size / 20, size / 50), rng.uniform(0.03, 0.07))
                               + _texture(rng, size, (0.7 * size / 256,), rng.uniform(0.02, 0.05)))
    face = face * (1 - inside) + skin_img * inside
    # nose: a vertical ridge of light and shadow, nostrils
    nose_y = (eye_y + mouth_y) / 2 + 0.03
    ridge = np.exp(-(((xx - cx - 0.02) / 0.02) ** 2) - (((yy - (eye_y + nose_y) / 2) / 0.12) ** 2))
    face *= 1 - 0.12 * ridge.astype(np.float32)
    for side in (-1, 1):
        face *= 1 - 0.45 * np.exp(-(((xx - cx - side * 0.03) / 0.012) ** 2) - (((yy - nose_y) / 0.008) ** 2))
    closed = face.copy()
    eye_mask = np.zeros((size, size), np.float32)
    eye_rx, eye_ry = rng.uniform(0.045, 0.06), rng.uniform(0.02, 0.03)
    for side in (-1, 1):
        ex = cx + side * eye_d / 2
        white = _ellipse(xx, yy, ex, eye_y, eye_rx, eye_ry, 0.3)
        iris = _ellipse(xx, yy, ex + rng.uniform(-0.005, 0.005), eye_y, eye_ry * 0.9, eye_ry * 0.9, 0.4)
        face = face * (1 - white) + rng.uniform(200, 235) * white
        face = face * (1 - iris) + rng.uniform(20, 60) * iris
        eye_mask = np.maximum(eye_mask, _ellipse(xx, yy, ex, eye_y, eye_rx * 1.2, eye_ry * 1.6, 0.3))
        lid_line = np.exp(-(((xx - ex) / eye_rx) ** 2) - (((yy - eye_y) / 0.004) ** 2)).astype(np.float32)
        closed *= 1 - 0.5 * lid_line * (np.abs(xx - ex) < eye_rx)
        brow = np.exp(-(((xx - ex) / 0.06) ** 2) - (((yy - brow_y) / 0.011) ** 2)).astype(np.float32)
        darkness = rng.uniform(0.35, 0.6)
        face *= 1 - darkness * brow
        closed *= 1 - darkness * brow
    lips = np.exp(-(((xx - cx) / mouth_w) ** 4) - (((yy - mouth_y) / 0.02) ** 2)).astype(np.float32)
    line = np.exp(-(((xx - cx) / mouth_w) ** 4) - (((yy - mouth_y) / 0.004) ** 2)).astype(np.float32)
    for img in (face, closed):
        img *= 1 - 0.25 * lips
        img *= 1 - 0.5 * line
    mouth_mask = np.exp(-(((xx - cx) / (mouth_w * 0.8)) ** 4) - (((yy - mouth_y - 0.005) / 0.012) ** 2)).astype(
        np.float32)
    points = {
        "brow_l": (cx - eye_d / 2, brow_y), "brow_r": (cx + eye_d / 2, brow_y),
        "brow_in_l": (cx - eye_d / 4, brow_y + 0.01), "brow_in_r": (cx + eye_d / 4, brow_y + 0.01),
        "corner_l": (cx - mouth_w, mouth_y), "corner_r": (cx + mouth_w, mouth_y),
        "cheek_l": (cx - eye_d / 2, (eye_y + mouth_y) / 2 + 0.02),
        "cheek_r": (cx + eye_d / 2, (eye_y + mouth_y) / 2 + 0.02),
        "chin": (cx, mouth_y + 0.07), "lower_lip": (cx, mouth_y + 0.015), "centre": (cx, cy),
    }
    return BlobFace(size, np.clip(face, 0, 255), np.clip(closed, 0, 255), eye_mask, mouth_mask, points,
                    eye_top=eye_y - eye_ry * 1.6, eye_height=eye_ry * 3.2)


#: kernels of each class: (landmark, dx, dy, radius) — dx, dy relative to the amplitude
_CLASS_KERNELS: dict[int, list[tuple[str, float, float, float]]] = {
    0: [("brow_in_l", 0.4, 0.8, 0.07), ("brow_in_r", -0.4, 0.8, 0.07), ("corner_l", 0.0, 0.7, 0.06),
        ("corner_r", 0.0, 0.7, 0.06)],
    1: [("corner_l", -0.7, -0.7, 0.07), ("corner_r", 0.7, -0.7, 0.07), ("cheek_l", 0.0, -0.5, 0.08),
        ("cheek_r", 0.0, -0.5, 0.08)],
    2: [("brow_l", 0.0, -1.0, 0.08), ("brow_r", 0.0, -1.0, 0.08), ("chin", 0.0, 0.9, 0.09),
        ("lower_lip", 0.0, 0.6, 0.05)],
}


def _kernel_field(size: int, x: float, y: float, radius: float, dx: float, dy: float) -> np.ndarray:
    """A smooth displacement ``[size, size, 2]`` (pixels at ``size``): a Gaussian bump of (dx, dy) at (x, y)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    w = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * radius**2)).astype(np.float32)
    return np.stack([w * dx, w * dy], axis=-1)


def expression_displacement(rng: np.random.Generator, face: BlobFace, label: int, amplitude: float,
                            scale: float) -> np.ndarray:
    """The displacement field of one expression at its apex (pixels at ``face.size``; ``amplitude`` in
    output pixels, ``scale`` = supersampling)."""
    out = np.zeros((face.size, face.size, 2), np.float32)
    asym = rng.uniform(0.7, 1.3)
    for j, (name, dx, dy, radius) in enumerate(_CLASS_KERNELS[label]):
        x, y = face.points[name]
        x, y = x + rng.uniform(-0.015, 0.015), y + rng.uniform(-0.015, 0.015)
        a = amplitude * scale * (asym if j % 2 == 0 else 1.0) * rng.uniform(0.8, 1.2)
        out += _kernel_field(face.size, x, y, radius * rng.uniform(0.8, 1.2), dx * a, dy * a)
    # one idiosyncratic extra kernel anywhere on the lower two thirds of the face
    name = rng.choice(["cheek_l", "cheek_r", "chin", "corner_l", "corner_r"])
    x, y = face.points[name]
    angle = rng.uniform(0, 2 * np.pi)
    a = amplitude * scale * rng.uniform(0.2, 0.5)
    out += _kernel_field(face.size, x, y, 0.06, a * np.cos(angle), a * np.sin(angle))
    return out


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def _plateau(n: int, onset: int, apex: int, hold_end: int, offset: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    rise = _smoothstep((t - onset) / max(apex - onset, 1))
    fall = 1 - _smoothstep((t - hold_end) / max(offset - hold_end, 1))
    return np.where(t < hold_end, rise, fall) * ((t >= onset) & (t <= offset))


def sample_blob_recording(cfg: BlobLongConfig, subject_index: int, recording: int) -> dict:
    """The timeline of one recording: ``{"subject", "video", "n_frames", "fps", "events": [...]}``; each
    event a dict with ``kind`` and its frames (expressions: ``onset, apex, hold_end, offset, label, amplitude``)."""
    rng = _rng(cfg, subject_index, 1, recording)
    subject = f"b{subject_index + 1:02d}"
    n_cls = len(BLOB_CLASSES)
    kinds = ([("micro", (i + subject_index + recording) % n_cls) for i in range(cfg.micro_per_recording)]
             + [("macro", int(rng.integers(n_cls))) for _ in range(cfg.macro_per_recording)]
             + [(k, None) for k, m in (("blink", cfg.blinks_per_recording), ("head_turn", cfg.head_turns_per_recording),
                                      ("light", cfg.light_changes_per_recording), ("talk", cfg.talking_per_recording))
                for _ in range(m)])
    order = rng.permutation(len(kinds))
    events: list[dict] = []
    t = cfg.frames(rng.uniform(*cfg.lead_s))
    for j, i in enumerate(order):
        kind, label = kinds[i]
        if j > 0:
            t += cfg.frames(rng.uniform(*cfg.gap_s))
        if kind in ("micro", "macro"):
            if kind == "micro":
                rise, hold = cfg.frames(rng.uniform(*cfg.micro_rise_s)), 0
                fall = cfg.frames(rng.uniform(*cfg.micro_fall_s))
                amp = rng.uniform(*cfg.micro_amplitude_px)
            else:
                rise, hold, fall = (cfg.frames(rng.uniform(*r)) for r in (cfg.macro_rise_s, cfg.macro_hold_s,
                                                                          cfg.macro_fall_s))
                amp = rng.uniform(*cfg.macro_amplitude_px)
            ev = {"kind": kind, "label": label, "onset": t, "apex": t + rise, "hold_end": t + rise + hold,
                  "offset": t + rise + hold + fall, "amplitude": float(amp), "seed": int(rng.integers(2**31))}
            t = ev["offset"] + 1
        elif kind == "blink":
            ev = {"kind": kind, "start": t, "frames": cfg.frames(rng.uniform(*cfg.blink_s))}
        elif kind == "head_turn":
            frames = cfg.frames(rng.uniform(*cfg.turn_s))
            ev = {"kind": kind, "start": t, "frames": frames,
                  "px": float(rng.uniform(*cfg.turn_px) * rng.choice([-1, 1])),
                  "roll_deg": float(rng.uniform(-2, 2)), "returns": bool(rng.random() < 0.5),
                  "hold": cfg.frames(rng.uniform(0.2, 0.6))}
            if ev["returns"]:
                frames = 2 * frames + ev["hold"]
        elif kind == "light":
            ev = {"kind": kind, "start": t, "frames": cfg.frames(rng.uniform(*cfg.light_s)),
                  "gain": float(rng.uniform(*cfg.light_change) * rng.choice([-1, 1])),
                  "gradient": float(rng.uniform(-1, 1) * cfg.light_change[1])}
        else:
            ev = {"kind": kind, "start": t, "frames": cfg.frames(rng.uniform(*cfg.talk_s)),
                  "hz": float(rng.uniform(*cfg.talk_hz)), "px": float(rng.uniform(*cfg.talk_px)),
                  "phase": float(rng.uniform(0, 2 * np.pi))}
        if kind not in ("micro", "macro"):
            length = ev["frames"] if kind != "head_turn" else frames
            t = ev["start"] + length
        events.append(ev)
    n = t + cfg.frames(rng.uniform(*cfg.lead_s))
    return {"subject": subject, "video": f"{subject}_r{recording + 1}", "n_frames": int(n), "fps": cfg.fps,
            "events": events}


def _drift(rng: np.random.Generator, n: int, std: float, smooth: float) -> np.ndarray:
    if std <= 0 or n < 2:
        return np.zeros((n, 3))
    pad = int(3 * smooth) + 1
    x = np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (x / max(smooth, 1e-6)) ** 2)
    noise = rng.standard_normal((n + 2 * pad, 3))
    walk = np.stack([np.convolve(noise[:, i], kernel, mode="same")[pad : pad + n] for i in range(3)], axis=1)
    walk -= walk.mean(axis=0)
    walk /= walk.std(axis=0) + 1e-9
    return walk * np.array([std, std, 0.4 * std])  # dx, dy (px), roll (degrees)


def render_blob_recording(cfg: BlobLongConfig, subject_index: int, rec: dict) -> Iterator[np.ndarray]:
    """The frames of a recording made by :func:`sample_blob_recording` (BGR uint8), one at a time."""
    scale = cfg.supersample
    big = cfg.image_size * scale
    face = make_blob_face(_rng(cfg, subject_index, 0), big)
    rng = _rng(cfg, subject_index, 2, int(rec["video"].rsplit("_r", 1)[1]))
    n = rec["n_frames"]
    tint = _rng(cfg, subject_index, 3).uniform(0.85, 1.0, 3).astype(np.float32)
    expr = [(ev, _plateau(n, ev["onset"], ev["apex"], ev["hold_end"], ev["offset"]),
             expression_displacement(np.random.default_rng(ev["seed"]), face, ev["label"], ev["amplitude"], scale))
            for ev in rec["events"] if ev["kind"] in ("micro", "macro")]
    closure = np.zeros(n)
    turn = np.zeros((n, 2))  # yaw (px), roll (deg)
    gain, gradient = np.zeros(n), np.zeros(n)
    talk = np.zeros(n)
    t = np.arange(n, dtype=np.float64)
    for ev in rec["events"]:
        s, f = ev.get("start", 0), ev.get("frames", 1)
        if ev["kind"] == "blink":
            x = np.clip((t - s) / f, 0, 1)
            closure += np.where((t >= s) & (t <= s + f), np.sin(np.pi * x) ** 0.7, 0)
        elif ev["kind"] == "head_turn":
            step = _smoothstep((t - s) / f)
            if ev["returns"]:
                step = step - _smoothstep((t - s - f - ev["hold"]) / f)
            turn += step[:, None] * np.array([ev["px"], ev["roll_deg"]])
        elif ev["kind"] == "light":
            step = _smoothstep((t - s) / f)
            gain += ev["gain"] * step
            gradient += ev["gradient"] * step
        elif ev["kind"] == "talk":
            inside = (t >= s) & (t < s + f)
            env = np.sin(np.pi * np.clip((t - s) / f, 0, 1)) ** 0.5
            syll = 0.5 - 0.5 * np.cos(2 * np.pi * ev["hz"] * (t - s) / cfg.fps + ev["phase"])
            talk += np.where(inside, env * syll * ev["px"], 0)
    drift = _drift(rng, n, cfg.drift_px, cfg.drift_s * cfg.fps)
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    cx, cy = face.points["centre"][0] * big, face.points["centre"][1] * big
    yaw_w = np.clip(1 - ((xx - cx) / (0.4 * big)) ** 2, 0, 1).astype(np.float32)  # the centre moves most
    jaw = _kernel_field(big, *face.points["chin"], 0.08, 0, 1)[..., 1] + 0.7 * _kernel_field(
        big, *face.points["lower_lip"], 0.04, 0, 1)[..., 1]
    lr = ((xx / big) - 0.5).astype(np.float32)
    for i in range(n):
        dx = np.zeros((big, big), np.float32)
        dy = np.zeros((big, big), np.float32)
        for _ev, prof, field in expr:
            if prof[i] > 0:
                dx += field[..., 0] * np.float32(prof[i])
                dy += field[..., 1] * np.float32(prof[i])
        if talk[i] > 0:
            dy += jaw * np.float32(talk[i] * scale)
        yaw = turn[i, 0] + 0.0
        dx += yaw_w * np.float32(yaw * scale) + np.float32(drift[i, 0] * scale)
        dy += np.float32(drift[i, 1] * scale)
        roll = np.deg2rad(turn[i, 1] + drift[i, 2])
        c, s_ = np.cos(roll), np.sin(roll)
        rx, ry = xx - cx, yy - cy
        map_x = (cx + c * rx + s_ * ry - dx).astype(np.float32)
        map_y = (cy - s_ * rx + c * ry - dy).astype(np.float32)
        base = face.open
        if closure[i] > 0:
            # the lid slides down: rows of the eye above top + closure × height show the closed face
            lid = (yy / big < face.eye_top + closure[i] * face.eye_height).astype(np.float32) * face.eye_mask
            base = face.open * (1 - lid) + face.closed * lid
        if talk[i] > 0:
            open_ = np.float32(min(1.0, talk[i] / 2.5))
            base = base * (1 - 0.6 * open_ * face.mouth_mask)
        img = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        img = cv2.resize(img, (cfg.image_size, cfg.image_size), interpolation=cv2.INTER_AREA)
        small_lr = cv2.resize(lr, (cfg.image_size, cfg.image_size), interpolation=cv2.INTER_AREA)
        img = img * np.float32(1 + gain[i]) * (1 + np.float32(gradient[i]) * small_lr)
        img = img[..., None] * tint[None, None, :]
        if cfg.noise_sigma > 0:
            img = img + rng.standard_normal(img.shape).astype(np.float32) * np.float32(cfg.noise_sigma)
        frame = np.clip(np.round(img), 0, 255).astype(np.uint8)
        if cfg.jpeg_quality > 0:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        yield frame


def blob_annotation_rows(recordings: list[dict]) -> list[dict]:
    """The annotated expressions of recordings in the MEGC spotting layout."""
    return [{"subject": r["subject"], "video": r["video"], "onset": e["onset"], "apex": e["apex"],
             "offset": e["offset"], "type": e["kind"], "label": e["label"]}
            for r in recordings for e in sorted((e for e in r["events"] if e["kind"] in ("micro", "macro")),
                                                key=lambda e: e["onset"])]


def generate_blob_benchmark(cfg: BlobLongConfig, out_dir: str | os.PathLike,
                            post: Callable[[np.ndarray], np.ndarray] | None = None) -> list[dict]:
    """Write ``cfg.n_subjects × cfg.recordings_per_subject`` recordings into ``out_dir`` in the layout of
    ``causalnet synth --long``; return their timelines. ``post`` (optional) transforms every frame."""
    from causalnet.data.annotations import write_annotations, write_videos

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotations.csv").unlink(missing_ok=True)
    recordings = []
    for s in range(cfg.n_subjects):
        for r in range(cfg.recordings_per_subject):
            rec = sample_blob_recording(cfg, s, r)
            frames = render_blob_recording(cfg, s, rec)
            if post is not None:
                frames = (post(f) for f in frames)
            write_frame_folder(frames, out / "frames" / rec["subject"] / rec["video"])
            recordings.append(rec)
    write_json_atomic(out / "ground_truth.json", {"generator": "blob", "config": cfg.to_dict(),
                                                  "classes": list(BLOB_CLASSES), "recordings": recordings})
    write_videos(out / "videos.csv", [{"subject": r["subject"], "video": r["video"],
                                       "frames": f"frames/{r['subject']}/{r['video']}", "n_frames": r["n_frames"],
                                       "fps": r["fps"]} for r in recordings])
    rows = blob_annotation_rows(recordings)
    write_annotations(out / "annotations.csv", rows)
    log.info("wrote %d blob recordings, %d annotated intervals", len(recordings), len(rows))
    return recordings


def config_from(cfg: BlobLongConfig, **changes: object) -> BlobLongConfig:
    """``cfg`` with ``changes`` (validated)."""
    return dataclasses.replace(cfg, **changes)
