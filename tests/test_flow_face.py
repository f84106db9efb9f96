"""Face detection, landmarks and alignment with dlib, on drawn faces (real face images are licensed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from causalnet.flow import FaceNotFoundError, PreprocessConfig, align_faces, clip_images, detect_landmarks
from causalnet.flow.face import landmark_model_path
from causalnet.flow.synthetic import cartoon_face, expression_frames

dlib = pytest.importorskip(
    "dlib", reason="dlib is not installed (pip install \"causalnet[face]\")"
)

CFG = PreprocessConfig(face_method="dlib", face_size=96)
H, W, SCALE = 240, 320, 0.5


def _eye_line(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return landmarks[36:42].mean(0), landmarks[42:48].mean(0)


def _tilt_deg(landmarks: np.ndarray) -> float:
    left, right = _eye_line(landmarks)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def test_landmark_model_ships_with_the_package(monkeypatch, tmp_path):
    path = landmark_model_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 50_000_000
    monkeypatch.setenv("CAUSALNET_LANDMARK_MODEL", str(tmp_path / "nope.dat"))
    with pytest.raises(FileNotFoundError, match="nope.dat: landmark model not found"):
        landmark_model_path()


def test_landmarks_on_a_drawn_face():
    face = cartoon_face(H, W, scale=SCALE)
    lm = detect_landmarks(face, CFG, "face.png")
    assert lm.shape == (68, 2)
    left, right = _eye_line(lm)
    # drawn eyes at (±40, -20)·scale from the centre
    assert left == pytest.approx([W / 2 - 20, H / 2 - 10], abs=4)
    assert right == pytest.approx([W / 2 + 20, H / 2 - 10], abs=4)


def test_alignment_levels_a_tilted_face_and_crops_all_frames_alike():
    upright = cartoon_face(H, W, scale=SCALE, seed=2)
    tilted = cartoon_face(H, W, scale=SCALE, angle_deg=14.0, seed=2)
    shifted = np.roll(tilted, 3, axis=1)  # the other key-frames get the onset's crop, not their own
    a_up = align_faces([upright], CFG)[0]
    a_tilt, a_shift = align_faces([tilted, shifted], CFG, ["onset.png", "apex.png"])
    assert a_up.shape == a_tilt.shape == (96, 96)
    assert np.corrcoef(a_up.ravel(), a_tilt.ravel())[0, 1] > 0.9
    # eyes (nearly) level and where the config puts them; the landmark model itself
    # under-reads the tilt of a drawn face by a few degrees, hence the tolerance
    before = _tilt_deg(detect_landmarks(tilted, CFG, "tilted"))
    big = cv2.resize(a_tilt, (384, 384), interpolation=cv2.INTER_CUBIC)
    after_lm = detect_landmarks(big, CFG.with_overrides({"detect_max_side": 400}), "aligned")
    assert abs(before) > 10 and abs(_tilt_deg(after_lm)) < abs(before) / 2
    assert abs(_eye_line(after_lm)[0][1] / 4 - CFG.eye_row * 96) < 4
    # the same transform for every frame: the roll survives as a (rotated) shift of ~3 px
    moved = np.abs(a_shift.astype(int) - a_tilt.astype(int)).mean()
    assert moved > 1.0


def test_no_face_error_names_the_frame():
    blank = np.full((H, W, 3), 90, np.uint8)
    with pytest.raises(FaceNotFoundError, match=r"clip7/img001.jpg: no face found"):
        align_faces([blank, blank], CFG, ["clip7/img001.jpg", "clip7/img002.jpg"])


def test_clip_with_dlib_gives_four_images():
    base = cartoon_face(H, W, scale=SCALE, seed=4)
    frames = expression_frames(
        base, 12, 1, 5, 10, (W / 2 - 20, H / 2 - 22), 3.0, (0.0, -1.5), noise_sigma=1.0
    )
    images = clip_images([frames[1], frames[5], frames[10]], CFG)
    assert images.shape == (4, 28, 28, 3) and images.dtype == np.uint8
    assert (images[2:, ..., 0] == 0).all()  # direction maps: blue channel empty


def test_tracker_aligns_once_and_again_when_the_face_moves_away():
    from causalnet.flow.face import FaceTracker, translation

    face = cartoon_face(H, W, scale=SCALE, seed=4)
    moved = np.roll(np.roll(face, 30, axis=1), 12, axis=0)  # the person shifted in the frame
    frames = [face] * 12 + [moved] * 12
    tracker = FaceTracker(CFG, check_every=5)
    aligned = [tracker(f, f"frame{i}") for i, f in enumerate(frames)]
    assert tracker.detections == 2 and tracker.realigned == [15]  # first check after the move
    assert all(a.shape == (96, 96) for a in aligned)
    dx, dy, _ = translation(aligned[0].astype(np.float32), aligned[-1].astype(np.float32))
    assert abs(dx) < 3 and abs(dy) < 3  # aligned again (to the landmark model's precision on a drawing)
    dx, dy, _ = translation(aligned[0].astype(np.float32), aligned[13].astype(np.float32))
    assert np.hypot(dx, dy) > 5  # before the check, the old crop
    with pytest.raises(ValueError, match="differs from the first frame's"):
        tracker(face[:100], "small")
    blank = FaceTracker(CFG)
    with pytest.raises(FaceNotFoundError, match="empty.png: no face found"):
        blank(np.zeros((H, W), np.uint8), "empty.png")
