"""Tests of the uniform-LBP features and the LBP-difference / divide-and-conquer apex spotter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from causalnet.keyframes import (
    REFERENCES,
    Keyframes,
    SpotterConfig,
    block_histograms,
    chi_squared,
    divide_and_conquer,
    feature_difference_curve,
    keyframes_around_apex,
    spot_apex,
    spot_keyframes,
    uniform_lbp,
)
from causalnet.keyframes.lbp import N_UNIFORM_BINS, lbp_codes, neighbour_offsets, uniform_lookup

# --- a synthetic micro-expression ------------------------------------------------------------------

SIZE = 96
MAX_SHIFT_PX = 1.5  # apex displacement (pixels) at the centre of the moving patch
NOISE_STD = 2.0  # grey levels of per-frame sensor noise


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A smooth random texture in grey levels 40..200, (SIZE, SIZE) float32."""
    base = cv2.GaussianBlur(rng.normal(0.0, 1.0, (SIZE, SIZE)).astype(np.float32), (0, 0), 1.5)
    return (base - base.min()) / (base.max() - base.min()) * 160.0 + 40.0


def _intensity(t: int, onset: int, apex: int, offset: int) -> float:
    """0 outside [onset, offset], rising smoothly to 1 at the apex, then falling back."""
    if onset <= t <= apex:
        return float(np.sin(0.5 * np.pi * (t - onset) / (apex - onset)) ** 2)
    if apex < t <= offset:
        return float(np.cos(0.5 * np.pi * (t - apex) / (offset - apex)) ** 2)
    return 0.0


