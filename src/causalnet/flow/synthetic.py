"""Synthetic frames with known motion, for tests, benchmarks and demos of the preprocessing path.

- :func:`textured_image` — a smooth random texture (strong gradients everywhere, good for flow).
- :func:`cartoon_face` — a drawn frontal face on a frame (dlib's HOG detector finds it and its
  68 landmarks land on the drawn features), optionally rotated.
- :func:`displace` / :func:`local_displacement` — move content by a known (sub-pixel)
  displacement, globally or inside a soft Gaussian region.
- :func:`expression_frames` — a clip whose region moves to a peak displacement at the apex and
  back by the offset (a stand-in for a micro-expression).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["cartoon_face", "displace", "expression_frames", "local_displacement", "textured_image"]

# Cartoon face geometry, in pixels at scale 1 relative to the face centre.
_SKIN_BGR = (150, 170, 210)
_HAIR_BGR = (30, 30, 40)
_BACKGROUND = 60
_TEXTURE_AMPLITUDE = 14.0
_NOISE_SIGMA = 2.0


def textured_image(height: int, width: int, seed: int = 0, blur_sigma: float = 2.0) -> np.ndarray:
    """A grayscale uint8 ``[height, width]`` random texture, blurred to ``blur_sigma`` pixels."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur_sigma)
    smooth = (smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-6)
    return np.rint(smooth * 255.0).astype(np.uint8)


def displace(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` with its content moved by ``(dx, dy)`` pixels (sub-pixel, reflected border)."""
    h, w = image.shape[:2]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def local_displacement(
    image: np.ndarray, centre: tuple[float, float], sigma: float, dx: float, dy: float, radius: float = 0.0
) -> np.ndarray:
    """Move the content near ``centre`` (x, y) by up to ``(dx, dy)`` pixels.

    ``output(p) = image(p - w(p)·d)`` with weight ``w = 1`` within ``radius`` of the centre (a
    patch moving rigidly) falling off as a Gaussian of width ``sigma`` outside: the content there
    moves by ``d``, far away it stays put.
    """
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.sqrt((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2)
    weight = np.exp(-(np.maximum(dist - radius, 0.0) ** 2) / (2.0 * sigma**2))
    map_x = (xs - weight * dx).astype(np.float32)
    map_y = (ys - weight * dy).astype(np.float32)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def cartoon_face(
    height: int = 480, width: int = 640, scale: float = 1.0, angle_deg: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A BGR uint8 ``[height, width, 3]`` frame with a drawn frontal face centred on it.

    ``scale`` 1 gives a face about 230 px wide; ``angle_deg`` rotates the frame content
    (counter-clockwise, about the centre). A fine skin texture gives the flow something to track.
    """
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), _BACKGROUND, np.uint8)
    cx, cy = width / 2.0, height / 2.0

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(cx + x * scale)), int(round(cy + y * scale))

    def s(a: float, b: float) -> tuple[int, int]:
        return int(round(a * scale)), int(round(b * scale))

    cv2.ellipse(img, p(0, -40), s(120, 150), 0, 0, 360, _HAIR_BGR, -1)
    cv2.ellipse(img, p(0, 10), s(100, 135), 0, 0, 360, _SKIN_BGR, -1)
    texture = textured_image(height, width, seed + 1, blur_sigma=1.5).astype(np.float32) / 255.0 - 0.5
    skin = np.all(img == np.array(_SKIN_BGR, np.uint8), axis=-1)
    img = img.astype(np.float32)
    img[skin] += _TEXTURE_AMPLITUDE * texture[skin][:, None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for side in (-1, 1):
        cv2.ellipse(img, p(side * 40, -45), s(28, 8), 0, 180, 360, (40, 40, 60), max(1, int(5 * scale)))
        cv2.ellipse(img, p(side * 40, -20), s(22, 10), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, p(side * 40, -20), max(1, int(8 * scale)), (40, 30, 30), -1)
    cv2.line(img, p(0, -15), p(-8, 30), (110, 125, 170), max(1, int(3 * scale)))
    cv2.ellipse(img, p(0, 32), s(14, 6), 0, 0, 180, (100, 110, 160), max(1, int(3 * scale)))
    cv2.ellipse(img, p(0, 70), s(35, 12), 0, 0, 360, (90, 90, 170), -1)
    cv2.line(img, p(-35, 70), p(35, 70), (50, 50, 100), max(1, int(2 * scale)))
    img = cv2.GaussianBlur(img, (0, 0), 1.5 * scale)
    if angle_deg:
        matrix = cv2.getRotationMatrix2D((cx, cy), angle_deg, 1.0)
        img = cv2.warpAffine(img, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    noise = rng.normal(0.0, _NOISE_SIGMA, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def expression_frames(
    base: np.ndarray,
    n_frames: int,
    onset: int,
    apex: int,
    offset: int,
    centre: tuple[float, float],
    sigma: float,
    peak: tuple[float, float],
    noise_sigma: float = 0.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """``n_frames`` frames of ``base`` whose region around ``centre`` moves to ``peak`` (dx, dy) at ``apex``.

    The displacement rises linearly from 0 at ``onset`` to ``peak`` at ``apex`` and falls back to 0
    at ``offset`` (0 outside). Optional Gaussian sensor noise (``noise_sigma`` grey levels).
    """
    if not 0 <= onset < apex < offset < n_frames:
        raise ValueError(f"need 0 <= onset < apex < offset < n_frames, got {onset}, {apex}, {offset}, {n_frames}")
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_frames):
        if onset <= t <= apex:
            k = (t - onset) / (apex - onset)
        elif apex < t <= offset:
            k = (offset - t) / (offset - apex)
        else:
            k = 0.0
        frame = local_displacement(base, centre, sigma, k * peak[0], k * peak[1]) if k else base.copy()
        if noise_sigma:
            frame = np.clip(frame + rng.normal(0.0, noise_sigma, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames
