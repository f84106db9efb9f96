"""Shared fixtures: the real composite data (skipped when ../shared is absent) and tiny fake datasets."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from causalnet.engine import LocalBackend
from causalnet.flow.direction import direction_map
from causalnet.flow.optical_flow import CHANNEL_U, CHANNEL_V

# --- a recording with known intervals, for the spotting tests ---------------------------------------------


class KnownRecording:
    """A textured "face" (``SIZE`` px at ``FPS``) with three local movements of 0.2–0.3 s (micro), one
    held for 1.5 s (macro), a blink-like darkening around the eye boxes and a head move that stays."""

    FPS = 100.0
    SIZE = 96
    N = 880
    EYE_ROW, EYE_DISTANCE = 0.35, 0.36
    #: (onset, apex, offset, centre (x, y), displacement (px)) of the micro-expressions
    MICRO = [(80, 92, 104, (30, 70), (0.0, 1.6)), (200, 215, 228, (66, 72), (1.2, -1.0)),
             (330, 342, 360, (48, 20), (0.0, -1.8))]
    MACRO = (440, 470, 560, 590, (48, 78), (0.0, 2.5))  # onset, held from 470 to 560, offset 590
    BLINK = (650, 665)
    HEAD = (740, 760, (4.0, 2.0))  # the whole face moves by (4, 2) px and stays there

    @staticmethod
    def profile(t: np.ndarray, onset: int, rise_end: int, fall_start: int, offset: int) -> np.ndarray:
        p = np.zeros(t.shape)
        up = (t >= onset) & (t <= rise_end)
        p[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - onset) / (rise_end - onset))
        p[(t > rise_end) & (t <= fall_start)] = 1.0
        down = (t > fall_start) & (t <= offset)
        p[down] = 0.5 + 0.5 * np.cos(np.pi * (t[down] - fall_start) / (offset - fall_start))
        return p

    def frames(self, noise: float = 1.0, seed: int = 3) -> np.ndarray:
        """``[N, SIZE, SIZE]`` uint8."""
        from causalnet.flow.synthetic import displace, local_displacement, textured_image

        rng = np.random.default_rng(seed)
        size = self.SIZE
        base = textured_image(size, size, seed=seed).astype(np.float32)
        t = np.arange(self.N)
        events = [(self.profile(t, on, ap, ap, off), c, d) for on, ap, off, c, d in self.MICRO]
        events.append((self.profile(t, *self.MACRO[:4]), self.MACRO[4], self.MACRO[5]))
        mid = (self.BLINK[0] + self.BLINK[1]) // 2
        blink = self.profile(t, self.BLINK[0], mid, mid, self.BLINK[1])
        head = np.clip((t - self.HEAD[0]) / (self.HEAD[1] - self.HEAD[0]), 0, 1)
        eyes = np.zeros((size, size), np.float32)
        for cx in (0.5 - self.EYE_DISTANCE / 2, 0.5 + self.EYE_DISTANCE / 2):
            # a little larger than the spotter's eye boxes: the rim changes outside them, as lids do
            eyes[int((self.EYE_ROW - 0.07) * size): int((self.EYE_ROW + 0.07) * size),
                 int((cx - 0.1) * size): int((cx + 0.1) * size)] = 1.0
        out = []
        for i in range(self.N):
            img = base
            for p, centre, (dx, dy) in events:
                if p[i] > 0:
                    img = local_displacement(img, centre, 6.0, dx * p[i], dy * p[i])
            img = img * (1 - 0.6 * blink[i] * eyes)
            if head[i] > 0:
                img = displace(img, self.HEAD[2][0] * head[i], self.HEAD[2][1] * head[i])
            img = img + rng.normal(0, noise, img.shape)
            out.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        return np.stack(out)


@pytest.fixture(scope="session")
def known_recording() -> tuple[KnownRecording, np.ndarray]:
    """(the recording's description, its frames ``[N, SIZE, SIZE]`` uint8)."""
    rec = KnownRecording()
    return rec, rec.frames()


SHARED_COMPOSITE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "composite"

torch.set_num_threads(1)  # tests are small; keep the 2 cores for parallel work

#: the library's LocalBackend set-up: a backend running folds in this process gives them every core
LOCAL_BACKEND_POST_INIT = LocalBackend.__post_init__


def _one_thread_in_process(self: LocalBackend) -> None:
    if self.workers == 1 and not self.threads:
        self.threads = 1
    LOCAL_BACKEND_POST_INIT(self)


@pytest.fixture(autouse=True, scope="session")
def one_thread_folds() -> Iterator[None]:
    """Folds run in this process (`LosoRun.run`, `causalnet train --workers 1`) get one torch thread, in module
    and session fixtures too: their backend would give each fold every core and leave that setting to the tests
    after it. The tests' folds are tiny: a second thread gains nothing, and on shared cores two threads of tiny
    tensors wait on each other (a fold 5-50x slower). Process pools keep their own count (cores / workers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalBackend, "__post_init__", _one_thread_in_process)
        yield


@pytest.fixture(autouse=True)
def one_torch_thread() -> None:
    """Every test starts with one torch thread, whatever ran before it."""
    torch.set_num_threads(1)


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
