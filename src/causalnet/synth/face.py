"""Procedurally drawn neutral faces, one per synthetic subject.

A face is drawn once per subject, at ``image_size × supersample`` pixels, as two float images
(eyes open and eyes closed, the latter for blinks) plus the landmark positions the action units
are attached to. Everything about a face — its oval, brows, eyes, nose, mouth, skin tone and
texture, hair, background and lighting — is drawn from the subject's random generator, so each
subject looks different and the same seed always gives the same face.

The layout is that of a face crop aligned on the eyes (as a landmark-based face crop would give):
eyes at about 37 % of the height, mouth at about 73 %, face centred, so that the facial blocks of
the reference implementation (SPEC §2: eyes around rows 9–10 of 28, lips around rows 20–21)
fall on the brows/eyes and on the mouth/chin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Ranges of the face's proportions, as fractions of the frame side (uniformly sampled per subject).
FACE_CENTER_X = (0.49, 0.51)
FACE_CENTER_Y = (0.50, 0.54)
FACE_HALF_WIDTH = (0.40, 0.47)
FACE_HALF_HEIGHT = (0.50, 0.57)
EYE_Y = (0.35, 0.39)
EYE_HALF_SPACING = (0.155, 0.185)
EYE_HALF_WIDTH = (0.065, 0.085)
EYE_HALF_HEIGHT = (0.026, 0.036)
BROW_ABOVE_EYE = (0.075, 0.10)
BROW_THICKNESS = (0.016, 0.028)
BROW_ARCH = (0.008, 0.03)
BROW_INNER_X = (0.045, 0.075)
NOSE_TIP_Y = (0.54, 0.59)
NOSE_HALF_WIDTH = (0.045, 0.065)
MOUTH_Y = (0.71, 0.76)
MOUTH_HALF_WIDTH = (0.10, 0.135)
UPPER_LIP = (0.018, 0.03)
LOWER_LIP = (0.024, 0.038)
MOUTH_CURVE = (-0.008, 0.008)
CHIN_BELOW_MOUTH = (0.11, 0.14)
CHEEK_BELOW_EYE = (0.11, 0.14)
#: lighting: strength of the directional (diffuse) term, and of the ambient term
LIGHT_DIFFUSE = (0.25, 0.5)
LIGHT_AMBIENT = (0.55, 0.7)
#: gaussian blur (as a fraction of the frame side) that softens drawn shapes
EDGE_SOFTNESS = 0.004
#: scales (fraction of the frame side) of the band-limited skin-texture noise
TEXTURE_SCALES = (0.004, 0.009, 0.02)
#: number of small skin marks (freckles, pores) per subject
SKIN_MARKS = (20, 60)


@dataclass
class Face:
    """A subject's neutral face.

    ``open`` and ``closed`` are float32 BGR images in [0, 1] of side ``size`` (the supersampled
    rendering size); ``eye_mask`` (float32, [0, 1]) is where ``closed`` replaces ``open`` during a
    blink; ``landmarks`` maps names to (x, y) positions as fractions of the side.
    """

    open: np.ndarray
    closed: np.ndarray
    eye_mask: np.ndarray
    landmarks: dict[str, tuple[float, float]]

    @property
    def size(self) -> int:
        """Side of the face images in pixels."""
        return int(self.open.shape[0])


def _u(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _poly_mask(size: int, points: np.ndarray, soft: float) -> np.ndarray:
    """A soft-edged filled-polygon mask; ``points`` as fractions of the side."""
    mask = np.zeros((size, size), np.uint8)
    pts = np.round(points * size * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    return _soften(mask.astype(np.float32) / 255.0, soft * size)


def _line_mask(size: int, points: np.ndarray, thickness: float, soft: float) -> np.ndarray:
    """A soft-edged polyline mask; ``points`` and ``thickness`` as fractions of the side."""
    mask = np.zeros((size, size), np.uint8)
    pts = np.round(points * size * 16).astype(np.int32)
    cv2.polylines(mask, [pts], False, 255, max(1, round(thickness * size)), cv2.LINE_AA, shift=4)
    return _soften(mask.astype(np.float32) / 255.0, soft * size)


def _ellipse_mask(
    size: int, center: tuple[float, float], axes: tuple[float, float], soft: float
) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    pts = np.stack([center[0] + axes[0] * np.cos(t), center[1] + axes[1] * np.sin(t)], axis=1)
    return _poly_mask(size, pts, soft)


def _soften(mask: np.ndarray, sigma_px: float) -> np.ndarray:
    if sigma_px <= 0.3:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), sigma_px)


def _paint(canvas: np.ndarray, mask: np.ndarray, color: np.ndarray, alpha: float = 1.0) -> None:
    """Alpha-composite ``color`` onto ``canvas`` (in place) through ``mask``."""
    a = (alpha * mask)[..., None]
    canvas *= 1.0 - a
    canvas += a * color


def _band_noise(rng: np.random.Generator, size: int, scales_px: list[float]) -> np.ndarray:
    """Unit-variance, band-limited noise: a sum of blurred white noise at several scales."""
    total = np.zeros((size, size), np.float32)
    for sigma in scales_px:
        layer = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
        total += layer / (layer.std() + 1e-8)
    return total / (total.std() + 1e-8)


def _arc(x0: float, x1: float, y: float, bulge: float, n: int = 24) -> np.ndarray:
    """Points of a parabolic arc from (x0, y) to (x1, y) whose middle is displaced by ``bulge``."""
    s = np.linspace(0.0, 1.0, n)
    xs = x0 + (x1 - x0) * s
    ys = y + bulge * 4 * s * (1 - s)
    return np.stack([xs, ys], axis=1)


@dataclass(frozen=True)
class _Palette:
    """A face's colours (float32 BGR in [0, 1])."""

    skin: np.ndarray
    lip: np.ndarray
    hair: np.ndarray
    brow: np.ndarray
    iris: np.ndarray
    bg_top: np.ndarray
    bg_bottom: np.ndarray


