"""Tests of the key-frame value type and the key-frame error model."""

from __future__ import annotations

import numpy as np
import pytest

from causalnet.keyframes import ORDER_POLICIES, KeyframeNoise, Keyframes, clip_rng

N_DRAWS = 8000
LONG_CLIP = 20000  # frames: far from both ends, so that no draw is clipped
MIDDLE = Keyframes(5000, 10000, 15000)


def _errors(noise: KeyframeNoise, fps: float, seed: int = 0) -> np.ndarray:
    """(N_DRAWS, 3) errors of perturbing MIDDLE in a long clip."""
    rng = np.random.default_rng(seed)
    base = np.asarray(MIDDLE.as_tuple())
    drawn = [noise.perturb(MIDDLE, LONG_CLIP, fps, rng).as_tuple() for _ in range(N_DRAWS)]
    return np.asarray(drawn) - base


# --- Keyframes -----------------------------------------------------------------------------------


def test_keyframes_accepts_numpy_ints_and_stores_python_ints():
    kf = Keyframes(np.int64(3), np.int32(7), 9)
    assert kf.as_tuple() == (3, 7, 9)
    assert all(type(v) is int for v in kf.as_tuple())
    assert kf.is_ordered


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_keyframes_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="onset"):
        Keyframes(bad, 2, 3)


def test_keyframes_rejects_negative_index():
    with pytest.raises(ValueError, match="apex must be >= 0"):
        Keyframes(0, -1, 3)


def test_keyframes_validate_range_and_order():
    Keyframes(0, 5, 9).validate(10)
    with pytest.raises(ValueError, match=r"offset=10 lies outside the clip's frames \[0, 9\]"):
        Keyframes(0, 5, 10).validate(10)
    with pytest.raises(ValueError, match="not ordered"):
        Keyframes(6, 5, 9).validate(10)
    assert Keyframes(6, 5, 9).validate(10, require_order=False) == Keyframes(6, 5, 9)
    with pytest.raises(ValueError, match="n_frames must be >= 1"):
        Keyframes(0, 0, 0).validate(0)


def test_keyframes_helpers():
    assert Keyframes.from_sequence([1, 2, 3]) == Keyframes(1, 2, 3)
    with pytest.raises(ValueError, match="onset, apex, offset"):
        Keyframes.from_sequence([1, 2])
    assert Keyframes.with_middle_apex(10, 31) == Keyframes(10, 20, 31)
    assert Keyframes(3, 40, 60).clip(30) == Keyframes(3, 29, 29)


# --- configuration ---------------------------------------------------------------------------------


def test_noise_config_validation():
    with pytest.raises(ValueError, match="KeyframeNoise.order: must be one of"):
        KeyframeNoise(order="shuffle")
    with pytest.raises(ValueError, match="sigma"):
        KeyframeNoise(sigma=-1.0)
    with pytest.raises(ValueError, match="reference_fps"):
        KeyframeNoise(reference_fps=0.0)
    with pytest.raises(ValueError, match="fps must be > 0"):
        KeyframeNoise().effective_sigma(0.0)
    assert set(ORDER_POLICIES) == {"sort", "keep", "resample"}


def test_noise_presets_and_round_trip():
    assert KeyframeNoise.preset("sigma20").sigma == 20.0
    assert KeyframeNoise.preset("none").sigma == 0.0
    noise = KeyframeNoise(sigma=30.0, order="keep")
    assert KeyframeNoise.from_dict(noise.to_dict()) == noise
    assert noise.with_overrides({"sigma": "10"}).sigma == 10.0


def test_perturb_rejects_keyframes_outside_the_clip():
    with pytest.raises(ValueError, match="outside the clip"):
        KeyframeNoise().perturb(Keyframes(0, 5, 12), 10, 200.0, 0)


# --- σ and its frame-rate scaling -----------------------------------------------------------------


