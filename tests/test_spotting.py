"""The streaming spotter on a recording with known intervals and distractors; rings; streaming invariance."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from causalnet.flow.face import translation
from causalnet.flow.synthetic import displace, textured_image
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.metrics import iou
from causalnet.spotting.signal import FrameRing
from causalnet.spotting.spotter import Spotter


@pytest.fixture(scope="module")
def frames(known_recording) -> np.ndarray:
    return known_recording[1]


@pytest.fixture(scope="module")
def rec(known_recording):
    return known_recording[0]


def spot(frames: np.ndarray, cfg: SpotConfig, chunk: int = 32):
    spotter = Spotter(cfg, 100.0, frames.shape[1], 0.35, 0.36, chunk)
    spots = []
    for s in range(0, len(frames), chunk):
        spots += spotter.push(frames[s : s + chunk])
    spots += spotter.finish()
    return spots, spotter


def test_spotter_finds_the_known_micro_expressions_and_drops_the_distractors(frames, rec):
    spots, spotter = spot(frames, SpotConfig(eye_half_height=0.05, eye_half_width=0.09))
    micro = [s for s in spots if s.type == "micro"]
    assert len(micro) == len(rec.MICRO), [(s.onset, s.apex, s.offset, s.type) for s in spots]
    for s, (onset, apex, offset, _, _) in zip(micro, rec.MICRO, strict=True):
        assert iou((s.onset, s.offset), (onset, offset)) >= 0.5, (s, onset, offset)
        assert abs(s.apex - apex) <= 5
    blink, head, macro = rec.BLINK, rec.HEAD, rec.MACRO
    kinds = {c.kind for c in spotter.candidates if blink[0] - 5 <= c.peak <= blink[1] + 5}
    assert kinds == {"blink"}
    kinds = {c.kind for c in spotter.candidates if head[0] - 5 <= c.peak <= head[1] + 5}
    assert kinds == {"head motion"}
    spotted = [s for s in spots if s.type == "macro"]
    assert spotted and all(macro[0] - 30 <= s.onset and s.offset <= macro[3] + 30 for s in spotted)
    signals = spotter.signals
    assert signals.C.size == signals.F.size == signals.n == rec.N


def test_without_the_eye_and_head_rules_the_distractors_count_as_expressions(frames, rec):
    cfg = SpotConfig(eye_half_height=0.05, eye_half_width=0.09, blink_level=10.0, head_motion=10.0)
    spots, _ = spot(frames, cfg)
    near = lambda lo, hi: [s for s in spots if lo - 10 <= s.apex <= hi + 10]  # noqa: E731
    assert near(*rec.BLINK)  # the blink is spotted once nothing drops it: the rule above is what removes it
    assert near(rec.HEAD[0], rec.HEAD[1])


def test_spots_do_not_depend_on_the_chunk_size(frames):
    cfg = SpotConfig(eye_half_height=0.05, eye_half_width=0.09)
    a, sa = spot(frames, cfg, chunk=16)
    b, sb = spot(frames, cfg, chunk=50)
    assert [(s.onset, s.apex, s.offset, s.type) for s in a] == [(s.onset, s.apex, s.offset, s.type) for s in b]
    np.testing.assert_allclose(sa.signals.C.values, sb.signals.C.values, atol=1e-9)


def test_window_lengths_follow_the_frame_rate():
    cfg = SpotConfig(window_s=0.1)
    assert cfg.k(200.0) == 20 and cfg.k(30.0) == 3
    slow = Spotter(cfg, 30.0, 64, 0.3, 0.36)
    fast = Spotter(cfg, 200.0, 64, 0.3, 0.36)
    assert fast.micro_max == 100 and slow.micro_max == 15
    assert fast.signals.capacity > slow.signals.capacity


def test_memory_is_a_fixed_ring(frames):
    spotter = Spotter(SpotConfig(), 100.0, frames.shape[1], 0.35, 0.36, 32)
    capacity = spotter.signals.capacity
    for s in range(0, len(frames), 32):
        spotter.push(frames[s : s + 32])
    assert spotter.signals.rep.data.shape[0] == capacity < len(frames)
    with pytest.raises(IndexError):
        spotter.signals.rep.get(0)


def test_frame_ring_addresses_by_absolute_index():
    ring = FrameRing(4, (2,), np.int64)
    ring.push(np.arange(12).reshape(6, 2))
    assert (ring.first, ring.end) == (2, 6)
    np.testing.assert_array_equal(ring.get([2, 5]), [[4, 5], [10, 11]])
    with pytest.raises(IndexError):
        ring.get(1)
    ring.push(np.arange(20).reshape(10, 2))  # more than the capacity at once
    assert (ring.first, ring.end) == (12, 16)
    np.testing.assert_array_equal(ring.get(15), [18, 19])


def test_translation_is_sub_pixel_accurate():
    img = cv2.GaussianBlur(textured_image(64, 64, seed=5).astype(np.float32), (0, 0), 1.0)
    for dx, dy in [(0.3, -0.2), (1.7, 0.45), (-3.2, 2.5)]:
        mx, my, response = translation(img, displace(img, dx, dy))
        assert mx == pytest.approx(dx, abs=0.05) and my == pytest.approx(dy, abs=0.05)
        assert response > 0.3


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="feature"):
        SpotConfig(feature="sift")
    with pytest.raises(ValueError, match="window_s"):
        SpotConfig(window_s=0)
    with pytest.raises(ValueError, match="top_blocks"):
        dataclasses.replace(SpotConfig(), top_blocks=99)
    with pytest.raises(ValueError, match="frame rate"):
        Spotter(SpotConfig(), 0.0, 64, 0.3, 0.36)
