"""Face detection, 68-point landmarks (dlib) and alignment of the key-frames on the onset frame;
:class:`FaceTracker` aligns a long recording frame by frame, detecting the face again when it moves.

:class:`FaceCrop` is the one face cropper: :func:`align_faces`, :class:`FaceTracker` and the
robustness experiments' frame cache (:class:`causalnet.robustness.inputs.FaceAligner`) all crop with it.

The face is found once, on the onset frame: dlib's HOG frontal-face detector gives a box, the
68-point shape predictor shipped inside the ``face-recognition-models`` package gives landmarks
(nothing is downloaded at run time). A similarity transform (rotation, uniform scale,
translation) puts the two eye centres on a horizontal line at ``eye_row * size``, ``eye_distance
* size`` apart and centred left–right; the same transform is applied to the apex and offset
frames, so the motion between key-frames survives the crop. With ``face_method = "none"`` the
frames are taken as already cropped and aligned faces and only resized.

Landmark numbering (iBUG 68): 36–41 the eye on the image's left, 42–47 the eye on its right.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from causalnet.flow.config import PreprocessConfig

__all__ = [
    "LANDMARK_MODEL_FILE",
    "FaceBackendError",
    "FaceCrop",
    "FaceNotFoundError",
    "FaceTracker",
    "alignment_matrix",
    "align_faces",
    "detect_landmarks",
    "landmark_model_path",
    "require_face_backend",
    "to_gray",
    "translation",
]

log = logging.getLogger(__name__)

LANDMARK_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
N_LANDMARKS = 68

_INSTALL_HINT = "install them with `pip install \"causalnet[face]\"` (or use --face none)"


class FaceNotFoundError(ValueError):
    """No face was found in a frame (the message names the frame)."""


class FaceBackendError(ValueError):
    """dlib or its landmark model is not installed (the message says how to install them)."""


def landmark_model_path(override: str = "") -> Path:
    """Path of dlib's 68-point landmark model.

    ``override`` (or the ``CAUSALNET_LANDMARK_MODEL`` environment variable) wins; otherwise the
    file inside the installed ``face-recognition-models`` package is used. The package is located
    without importing it (its ``__init__`` needs the removed ``pkg_resources``).
    """
    chosen = override or os.environ.get("CAUSALNET_LANDMARK_MODEL", "")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: landmark model not found")
        return path
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceBackendError(f"the face landmark model package 'face-recognition-models' is missing; {_INSTALL_HINT}")
    for base in spec.submodule_search_locations:
        path = Path(base) / "models" / LANDMARK_MODEL_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{LANDMARK_MODEL_FILE} not found inside the face-recognition-models package")


@functools.lru_cache(maxsize=2)
def _dlib_models(model_path: str) -> tuple:
    """The (detector, shape predictor) pair, loaded once per process."""
    try:
        import dlib
    except ImportError:
        raise FaceBackendError(f"dlib is not installed; {_INSTALL_HINT}") from None
    log.debug("loading dlib detector and landmark model %s", model_path)
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(model_path)


def require_face_backend(cfg: PreprocessConfig) -> None:
    """Raise :class:`FaceBackendError` early when ``face_method`` is dlib and dlib or its model is
    missing (checks only; nothing is loaded)."""
    if cfg.face_method != "dlib":
        return
    if importlib.util.find_spec("dlib") is None:
        raise FaceBackendError(f"dlib is not installed; {_INSTALL_HINT}")
    landmark_model_path(cfg.landmark_model)


def to_gray(image: np.ndarray) -> np.ndarray:
    """``image`` as grayscale ``[H, W]``: BGR frames are converted, gray ones returned as they are."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def detect_landmarks(image: np.ndarray, cfg: PreprocessConfig, name: str = "frame") -> np.ndarray:
    """The 68 landmarks ``[68, 2]`` (x, y; float64, pixels) of the largest face in ``image``.

    Args:
        image: BGR ``[H, W, 3]`` or grayscale ``[H, W]`` uint8 frame.
        cfg: detection parameters (``detect_*``, ``landmark_model``).
        name: the frame's name for the error message.

    Raises:
        FaceNotFoundError: no face in the frame.
    """
    detector, predictor = _dlib_models(str(landmark_model_path(cfg.landmark_model)))
    import dlib  # present: _dlib_models imported it

    gray = to_gray(image)
    h, w = gray.shape
    scale = min(1.0, cfg.detect_max_side / max(h, w))
    small = (
        gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    )
    rects = [
        (r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale)
        for r in detector(small, cfg.detect_upsample)
    ]
    if (
        not rects
        and cfg.detect_retry_upsample > 0
        and (scale < 1.0 or cfg.detect_retry_upsample != cfg.detect_upsample)
    ):
        rects = [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(gray, cfg.detect_retry_upsample)]
    if not rects:
        raise FaceNotFoundError(
            f"{name}: no face found (dlib frontal-face detector); "
            "check the frame, or use --face none for frames already cropped to the face"
        )
    left, top, right, bottom = max(rects, key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
    box = dlib.rectangle(round(left), round(top), round(right), round(bottom))
    shape = predictor(gray, box)
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(N_LANDMARKS)], dtype=np.float64)