def test_effective_sigma_scales_with_frame_rate():
    noise = KeyframeNoise(sigma=20.0)
    assert noise.effective_sigma(200.0) == 20.0
    assert noise.effective_sigma(100.0) == 10.0  # SMIC-HS
    assert KeyframeNoise(sigma=20.0, scale_with_fps=False).effective_sigma(100.0) == 20.0


@pytest.mark.parametrize("fps, expected_sigma", [(200.0, 10.0), (100.0, 5.0)])
def test_empirical_error_std_matches_scaled_sigma(fps, expected_sigma):
    errors = _errors(KeyframeNoise(sigma=10.0), fps)
    assert np.issubdtype(errors.dtype, np.integer)  # rounded
    # Rounding adds a uniform(-1/2, 1/2) error: variance σ² + 1/12.
    expected = np.sqrt(expected_sigma**2 + 1.0 / 12.0)
    std = errors.std(axis=0)
    assert np.all(np.abs(std / expected - 1.0) < 0.05), std
    assert np.all(np.abs(errors.mean(axis=0)) < 4 * expected / np.sqrt(N_DRAWS))
    # The three errors are independent.
    corr = np.corrcoef(errors.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.05)


def test_smic_errors_are_half_of_casme_errors_for_the_same_stream():
    """Common random numbers: the same generator state gives errors scaled by fps/200."""
    noise = KeyframeNoise(sigma=30.0)
    fast = noise.perturb_clip(MIDDLE, LONG_CLIP, 200.0, seed=1, clip_id="clip")
    slow = noise.perturb_clip(MIDDLE, LONG_CLIP, 100.0, seed=1, clip_id="clip")
    base = np.asarray(MIDDLE.as_tuple())
    fast_err = np.asarray(fast.as_tuple()) - base
    slow_err = np.asarray(slow.as_tuple()) - base
    assert np.all(np.abs(slow_err - fast_err / 2.0) <= 1.0)


def test_sigma_zero_is_identity_for_ordered_keyframes():
    kf = Keyframes(3, 10, 20)
    assert KeyframeNoise(sigma=0.0).perturb(kf, 30, 200.0, 123) == kf


# --- clipping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDER_POLICIES)
def test_results_are_clipped_to_the_clip(order):
    noise = KeyframeNoise(sigma=30.0, order=order)
    rng = np.random.default_rng(5)
    n_frames = 40
    drawn = np.asarray(
        [noise.perturb(Keyframes(1, 20, 38), n_frames, 200.0, rng).as_tuple() for _ in range(2000)]
    )
    assert drawn.min() == 0 and drawn.max() == n_frames - 1  # the bounds are reached ...
    assert np.all((drawn >= 0) & (drawn <= n_frames - 1))  # ... and never crossed


def test_single_frame_clip():
    for order in ORDER_POLICIES:
        assert KeyframeNoise(sigma=30.0, order=order).perturb(Keyframes(0, 0, 0), 1, 200.0, 0) == Keyframes(
            0, 0, 0
        )


# --- seeding ----------------------------------------------------------------------------------------


def test_generator_and_integer_seed_are_deterministic():
    noise = KeyframeNoise(sigma=20.0)
    kf = Keyframes(10, 50, 90)
    assert noise.perturb(kf, 120, 200.0, 7) == noise.perturb(kf, 120, 200.0, 7)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    a = [noise.perturb(kf, 120, 200.0, rng_a) for _ in range(5)]
    b = [noise.perturb(kf, 120, 200.0, rng_b) for _ in range(5)]
    assert a == b
    assert len(set(a)) > 1  # the generator's state advances between clips


def test_per_clip_draws_do_not_depend_on_processing_order():
    noise = KeyframeNoise(sigma=20.0)
    clips = {f"sub{i:02d}/clip{j}": Keyframes(20, 60 + j, 110) for i in range(6) for j in range(5)}
    forward = {cid: noise.perturb_clip(kf, 150, 200.0, 2025, cid) for cid, kf in clips.items()}
    backward = {cid: noise.perturb_clip(kf, 150, 200.0, 2025, cid) for cid, kf in reversed(clips.items())}
    assert forward == backward
    # Different clips and different seeds get different errors.
    assert len({v.as_tuple() for v in forward.values()}) > len(clips) // 2
    other_seed = {cid: noise.perturb_clip(kf, 150, 200.0, 2026, cid) for cid, kf in clips.items()}
    assert other_seed != forward


