"""Tests of causalnet.flow: frames in, TV-L1 flow with known motion, strain, images, direction maps."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from causalnet.flow import (
    CHANNEL_STRAIN,
    CHANNEL_U,
    CHANNEL_V,
    FrameFolder,
    PreprocessConfig,
    VideoFile,
    alignment_matrix,
    clip_images,
    direction_map,
    flow_channels,
    hue_of,
    list_frames,
    natural_key,
    open_frames,
    optical_strain,
    tvl1_flow,
)
from causalnet.flow.synthetic import displace, local_displacement, textured_image

SIZE = 64
CFG = PreprocessConfig(face_method="none", face_size=SIZE)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    cv2.setNumThreads(1)  # the machine's cores are shared


# ---------------------------------------------------------------- frames in


def test_natural_sort_and_listing(tmp_path):
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "img100.png", ".hidden.jpg", "notes.txt"]
    img = np.zeros((4, 4, 3), np.uint8)
    for n in names:
        if n.endswith((".jpg", ".png")):
            cv2.imwrite(str(tmp_path / n), img)
        else:
            (tmp_path / n).write_text("x")
    assert [p.name for p in list_frames(tmp_path)] == ["img1.jpg", "img2.jpg", "img10.jpg", "img100.png"]
    assert sorted(["a_10", "a_9", "A_1"], key=natural_key) == ["A_1", "a_9", "a_10"]


def test_frame_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.*frame folder not found"):
        FrameFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no frame images"):
        FrameFolder(tmp_path / "empty")
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(3):
        cv2.imwrite(str(clip / f"{i}.png"), np.full((8, 8), i * 40, np.uint8))
    (clip / "3.png").write_bytes(b"not a png")
    src = FrameFolder(clip)
    assert len(src) == 4
    assert [int(f[0, 0, 0]) for f in src.read([2, 0])] == [80, 0]
    with pytest.raises(ValueError, match=r"frame index 7 out of range \(the clip has 4 frames"):
        src.read([0, 7])
    with pytest.raises(ValueError, match=r"3\.png: unreadable image"):
        src.read([3])


def test_video_file_reads_the_asked_frames(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
    assert writer.isOpened()
    for i in range(6):
        writer.write(np.full((32, 32, 3), 30 * i, np.uint8))
    writer.release()
    src = open_frames(path)
    assert isinstance(src, VideoFile)
    frames = src.read([4, 1, 4])
    assert [round(float(f.mean()) / 30) for f in frames] == [4, 1, 4]
    with pytest.raises(ValueError, match="frame index 9 out of range"):
        src.read([9])
    with pytest.raises(FileNotFoundError, match="no such frame folder or video"):
        open_frames(tmp_path / "nope.mp4")


# ---------------------------------------------------------------- flow with known motion


@pytest.mark.parametrize("dx,dy", [(1.5, -1.0), (-0.6, 2.2)])
def test_tvl1_recovers_a_known_global_shift(dx, dy):
    a = textured_image(SIZE, SIZE, seed=3)
    b = displace(a, dx, dy)
    flow = tvl1_flow(a, b, CFG)
    assert flow.shape == (SIZE, SIZE, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10].reshape(-1, 2)
    u, v = np.median(inner, axis=0)
    assert u == pytest.approx(dx, abs=0.1) and v == pytest.approx(dy, abs=0.1)
    # direction and magnitude
    assert math.atan2(v, u) == pytest.approx(math.atan2(dy, dx), abs=0.05)
    assert math.hypot(u, v) == pytest.approx(math.hypot(dx, dy), rel=0.05)


def test_tvl1_localised_motion_stays_local():
    a = textured_image(SIZE, SIZE, seed=5)
    b = local_displacement(a, (32, 32), 4.0, 2.0, -1.0, radius=10.0)  # a patch moves rigidly
    flow = tvl1_flow(a, b, CFG)
    centre = flow[30:35, 30:35].reshape(-1, 2).mean(axis=0)
    assert centre[0] == pytest.approx(2.0, abs=0.2) and centre[1] == pytest.approx(-1.0, abs=0.2)
    corner = np.abs(flow[:10, :10]).mean()
    assert corner < 0.1


# ---------------------------------------------------------------- strain and normalisation


def test_optical_strain_formula():
    ys, xs = np.mgrid[0:20, 0:20].astype(np.float32)
    stretch = np.stack([0.3 * xs, -0.4 * ys], axis=-1)  # εxx = 0.3, εyy = -0.4
    assert np.allclose(optical_strain(stretch), 0.5, atol=1e-5)
    shear = np.stack([0.2 * ys, np.zeros_like(ys)], axis=-1)  # εxy = 0.1 -> sqrt(2 * 0.01)
    assert np.allclose(optical_strain(shear), math.sqrt(0.02), atol=1e-5)
    assert np.allclose(optical_strain(np.zeros((5, 5, 2), np.float32)), 0.0)


def test_flow_channels_order_and_range():
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    flow = np.stack([xs / SIZE, -ys / SIZE * 2], axis=-1)  # u grows right, v decreases down
    ch = flow_channels(flow, CFG.with_overrides({"out_size": 28}))
    assert ch.shape == (28, 28, 3) and ch.dtype == np.float32
    assert 0 <= ch.min() and ch.max() <= 255
    assert ch[14, -1, CHANNEL_U] > 240 and ch[14, 0, CHANNEL_U] < 15  # u: left dark, right bright
    assert ch[0, 14, CHANNEL_V] > 240 and ch[-1, 14, CHANNEL_V] < 15  # v: top bright (largest v)
    assert np.ptp(ch[..., CHANNEL_STRAIN]) < 1.0  # uniform strain: constant channel


def test_degenerate_input_is_finite():
    tex = textured_image(SIZE, SIZE, seed=1)
    flat = np.full((SIZE, SIZE), 128, np.uint8)
    for frames in ([tex, tex, tex], [flat, flat, flat], [flat, flat + 3, flat]):
        images = clip_images(frames, CFG)
        assert images.shape == (4, 28, 28, 3) and images.dtype == np.uint8
        flow = tvl1_flow(frames[0], frames[1], CFG)
        assert np.isfinite(flow).all()
        assert np.isfinite(flow_channels(flow, CFG)).all()
    # identical frames: no motion -> flow channels written as 0, not stretched noise
    still = clip_images([tex, tex, tex], CFG)
    assert still[0][..., [CHANNEL_U, CHANNEL_V]].max() == 0


# ---------------------------------------------------------------- direction maps


def test_direction_map_algorithm1():
    x = np.array([[1.0, 0.0, 1.0, 0.5]], np.float32)
    y = np.array([[0.0, 1.0, 1.0, 0.0]], np.float32)
    dm = direction_map(x, y)
    assert dm.dtype == np.uint8 and dm.shape == (1, 4, 3)
    assert hue_of(dm)[0].tolist() == [0, 45, 22, 0]  # angle 0, 90°, 45°, 0 -> hue θ·180/(2π)
    hsv = cv2.cvtColor(dm, cv2.COLOR_BGR2HSV)
    assert (hsv[..., 1] == 255).all() and (hsv[..., 2] == 255).all()
    assert (dm[..., 0] == 0).all()  # non-negative components: blue channel empty (as published)


def _rise_fall_clip(peak):
    base = textured_image(SIZE, SIZE, seed=11)
    apex = local_displacement(base, (32, 32), 4.0, *peak, radius=10.0)
    return [base, apex, base]


def test_direction_hue_reverses_with_the_motion():
    images = clip_images(_rise_fall_clip((2.0, -1.5)), CFG)
    rise, fall = hue_of(images[2]).astype(int), hue_of(images[3]).astype(int)
    c = slice(12, 16)
    # moving region: u max / v min -> hue ~0 on the way up; reversed (u min / v max) -> hue ~45
    assert rise[c, c].mean() < 8 and fall[c, c].mean() > 37
    # the still background mirrors it (less sharply: min-max normalisation meets solver over-shoot)
    assert rise[:4, :4].mean() > 33 and fall[:4, :4].mean() < 13
    assert rise[:4, :4].mean() - rise[c, c].mean() > 25 and fall[c, c].mean() - fall[:4, :4].mean() > 25
    # flow images: u channel bright where the region moved right, dark on the way back
    assert images[0][c, c, CHANNEL_U].mean() > 200 and images[1][c, c, CHANNEL_U].mean() < 55


def test_raw_direction_maps_turn_half_a_circle():
    cfg = CFG.with_overrides({"direction_from": "raw"})
    images = clip_images(_rise_fall_clip((2.0, 0.0)), cfg)
    rise, fall = hue_of(images[2]).astype(int), hue_of(images[3]).astype(int)
    c = slice(12, 16)
    assert np.median(rise[c, c]) <= 2 or np.median(rise[c, c]) >= 178  # angle 0
    assert abs(np.median(fall[c, c]) - 90) <= 3  # angle π: hue + 90 (180°)


# ---------------------------------------------------------------- face alignment


def _landmarks(angle_deg: float, scale: float, centre=(100.0, 80.0)) -> np.ndarray:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-40, 40, size=(68, 2))
    pts[36:42] = [-20, -10] + rng.normal(0, 1, (6, 2))
    pts[42:48] = [20, -10] + rng.normal(0, 1, (6, 2))
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return pts @ rot.T * scale + centre


@pytest.mark.parametrize("angle", [0.0, 12.0, -25.0])
def test_alignment_puts_the_eyes_level_at_fixed_places(angle):
    lm = _landmarks(angle, 1.7)
    m = alignment_matrix(lm, 128, 0.3, 0.36)
    moved = np.c_[lm, np.ones(68)] @ m.T
    left, right = moved[36:42].mean(0), moved[42:48].mean(0)
    assert left[1] == pytest.approx(0.3 * 128, abs=1e-6) and right[1] == pytest.approx(0.3 * 128, abs=1e-6)
    assert right[0] - left[0] == pytest.approx(0.36 * 128, abs=1e-6)
    assert (left[0] + right[0]) / 2 == pytest.approx(64, abs=1e-6)
    with pytest.raises(ValueError, match="68, 2"):
        alignment_matrix(lm[:5], 128, 0.3, 0.36)


def test_face_none_resizes_and_checks_sizes():
    from causalnet.flow import align_faces

    frames = [np.zeros((50, 40, 3), np.uint8), np.zeros((50, 40, 3), np.uint8)]
    faces = align_faces(frames, CFG)
    assert [f.shape for f in faces] == [(SIZE, SIZE), (SIZE, SIZE)]
    with pytest.raises(ValueError, match="b.png: frame size 40x40 differs"):
        align_faces([frames[0], np.zeros((40, 40), np.uint8)], CFG, ["a.png", "b.png"])