def alignment_matrix(landmarks: np.ndarray, size: int, eye_row: float, eye_distance: float) -> np.ndarray:
    """The 2×3 similarity transform mapping a frame onto the aligned ``size``×``size`` face.

    Eye centres (means of landmarks 36–41 and 42–47) land at ``((0.5 ∓ eye_distance/2)·size,
    eye_row·size)``: eyes level, fixed margins. ``landmarks`` is ``[68, 2]`` (x, y).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (N_LANDMARKS, 2):
        raise ValueError(f"expected landmarks of shape (68, 2), got {landmarks.shape}")
    left = landmarks[LEFT_EYE].mean(axis=0)
    right = landmarks[RIGHT_EYE].mean(axis=0)
    dx, dy = right - left
    dist = math.hypot(dx, dy)
    if dist < 1e-6:
        raise ValueError("degenerate landmarks: the two eye centres coincide")
    angle = math.atan2(dy, dx)
    scale = eye_distance * size / dist
    a, b = scale * math.cos(angle), scale * math.sin(angle)
    cx, cy = (left + right) / 2.0
    # Rotate by -angle and scale about the eye midpoint, then move it to (size/2, eye_row*size).
    tx = size / 2.0 - (a * cx + b * cy)
    ty = eye_row * size - (-b * cx + a * cy)
    return np.array([[a, b, tx], [-b, a, ty]], dtype=np.float64)


class FaceCrop:
    """The crop of one face: found once on a frame, applied to every frame of the same size.

    ``face_method="none"``: frames are taken as faces and resized to ``face_size`` (area
    interpolation; a frame already that size is returned as it is). ``dlib``: :meth:`locate` finds
    the landmarks and sets :attr:`matrix`, the similarity transform of :func:`alignment_matrix`, and
    every frame is warped with it (bilinear, replicated border).

    Args:
        cfg: ``face_method``, ``face_size`` and the alignment/detection parameters.
        reference: how size errors name the frame whose size every frame must have
            (``"onset frame"``, ``"first frame"``).
    """

    def __init__(self, cfg: PreprocessConfig, reference: str = "first frame") -> None:
        self.cfg, self.reference = cfg, reference
        self.matrix: np.ndarray | None = None
        self.shape: tuple[int, int] | None = None

    def check_size(self, frame: np.ndarray, name: str) -> None:
        """Raise ValueError when ``frame`` differs in size from the first frame checked."""
        shape = frame.shape[:2]
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape:
            raise ValueError(f"{name}: frame size {shape[1]}x{shape[0]} differs from the {self.reference}'s "
                             f"{self.shape[1]}x{self.shape[0]}")

    def locate(self, gray: np.ndarray, name: str) -> None:
        """Find the face in ``gray`` and crop every later frame as that one (no-op for ``face_method="none"``).

        Raises:
            FaceNotFoundError: no face in the frame (the previous transform is kept).
        """
        if self.cfg.face_method == "none":
            return
        landmarks = detect_landmarks(gray, self.cfg, name)
        self.matrix = alignment_matrix(landmarks, self.cfg.face_size, self.cfg.eye_row, self.cfg.eye_distance)

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """The face ``[face_size, face_size]`` uint8 cropped out of the grayscale frame ``gray``."""
        size = self.cfg.face_size
        if self.matrix is None:
            return gray if gray.shape == (size, size) else cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
        return cv2.warpAffine(gray, self.matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_faces(
    frames: Sequence[np.ndarray], cfg: PreprocessConfig, names: Sequence[str] | None = None
) -> list[np.ndarray]:
    """Grayscale aligned faces ``[size, size]`` uint8, one per frame, all cropped as the first one.

    Args:
        frames: the key-frames, onset first (BGR ``[H, W, 3]`` or gray ``[H, W]`` uint8), same size.
        cfg: ``face_method``, ``face_size`` and the alignment/detection parameters.
        names: frame names for error messages (defaults to ``frame 0``, ``frame 1``...).
    """
    names = list(names) if names is not None else [f"frame {i}" for i in range(len(frames))]
    crop = FaceCrop(cfg, reference="onset frame")
    for frame, name in zip(frames, names, strict=True):
        crop.check_size(frame, name)
    grays = [to_gray(f) for f in frames]
    crop.locate(grays[0], names[0])
    return [crop(g) for g in grays]


def _shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def translation(reference: np.ndarray, image: np.ndarray, refine: int = 3) -> tuple[float, float, float]:
    """Global translation ``(dx, dy)`` (pixels) of ``image`` relative to ``reference``, and the phase
    correlation's peak response (1 = identical up to a shift, ~0 = unrelated).

    Phase correlation (on Hanning-windowed float32 copies) finds the shift to about a pixel (its
    sub-pixel estimate is biased towards whole pixels); ``refine`` Lucas–Kanade steps on the two
    images moved half-way towards each other make it sub-pixel accurate.
    """
    ref = np.asarray(reference, dtype=np.float32)
    img = np.asarray(image, dtype=np.float32)
    window = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_32F)
    # Windowed copies: OpenCV 5.0's phaseCorrelate writes into its inputs when given a window.
    (dx, dy), response = cv2.phaseCorrelate(ref * window, img * window)
    if not (math.isfinite(dx) and math.isfinite(dy)):
        return 0.0, 0.0, 0.0
    inner = (slice(2, -2), slice(2, -2))  # away from the replicated border
    for _ in range(refine):
        a, b = _shift_image(ref, dx / 2, dy / 2)[inner], _shift_image(img, -dx / 2, -dy / 2)[inner]
        gy, gx = np.gradient((a + b) / 2)
        dt = b - a
        system = np.array([[np.sum(gx * gx), np.sum(gx * gy)], [np.sum(gx * gy), np.sum(gy * gy)]], np.float64)
        if abs(np.linalg.det(system)) < 1e-12:
            break
        step = np.linalg.solve(system, -np.array([np.sum(gx * dt), np.sum(gy * dt)], np.float64))
        dx, dy = dx + float(step[0]), dy + float(step[1])
    return float(dx), float(dy), float(response)


class FaceTracker:
    """Aligned grayscale faces of a stream of frames (a long recording), cropped as ``preprocess`` does.

    ``face_method="none"``: frames are already faces and are only resized to ``face_size``. ``dlib``:
    the landmarks are found on the first frame and every frame is warped with that similarity
    transform (:func:`alignment_matrix`); every ``check_every`` frames the aligned face is compared
    with the one at the last detection (:func:`translation` on a 64-pixel copy) and, when it has
    moved by more than ``max_shift`` of the face side (or the match is lost), the face is detected
    again on that frame. :attr:`realigned` lists the frames where the transform changed (the
    spotter ignores changes there).
    """

    def __init__(self, cfg: PreprocessConfig, max_shift: float = 0.06, check_every: int = 10,
                 min_response: float = 0.05) -> None:
        self.cfg, self.max_shift, self.check_every, self.min_response = cfg, max_shift, check_every, min_response
        self.crop = FaceCrop(cfg, reference="first frame")
        self.reference: np.ndarray | None = None
        self.realigned: list[int] = []
        self.detections = 0
        self.index = 0

    @property
    def matrix(self) -> np.ndarray | None:
        """The current alignment transform (None before the first detection, or with ``face_method="none"``)."""
        return self.crop.matrix

    def _small(self, face: np.ndarray) -> np.ndarray:
        side = min(64, face.shape[0])
        return cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)

    def prime(self, frame: np.ndarray, name: str = "frame") -> None:
        """Find the face on ``frame`` (BGR or gray; any frame of the recording, e.g. a later one when the first
        shows no face) and crop the stream as that one from its first frame on (no-op with ``face_method="none"``).

        Raises:
            FaceNotFoundError: no face in ``frame`` (the tracker is unchanged).
        """
        if self.cfg.face_method == "none":
            return
        gray = to_gray(frame)
        self.crop.check_size(gray, name)
        self._detect(gray, name)

    def _detect(self, gray: np.ndarray, name: str) -> np.ndarray:
        """Locate the face on ``gray``; its new crop, which becomes the reference for later checks."""
        self.crop.locate(gray, name)
        self.detections += 1
        face = self.crop(gray)
        self.reference = self._small(face)
        return face

    def __call__(self, frame: np.ndarray, name: str = "frame") -> np.ndarray:
        """The aligned face ``[face_size, face_size]`` uint8 of the next frame (BGR or gray)."""
        gray = to_gray(frame)
        index, self.index = self.index, self.index + 1
        self.crop.check_size(gray, name)
        if self.cfg.face_method == "none":
            return self.crop(gray)
        if self.matrix is None:
            return self._detect(gray, name)
        face = self.crop(gray)
        if index % self.check_every == 0:
            dx, dy, response = translation(self.reference, self._small(face))
            moved = math.hypot(dx, dy) / self.reference.shape[0]
            if moved > self.max_shift or response < self.min_response:
                try:
                    face = self._detect(gray, name)
                except FaceNotFoundError:
                    log.debug("%s: the face moved (%.3f of its side) but was not found again", name, moved)
                else:
                    self.realigned.append(index)
                    log.debug("%s: face detected again (moved %.3f of its side)", name, moved)
        return face