def test_clip_rng_is_stable_and_accepts_tuples():
    a = clip_rng(0, ("casme2", "sub01", "EP02_01f")).integers(0, 2**62, 4)
    b = clip_rng(0, ("casme2", "sub01", "EP02_01f")).integers(0, 2**62, 4)
    c = clip_rng(0, ("casme2", "sub01", "EP02_01g")).integers(0, 2**62, 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert clip_rng(0, "x").integers(0, 1000) == clip_rng(0, ["x"]).integers(0, 1000)
    # Stable across processes (no use of Python's salted hash): pinned values.
    pinned = clip_rng(2025, ("casme2", "sub01", "EP02_01f")).integers(0, 1000, 3)
    assert pinned.tolist() == [681, 661, 442]
    with pytest.raises(ValueError, match="seed"):
        clip_rng(-1, "x")


# --- inverted orders ----------------------------------------------------------------------------------


def _many(order: str, kf: Keyframes, n_frames: int, draws: int = 3000) -> np.ndarray:
    noise = KeyframeNoise(sigma=20.0, order=order)
    rng = np.random.default_rng(11)
    return np.asarray([noise.perturb(kf, n_frames, 200.0, rng).as_tuple() for _ in range(draws)])


CLOSE = Keyframes(30, 35, 42)  # σ = 20 inverts these often


def test_keep_policy_lets_orders_invert():
    drawn = _many("keep", CLOSE, 80)
    inverted = ~((drawn[:, 0] <= drawn[:, 1]) & (drawn[:, 1] <= drawn[:, 2]))
    assert inverted.mean() > 0.3


@pytest.mark.parametrize("order", ["sort", "resample"])
def test_ordering_policies_give_onset_le_apex_le_offset_and_onset_lt_offset(order):
    drawn = _many(order, CLOSE, 80)
    assert np.all(drawn[:, 0] <= drawn[:, 1]) and np.all(drawn[:, 1] <= drawn[:, 2])
    assert np.all(drawn[:, 0] < drawn[:, 2])


def test_sort_keeps_the_multiset_of_independent_draws():
    kf = CLOSE
    keep = KeyframeNoise(sigma=20.0, order="keep").perturb_clip(kf, 80, 200.0, 4, "c")
    sort = KeyframeNoise(sigma=20.0, order="sort").perturb_clip(kf, 80, 200.0, 4, "c")
    if len(set(keep.as_tuple())) == 3:
        assert sort.as_tuple() == tuple(sorted(keep.as_tuple()))


@pytest.mark.parametrize("order", ["sort", "resample"])
def test_coinciding_indexes_are_separated_at_the_clip_ends(order):
    """Every draw clipped to the last frame: onset must still precede offset."""
    noise = KeyframeNoise(sigma=0.0, order=order, max_resample=3)
    assert noise.perturb(Keyframes(9, 9, 9), 10, 200.0, 0) == Keyframes(8, 9, 9)
    assert noise.perturb(Keyframes(0, 0, 0), 10, 200.0, 0) == Keyframes(0, 0, 1)
    assert noise.perturb(Keyframes(0, 0, 0), 2, 200.0, 0) == Keyframes(0, 0, 1)


def test_sort_policy_reorders_inverted_annotations():
    assert KeyframeNoise(sigma=0.0).perturb(Keyframes(5, 3, 8), 10, 200.0, 0) == Keyframes(3, 5, 8)
    assert KeyframeNoise(sigma=0.0, order="keep").perturb(Keyframes(5, 3, 8), 10, 200.0, 0) == Keyframes(
        5, 3, 8
    )