@dataclass(frozen=True)
class _Geometry:
    """A face's proportions, as fractions of the frame side (see the module constants)."""

    cx: float
    cy: float
    ax: float
    ay: float
    eye_y: float
    eye_dx: float
    eye_w: float
    eye_h: float
    brow_y: float
    brow_t: float
    brow_arch: float
    brow_in: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    up_lip: float
    low_lip: float
    curve: float
    chin_y: float
    cheek_y: float


def _draw_palette(rng: np.random.Generator) -> _Palette:
    skin_r = _u(rng, (0.5, 0.95))
    skin = np.array([skin_r * _u(rng, (0.55, 0.75)), skin_r * _u(rng, (0.72, 0.85)), skin_r], np.float32)
    lip = skin * np.array([_u(rng, (0.6, 0.8)), _u(rng, (0.5, 0.7)), _u(rng, (0.85, 1.0))], np.float32)
    hair = np.full(3, _u(rng, (0.05, 0.35)), np.float32) * np.array([0.8, 0.9, 1.0], np.float32)
    brow = hair * _u(rng, (0.6, 1.0))
    iris = np.array([_u(rng, (0.1, 0.6)), _u(rng, (0.15, 0.5)), _u(rng, (0.1, 0.4))], np.float32)
    bg_top = rng.uniform(0.2, 0.9, 3).astype(np.float32)
    bg_bottom = rng.uniform(0.2, 0.9, 3).astype(np.float32)
    return _Palette(skin, lip, hair, brow, iris, bg_top, bg_bottom)


def _draw_geometry(rng: np.random.Generator) -> _Geometry:
    cx, cy = _u(rng, FACE_CENTER_X), _u(rng, FACE_CENTER_Y)
    ax, ay = _u(rng, FACE_HALF_WIDTH), _u(rng, FACE_HALF_HEIGHT)
    eye_y = _u(rng, EYE_Y)
    eye_dx = _u(rng, EYE_HALF_SPACING)
    eye_w, eye_h = _u(rng, EYE_HALF_WIDTH), _u(rng, EYE_HALF_HEIGHT)
    brow_y = eye_y - _u(rng, BROW_ABOVE_EYE)
    brow_t = _u(rng, BROW_THICKNESS)
    brow_arch = _u(rng, BROW_ARCH)
    brow_in = _u(rng, BROW_INNER_X)
    nose_y = _u(rng, NOSE_TIP_Y)
    nose_w = _u(rng, NOSE_HALF_WIDTH)
    mouth_y = _u(rng, MOUTH_Y)
    mouth_w = _u(rng, MOUTH_HALF_WIDTH)
    up_lip, low_lip = _u(rng, UPPER_LIP), _u(rng, LOWER_LIP)
    curve = _u(rng, MOUTH_CURVE)
    chin_y = mouth_y + _u(rng, CHIN_BELOW_MOUTH)
    cheek_y = eye_y + _u(rng, CHEEK_BELOW_EYE)
    return _Geometry(cx, cy, ax, ay, eye_y, eye_dx, eye_w, eye_h, brow_y, brow_t, brow_arch, brow_in, nose_y,
                     nose_w, mouth_y, mouth_w, up_lip, low_lip, curve, chin_y, cheek_y)


