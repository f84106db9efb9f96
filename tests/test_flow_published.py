"""Our images against the published composite data (SPEC §2): channel order, value ranges, direction maps."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.flow import CHANNEL_U, CHANNEL_V, PreprocessConfig, clip_images, direction_map, hue_of
from causalnet.flow.synthetic import cartoon_face, local_displacement

COMPOSITE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "composite"
SUFFIXES = ("", "_1", "_2", "_3")


@pytest.fixture(scope="module")
def published() -> np.ndarray:
    """Every published clip's four images, ``[N, 4, 28, 28, 3]`` uint8 as OpenCV reads them (BGR)."""
    index = COMPOSITE / "combined_3_class2_for_optical_flow.csv"
    if not index.is_file():
        pytest.skip(f"published composite data not found at {COMPOSITE} (shared data folder absent)")
    with open(index, newline="") as fh:
        rows = list(csv.DictReader(fh))
    folder = COMPOSITE / "STSNet_whole_norm_u_v_os"
    return np.stack(
        [
            np.stack([cv2.imread(str(folder / f"{r['sub']}_{r['filename_o']}{s} .png")) for s in SUFFIXES])
            for r in rows
        ]
    )


def _me_like_clip(seed: int) -> list[np.ndarray]:
    """Onset/apex/offset of a drawn face whose brows rise and mouth corners move (random strengths)."""
    base = cartoon_face(240, 320, scale=0.5, seed=seed)
    rng = np.random.default_rng(seed)
    apex = base
    for cx, cy, dx, dy in [
        (140, 98, 0.6, -1.2),
        (180, 98, -0.6, -1.2),
        (142, 155, -0.5, 0.6),
        (178, 155, 0.5, 0.6),
    ]:
        k = rng.uniform(0.5, 1.5, size=2)
        apex = local_displacement(apex, (cx, cy), 4.0, dx * k[0], dy * k[1], radius=6.0)
    noise = np.random.default_rng(seed + 100)
    return [np.clip(f + noise.normal(0, 1.5, f.shape), 0, 255).astype(np.uint8) for f in (base, apex, base)]


def test_published_direction_maps_are_algorithm1_of_the_published_flow_channels(published):
    """Channel order check: hue = angle of (channel 2, channel 1) = (u, v) reproduces the published maps."""
    for k_flow, k_dir in ((0, 2), (1, 3)):
        flows, maps = published[:, k_flow].astype(np.float32), published[:, k_dir]
        ours = np.stack([direction_map(f[..., CHANNEL_U], f[..., CHANNEL_V]) for f in flows])
        swapped = np.stack([direction_map(f[..., CHANNEL_V], f[..., CHANNEL_U]) for f in flows[:50]])
        mae = np.abs(ours.astype(int) - maps.astype(int)).mean()
        assert mae < 3.0, mae
        assert np.abs(swapped.astype(int) - maps[:50].astype(int)).mean() > 10 * mae


def test_published_direction_maps_have_the_structure_we_produce(published):
    maps = published[:, 2:]
    assert (maps[..., 0] <= 10).all()  # blue ~0: non-negative (normalised) components
    assert hue_of(maps.reshape(-1, 28, 3)).max() <= 45  # angles within [0, π/2]


def test_our_channel_statistics_match_the_published_ranges(published):
    """Per-image channel means of our images fall within the published 1st–99th percentiles."""
    cfg = PreprocessConfig(face_method="dlib", face_size=128)
    pytest.importorskip("dlib", reason="dlib is not installed")
    ours = np.stack([clip_images(_me_like_clip(seed), cfg) for seed in range(2)])  # [2, 4, 28, 28, 3]
    pub_means = published.reshape(len(published), 4, -1, 3).mean(axis=2)  # [N, 4, 3]
    lo, hi = np.percentile(pub_means, 1, axis=0), np.percentile(pub_means, 99, axis=0)
    our_means = ours.reshape(len(ours), 4, -1, 3).mean(axis=2)
    for clip in our_means:
        assert ((clip >= lo - 1) & (clip <= hi + 1)).all(), (clip.round(1), lo.round(1), hi.round(1))
    # strain is the darkest channel of the flow images, as published (mean ≈ 8 there)
    assert (our_means[:, :2, 0] < our_means[:, :2, 1:].min(axis=-1)).all()
    assert (ours[:, 2:, ..., 0] == 0).all() and hue_of(ours[:, 2:].reshape(-1, 28, 3)).max() <= 45
