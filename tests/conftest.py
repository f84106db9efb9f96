"""Shared fixtures: the real composite data (skipped when ../shared is absent) and tiny fake datasets."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from causalnet.flow.direction import direction_map
from causalnet.flow.optical_flow import CHANNEL_U, CHANNEL_V

SHARED_COMPOSITE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "composite"

torch.set_num_threads(1)  # tests are small; keep the 2 cores for parallel work


@pytest.fixture(scope="session")
def composite_root() -> Path:
    """The published composite benchmark, or a skip naming where it was looked for."""
    if not (SHARED_COMPOSITE / "combined_3_class2_for_optical_flow.csv").is_file():
        pytest.skip(f"shared composite data not found at {SHARED_COMPOSITE} (needs ../shared beside the repo)")
    return SHARED_COMPOSITE


def write_fake_composite(root: Path, subjects: dict[str, str], clips_per_subject: int = 3,
                         seed: int = 0) -> Path:
    """Write a small dataset in the published layout; class-dependent images so it is learnable.

    ``subjects`` maps subject id -> source dataset name.
    """
    rng = np.random.default_rng(seed)
    img_dir = root / "STSNet_whole_norm_u_v_os"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for sub, dataset in subjects.items():
        for k in range(clips_per_subject):
            label = k % 3
            clip = f"clip{k:02d}"
            for suffix in ("", "_1"):
                img = rng.integers(0, 60, size=(28, 28, 3), dtype=np.uint8)
                img[:, :, label] += 150  # the class shows in one channel
                cv2.imwrite(str(img_dir / f"{sub}_{clip}{suffix} .png"), img)
                # its direction map follows from the flow channels, as in the published data
                u, v = img[..., CHANNEL_U] / 255.0, img[..., CHANNEL_V] / 255.0
                cv2.imwrite(str(img_dir / f"{sub}_{clip}_{2 if suffix == '' else 3} .png"), direction_map(u, v))
            rows.append({"dataset": dataset, "sub": sub, "filename_o": clip, "label": label, "apex": ""})
    with open(root / "combined_3_class2_for_optical_flow.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["dataset", "sub", "filename_o", "label", "apex"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture
def fake_composite(tmp_path: Path) -> Path:
    """Six subjects (two per source dataset, leading zeros kept), three clips each."""
    return write_fake_composite(tmp_path / "data", {"sub01": "casme2", "sub02": "casme2", "s01": "smic",
                                                    "s02": "smic", "006": "samm", "007": "samm"})