def _draw_background_and_hair(rng: np.random.Generator, size: int, pal: _Palette, g: _Geometry,
                              yy: np.ndarray) -> np.ndarray:
    soft = EDGE_SOFTNESS
    canvas = (pal.bg_top * (1 - yy[..., None]) + pal.bg_bottom * yy[..., None]).astype(np.float32)
    canvas *= 1.0 + 0.05 * _band_noise(rng, size, [0.05 * size])[..., None]
    hair_mask = _ellipse_mask(size, (g.cx, g.cy - 0.08), (g.ax + 0.06, g.ay + 0.02), soft)
    hair_mask *= (yy < g.cy + 0.05).astype(np.float32)
    hair_img = pal.hair * (1.0 + 0.25 * _band_noise(rng, size, [0.003 * size, 0.01 * size]))[..., None]
    return canvas * (1 - hair_mask[..., None]) + hair_img * hair_mask[..., None]


def _draw_skin(rng: np.random.Generator, canvas: np.ndarray, size: int, pal: _Palette, g: _Geometry,
               xx: np.ndarray, yy: np.ndarray,
               skin_texture: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face oval with lighting, skin texture and skin marks: (canvas, face mask, shading)."""
    soft = EDGE_SOFTNESS
    cx, cy, ax, ay, skin = g.cx, g.cy, g.ax, g.ay, pal.skin
    face_mask = _ellipse_mask(size, (cx, cy), (ax, ay), soft * 2)
    nx, ny = (xx - cx) / ax, (yy - cy) / ay
    nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, 1.0))
    light = rng.normal(size=3) * np.array([0.6, 0.4, 0.0]) + np.array([0.0, -0.3, 1.0])
    light /= np.linalg.norm(light)
    shade = _u(rng, LIGHT_AMBIENT) + _u(rng, LIGHT_DIFFUSE) * np.clip(
        nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0
    )
    texture = _band_noise(rng, size, [s * size for s in TEXTURE_SCALES]) * _u(rng, skin_texture)
    skin_img = skin * (shade * (1.0 + texture))[..., None]
    canvas = canvas * (1 - face_mask[..., None]) + skin_img * face_mask[..., None]

    # skin marks: small dark spots give the flow something to hold on to
    for _ in range(int(rng.integers(SKIN_MARKS[0], SKIN_MARKS[1] + 1))):
        ang, rad = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 0.8))
        px, py = cx + ax * rad * np.cos(ang), cy + ay * rad * np.sin(ang)
        r = _u(rng, (0.003, 0.007))
        _paint(canvas, _ellipse_mask(size, (px, py), (r, r), soft), skin * 0.6, _u(rng, (0.15, 0.4)))
    return canvas, face_mask, shade


def _draw_nose(canvas: np.ndarray, size: int, skin: np.ndarray, g: _Geometry) -> None:
    soft = EDGE_SOFTNESS
    cx, nose_y, nose_w = g.cx, g.nose_y, g.nose_w
    for side in (-1, 1):
        ridge = np.array(
            [
                [cx + side * 0.03, g.eye_y + 0.02],
                [cx + side * nose_w * 0.8, nose_y - 0.02],
                [cx + side * nose_w, nose_y + 0.01],
            ]
        )
        _paint(canvas, _line_mask(size, ridge, 0.012, soft * 3), skin * 0.7, 0.35)
        _paint(
            canvas,
            _ellipse_mask(size, (cx + side * nose_w * 0.45, nose_y + 0.012), (0.012, 0.007), soft),
            skin * 0.3,
            0.8,
        )
        fold = _arc(cx + side * (nose_w + 0.01), cx + side * (g.mouth_w + 0.02), nose_y + 0.02, 0.0)
        fold[:, 1] = np.linspace(nose_y + 0.02, g.mouth_y + 0.01, len(fold))
        fold[:, 0] += side * 0.02 * np.sin(np.linspace(0, np.pi, len(fold)))
        _paint(canvas, _line_mask(size, fold, 0.01, soft * 2), skin * 0.6, 0.5)
    _paint(canvas, _ellipse_mask(size, (cx, nose_y - 0.015), (0.015, 0.02), soft * 3), skin * 1.15, 0.5)


def _draw_mouth(canvas: np.ndarray, size: int, pal: _Palette, g: _Geometry) -> None:
    soft = EDGE_SOFTNESS
    cx, mouth_y, mouth_w, curve, up_lip, low_lip = g.cx, g.mouth_y, g.mouth_w, g.curve, g.up_lip, g.low_lip
    skin, lip = pal.skin, pal.lip
    left, right = cx - mouth_w, cx + mouth_w
    line = _arc(left, right, mouth_y + curve, -curve * 1.0)
    upper_top = np.array(
        [
            [left, mouth_y + curve],
            [cx - mouth_w * 0.5, mouth_y - up_lip * 0.9],
            [cx - mouth_w * 0.12, mouth_y - up_lip * 1.1],
            [cx, mouth_y - up_lip * 0.75],
            [cx + mouth_w * 0.12, mouth_y - up_lip * 1.1],
            [cx + mouth_w * 0.5, mouth_y - up_lip * 0.9],
            [right, mouth_y + curve],
        ]
    )
    _paint(canvas, _poly_mask(size, np.concatenate([upper_top, line[::-1]]), soft), lip, 0.9)
    lower = _arc(left, right, mouth_y + curve, low_lip * 1.3 - curve)
    _paint(canvas, _poly_mask(size, np.concatenate([line, lower[::-1]]), soft), lip * 1.08, 0.9)
    _paint(canvas, _line_mask(size, line, 0.008, soft), lip * 0.35, 0.9)
    # soft shadow under the lower lip and on the chin
    _paint(
        canvas,
        _ellipse_mask(size, (cx, mouth_y + low_lip * 1.6), (mouth_w * 0.55, 0.012), soft * 3),
        skin * 0.75,
        0.4,
    )
    _paint(canvas, _ellipse_mask(size, (cx, g.chin_y), (mouth_w * 0.6, 0.03), soft * 4), skin * 0.9, 0.4)


def _draw_brows(rng: np.random.Generator, canvas: np.ndarray, size: int, brow: np.ndarray, g: _Geometry) -> None:
    soft = EDGE_SOFTNESS
    brow_noise = 1.0 + 0.3 * _band_noise(rng, size, [0.002 * size])
    for side in (-1, 1):
        inner, outer = g.cx + side * g.brow_in, g.cx + side * (g.eye_dx + g.eye_w + 0.02)
        pts = _arc(inner, outer, g.brow_y, -g.brow_arch)
        pts[:, 1] += np.linspace(0.0, 0.01, len(pts))  # the outer end droops a little
        mask = _line_mask(size, pts, g.brow_t, soft)
        _paint(canvas, mask * np.clip(brow_noise, 0, 1.5) / 1.5, brow, 1.0)


def _draw_eyes(canvas: np.ndarray, size: int, pal: _Palette, g: _Geometry,
               shade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw the open eyes on ``canvas`` (in place); the closed-eyes image and the eye mask."""
    soft = EDGE_SOFTNESS
    eye_y, eye_w, eye_h, skin = g.eye_y, g.eye_w, g.eye_h, pal.skin
    closed = canvas.copy()
    eye_mask = np.zeros((size, size), np.float32)
    for side in (-1, 1):
        ex = g.cx + side * g.eye_dx
        upper = _arc(ex - eye_w, ex + eye_w, eye_y, -eye_h * 1.1)
        lower = _arc(ex + eye_w, ex - eye_w, eye_y, eye_h * 0.9)
        almond = np.concatenate([upper, lower])
        white = _poly_mask(size, almond, soft * 0.5)
        eye_mask = np.maximum(eye_mask, _soften(np.clip(white * 3, 0, 1), 0.006 * size))
        _paint(canvas, white, np.array([0.85, 0.88, 0.9], np.float32), 1.0)
        iris_r = eye_h * 1.05
        iris_mask = _ellipse_mask(size, (ex + side * 0.004, eye_y + 0.002), (iris_r, iris_r), soft * 0.5)
        _paint(canvas, iris_mask * white, pal.iris, 1.0)
        pupil = _ellipse_mask(
            size, (ex + side * 0.004, eye_y + 0.002), (iris_r * 0.45, iris_r * 0.45), soft * 0.5
        )
        _paint(canvas, pupil * white, np.full(3, 0.05, np.float32), 1.0)
        _paint(
            canvas,
            _ellipse_mask(size, (ex - 0.006, eye_y - 0.006), (0.004, 0.004), 0),
            np.ones(3, np.float32),
            0.8,
        )
        _paint(canvas, _line_mask(size, upper, 0.009, soft), np.full(3, 0.08, np.float32), 0.9)
        _paint(canvas, _line_mask(size, lower, 0.004, soft), skin * 0.5, 0.6)
        crease = _arc(ex - eye_w * 0.9, ex + eye_w * 0.9, eye_y - eye_h * 1.2, -eye_h * 0.8)
        _paint(canvas, _line_mask(size, crease, 0.005, soft * 2), skin * 0.6, 0.4)
        _paint(closed, _line_mask(size, crease, 0.005, soft * 2), skin * 0.6, 0.4)
        # closed eye: the lid (slightly darker skin) covers the eye, lashes along the lower arc
        _paint(closed, white, skin * 0.9 * float(shade[int(eye_y * size), int(ex * size)]), 1.0)
        lid_line = _arc(ex - eye_w, ex + eye_w, eye_y + eye_h * 0.3, eye_h * 0.5)
        _paint(closed, _line_mask(size, lid_line, 0.008, soft), np.full(3, 0.1, np.float32), 0.9)
    return closed, eye_mask


def _landmarks(g: _Geometry) -> dict[str, tuple[float, float]]:
    """Named positions the action units are attached to (fractions of the side)."""
    landmarks: dict[str, tuple[float, float]] = {
        "chin": (g.cx, g.chin_y),
        "lower_lip": (g.cx, g.mouth_y + g.low_lip),
        "mouth_center": (g.cx, g.mouth_y),
        "nose_tip": (g.cx, g.nose_y),
    }
    for side, name in ((-1, "l"), (1, "r")):
        ex = g.cx + side * g.eye_dx
        landmarks[f"eye_{name}"] = (ex, g.eye_y)
        landmarks[f"upper_lid_{name}"] = (ex, g.eye_y - g.eye_h)
        landmarks[f"lower_lid_{name}"] = (ex, g.eye_y + g.eye_h)
        landmarks[f"brow_inner_{name}"] = (g.cx + side * (g.brow_in + 0.01), g.brow_y)
        landmarks[f"brow_mid_{name}"] = (ex, g.brow_y - g.brow_arch * 0.8)
        landmarks[f"brow_outer_{name}"] = (g.cx + side * (g.eye_dx + g.eye_w), g.brow_y + 0.005)
        landmarks[f"cheek_{name}"] = (ex + side * 0.01, g.cheek_y)
        landmarks[f"mouth_corner_{name}"] = (g.cx + side * g.mouth_w, g.mouth_y + g.curve)
    return landmarks


def draw_face(rng: np.random.Generator, size: int, skin_texture: tuple[float, float]) -> Face:
    """Draw a random neutral face of side ``size`` pixels from ``rng``.

    ``skin_texture`` is the range of the texture amplitude (fraction of the skin brightness). The
    random draws come in a fixed order — palette, proportions, background and hair, skin, brows,
    fine grain — so the same generator state always gives the same face.
    """
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    pal = _draw_palette(rng)
    g = _draw_geometry(rng)
    canvas = _draw_background_and_hair(rng, size, pal, g, yy)
    canvas, face_mask, shade = _draw_skin(rng, canvas, size, pal, g, xx, yy, skin_texture)
    _draw_nose(canvas, size, pal.skin, g)
    _draw_mouth(canvas, size, pal, g)
    _draw_brows(rng, canvas, size, pal.brow, g)
    closed, eye_mask = _draw_eyes(canvas, size, pal, g, shade)

    # a faint fine grain over everything drawn on the face (lips and brows included)
    grain = (1.0 + 0.5 * _u(rng, skin_texture) * _band_noise(rng, size, [TEXTURE_SCALES[0] * size]))[
        ..., None
    ]
    face_grain = face_mask[..., None] * (grain - 1.0) + 1.0
    canvas *= face_grain
    closed *= face_grain

    clip = lambda img: np.clip(img, 0.0, 1.0).astype(np.float32)
    return Face(
        open=clip(canvas), closed=clip(closed), eye_mask=eye_mask.astype(np.float32), landmarks=_landmarks(g)
    )