def synthetic_clip(
    seed: int, n_frames: int, events: list[tuple[int, int, int]], centre=(0.7, 0.5)
) -> list[np.ndarray]:
    """uint8 frames of a textured image in which a local patch moves during each (onset, apex, offset)."""
    rng = np.random.default_rng(seed)
    base = _texture(rng)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy, cx = SIZE * centre[0], SIZE * centre[1]
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * (0.1 * SIZE) ** 2)).astype(np.float32)
    frames = []
    for t in range(n_frames):
        a = sum(_intensity(t, *event) for event in events)
        map_x = xx + np.float32(0.6 * MAX_SHIFT_PX * a) * bump
        map_y = yy + np.float32(MAX_SHIFT_PX * a) * bump
        frame = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = frame + rng.normal(0.0, NOISE_STD, frame.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames


# --- uniform LBP ------------------------------------------------------------------------------------


def _naive_lbp(image: np.ndarray) -> np.ndarray:
    """Per-pixel loop over the 3x3 neighbourhood (the definition, for comparison)."""
    h, w = image.shape
    out = np.zeros((h - 2, w - 2), dtype=np.int64)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            code = 0
            for bit, (dr, dc) in enumerate(neighbour_offsets(1)):
                if image[r + dr, c + dc] >= image[r, c]:
                    code |= 1 << bit
            out[r - 1, c - 1] = code
    return out


def test_neighbours_of_radius_one_are_the_3x3_ring_in_circular_order():
    offsets = neighbour_offsets(1)
    assert offsets == [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]


def test_lbp_codes_match_the_definition():
    image = np.random.default_rng(0).integers(0, 256, (9, 11), dtype=np.uint8)
    codes = lbp_codes(image)
    assert codes.shape == (1, 7, 9) and codes.dtype == np.uint8
    assert np.array_equal(codes[0], _naive_lbp(image))


def test_uniform_mapping():
    table = uniform_lookup()
    assert table.shape == (256,) and N_UNIFORM_BINS == 59
    assert table.max() == 58
    uniform_codes = np.flatnonzero(table < 58)
    assert uniform_codes.size == 58 and len(set(table[uniform_codes])) == 58
    # 0b00111000 is uniform (2 transitions), 0b01010000 is not (4 transitions).
    assert table[0b00111000] < 58 and table[0b01010000] == 58
    # A constant image: every neighbour >= centre -> code 255, a uniform pattern.
    flat = uniform_lbp(np.full((5, 5), 80, dtype=np.uint8))
    assert np.all(flat == table[255])


def test_block_histograms_are_normalised_and_chunking_is_invisible():
    frames = np.random.default_rng(1).integers(0, 256, (5, 40, 33), dtype=np.uint8)
    hists = block_histograms(frames, grid=(4, 3), chunk_frames=2)
    assert hists.shape == (5, 12, 59)
    np.testing.assert_allclose(hists.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(hists, block_histograms(frames, grid=(4, 3), chunk_frames=64))
    with pytest.raises(ValueError, match="block grid does not fit"):
        block_histograms(frames, grid=(50, 3))


def test_chi_squared():
    rng = np.random.default_rng(2)
    a = rng.dirichlet(np.ones(59), size=4)
    b = rng.dirichlet(np.ones(59), size=4)
    np.testing.assert_allclose(chi_squared(a, a), 0.0)
    np.testing.assert_allclose(chi_squared(a, b), chi_squared(b, a))
    assert np.all(chi_squared(a, b) > 0)
    assert chi_squared(np.zeros(3), np.zeros(3)) == 0.0  # empty bins count 0, no NaN
    assert chi_squared(a[None], a[0]).shape == (1, 4)  # broadcasting (T, B, K) against (B, K)


# --- divide and conquer -----------------------------------------------------------------------------


@pytest.mark.parametrize("peaks_only", [False, True])
def test_divide_and_conquer_finds_the_peak_of_a_hump(peaks_only):
    t = np.arange(41)
    for apex in (3, 12, 20, 33, 40):
        hump = np.exp(-0.5 * ((t - apex) / 4.0) ** 2)
        assert divide_and_conquer(hump, 2, peaks_only) == apex
        assert divide_and_conquer(hump, 3, peaks_only) == apex


def test_divide_and_conquer_edge_cases():
    assert divide_and_conquer(np.array([0.5])) == 0
    assert divide_and_conquer(np.zeros(7)) == 0  # flat: the earliest frame
    assert divide_and_conquer(np.zeros(7), peaks_only=True) == 0
    with pytest.raises(ValueError, match="non-empty 1-D"):
        divide_and_conquer(np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        divide_and_conquer(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="n_intervals"):
        divide_and_conquer(np.ones(3), n_intervals=1)


def test_divide_and_conquer_prefers_mass_over_an_isolated_spike():
    """The interval search is a property of the method: a lone one-frame spike loses to a broad hump."""
    scores = np.zeros(64)
    scores[40:56] = np.hanning(16)  # broad motion, peak near 47
    scores[5] = 1.5  # a single-frame glitch
    assert 40 <= divide_and_conquer(scores) < 56


# --- the spotter ------------------------------------------------------------------------------------

ONSET, APEX, OFFSET, N_FRAMES = 10, 30, 50, 60
TOLERANCE = 8  # frames: the worst single clip; the mean error is checked separately


@pytest.fixture(scope="module")
def clips() -> list[list[np.ndarray]]:
    return [synthetic_clip(seed, N_FRAMES, [(ONSET, APEX, OFFSET)]) for seed in range(4)]


@pytest.mark.parametrize("reference", REFERENCES)
def test_feature_difference_curve_rises_to_the_apex(clips, reference):
    curve = feature_difference_curve(clips[0], ONSET, OFFSET, SpotterConfig(reference=reference))
    assert curve.shape == (OFFSET - ONSET + 1,)
    if reference == "onset":
        assert curve[0] == pytest.approx(0.0)  # the reference frame itself
    apex_level = curve[APEX - ONSET - 2 : APEX - ONSET + 3].mean()
    assert apex_level > curve[1:4].mean() and apex_level > curve[-3:].mean()


def test_spotter_finds_the_apex_within_a_few_frames(clips):
    # The interval search settles anywhere on the curve's crest: a few frames (at 200 fps, 30 ms).
    errors = np.array([spot_apex(frames, ONSET, OFFSET) - APEX for frames in clips])
    assert np.all(np.abs(errors) <= TOLERANCE), errors
    assert np.abs(errors).mean() <= 4.0, errors
    whole = np.array([spot_apex(frames) - APEX for frames in clips])  # search the whole clip
    assert np.all(np.abs(whole) <= TOLERANCE), whole


def _with_drift(frames: list[np.ndarray], total_px: float) -> list[np.ndarray]:
    """Add a slow, steady head translation of ``total_px`` over the clip (diagonal)."""
    out = []
    for t, frame in enumerate(frames):
        shift = total_px * t / (len(frames) - 1)
        matrix = np.float32([[1, 0, shift], [0, 1, 0.5 * shift]])
        size = (frame.shape[1], frame.shape[0])
        out.append(cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def test_two_sided_reference_resists_head_drift(clips):
    """A 1-pixel drift pulls the onset-referenced apex late; the two-sided reference stays close."""
    drifting = [_with_drift(frames, 1.0) for frames in clips[:3]]
    onset_ref = np.array([spot_apex(f, ONSET, OFFSET, SpotterConfig(reference="onset")) for f in drifting])
    both_ref = np.array([spot_apex(f, ONSET, OFFSET, SpotterConfig(reference="both")) for f in drifting])
    assert np.mean(onset_ref - APEX) > 10, onset_ref
    assert np.all(np.abs(both_ref - APEX) <= TOLERANCE), both_ref


def test_spotter_respects_the_search_range():
    frames = synthetic_clip(0, 80, [(5, 18, 32), (45, 60, 75)])
    assert abs(spot_apex(frames, 0, 38) - 18) <= TOLERANCE
    assert abs(spot_apex(frames, 40, 79) - 60) <= TOLERANCE
    for start, end in [(22, 40), (0, 12), (63, 79), (30, 30)]:
        assert start <= spot_apex(frames, start, end) <= end


def test_spotter_accepts_an_array_and_other_presets(clips):
    frames = np.stack(clips[0])
    assert spot_apex(frames, ONSET, OFFSET) == spot_apex(clips[0], ONSET, OFFSET)
    for name in SpotterConfig.preset_names():
        apex = spot_apex(frames, ONSET, OFFSET, SpotterConfig.preset(name))
        assert ONSET <= apex <= OFFSET
    for variant in (SpotterConfig(smooth_window=5), SpotterConfig(n_intervals=3, n_reference_frames=2)):
        assert abs(spot_apex(frames, ONSET, OFFSET, variant) - APEX) <= TOLERANCE


def test_spot_keyframes_window_and_clipping(clips):
    kf = spot_keyframes(clips[0], ONSET, OFFSET)
    assert kf.onset == max(0, kf.apex - 25) and kf.offset == min(N_FRAMES - 1, kf.apex + 25)
    assert keyframes_around_apex(40, 100) == Keyframes(15, 40, 65)
    assert keyframes_around_apex(10, 30) == Keyframes(0, 10, 29)
    scaled = SpotterConfig(scale_window_with_fps=True)
    assert keyframes_around_apex(50, 100, scaled, fps=100.0) == Keyframes(37, 50, 63)  # 12.5 -> 13
    with pytest.raises(ValueError, match="frame rate"):
        keyframes_around_apex(50, 100, scaled)
    with pytest.raises(ValueError, match="outside the clip"):
        keyframes_around_apex(100, 100)


def test_spotter_input_validation(clips):
    frames = clips[0]
    with pytest.raises(ValueError, match="search range"):
        spot_apex(frames, 30, 20)
    with pytest.raises(ValueError, match="search range"):
        spot_apex(frames, 0, N_FRAMES)
    with pytest.raises(ValueError, match="grayscale"):
        spot_apex([np.zeros((32, 32, 3), np.uint8)] * 4)
    with pytest.raises(ValueError, match="sizes differ"):
        spot_apex([np.zeros((32, 32), np.uint8), np.zeros((32, 30), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        spot_apex([])
    with pytest.raises(ValueError, match="smooth_window"):
        SpotterConfig(smooth_window=4)
    with pytest.raises(ValueError, match="SpotterConfig.reference: must be one of"):
        SpotterConfig(reference="offset")
    with pytest.raises(ValueError, match="top_block_fraction"):
        SpotterConfig(top_block_fraction=0.0)
    assert SpotterConfig.from_dict(SpotterConfig().to_dict()) == SpotterConfig()
