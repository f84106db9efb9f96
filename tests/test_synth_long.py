"""``causalnet synth --long``: long recordings with exact intervals, deterministic, consistent files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.cli import main
from causalnet.data.annotations import read_annotations, read_videos
from causalnet.synth import SynthConfig, make_subject
from causalnet.synth.long import LongSynthConfig, generate_long_benchmark, sample_recording, slow_drift
from causalnet.synth.motion import intensity_profile, plateau_profile

TINY = LongSynthConfig.preset("tiny")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("long") / "bench"
    assert main(["synth", "--long", "--preset", "tiny", "--out", str(root), "--no-progress"]) == 0
    return root


def test_long_benchmark_is_deterministic_for_a_seed(bench, tmp_path):
    generate_long_benchmark(TINY, tmp_path / "again")
    assert _tree(bench) == _tree(tmp_path / "again")  # frames included, bit for bit
    other = TINY.with_overrides({"seed": TINY.seed + 1})
    assert sample_recording(other, 0, "s01", 0).to_dict() != sample_recording(TINY, 0, "s01", 0).to_dict()


def test_files_agree_with_the_ground_truth(bench):
    truth = json.loads((bench / "ground_truth.json").read_text())
    videos = read_videos(bench / "videos.csv")
    intervals = read_annotations(bench / "annotations.csv")
    assert len(videos) == TINY.n_subjects * TINY.recordings_per_subject == len(truth["recordings"])
    for v, rec in zip(videos, truth["recordings"], strict=True):
        assert (v.subject, v.video, v.fps) == (rec["subject"], rec["video"], TINY.fps)
        assert len(list(v.frames.glob("*.png"))) == v.n_frames == rec["n_frames"]
        mine = [i for i in intervals if i.video == v.video]
        assert [(i.onset, i.apex, i.offset, i.type, i.label) for i in mine] == [
            (e["onset"], e["apex"], e["offset"], e["type"], e["label"])
            for e in sorted(rec["expressions"], key=lambda e: e["onset"])]
        assert sum(i.type == "micro" for i in mine) == TINY.micro_per_recording
        assert sum(i.type == "macro" for i in mine) == TINY.macro_per_recording
        spans = sorted([(e["onset"], e["offset"]) for e in rec["expressions"]]
                       + [(d["start"], d["start"] + d["frames"] - 1) for d in rec["distractors"]])
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))  # events never overlap
        assert spans[0][0] > 0 and spans[-1][1] < v.n_frames - 1
        for e in rec["expressions"]:
            duration = (e["offset"] - e["onset"] + 1) / TINY.fps
            assert duration <= 0.5 if e["type"] == "micro" else duration > 0.5


def test_expressions_move_the_face_and_neutral_stretches_do_not(bench):
    cfg = TINY.with_overrides({"noise_sigma": 0.0, "flicker": 0.0, "drift_px": 0.0, "n_subjects": 1})
    rec = sample_recording(cfg, 0, "s01", 0)
    from causalnet.synth.long import render_recording

    frames = np.stack([f.astype(np.float32) for f in render_recording(make_subject(cfg, 0).face, rec, cfg,
                                                                      np.random.default_rng(0))])
    for e in rec.expressions:
        onset, apex = e.spec.onset, e.spec.apex
        assert np.abs(frames[apex] - frames[onset - 1]).max() > 10  # the expression changes the face
        assert np.abs(frames[onset - 1] - frames[0]).max() < 1e-3 or any(
            d.kind == "head_move" and d.start < onset for d in rec.distractors)


def test_a_subject_has_the_same_face_as_in_the_clip_benchmark():
    short = make_subject(SynthConfig(seed=4, image_size=64), 1).face
    long = make_subject(LongSynthConfig(seed=4, image_size=64), 1).face
    np.testing.assert_array_equal(short.open, long.open)


def test_profiles_and_drift():
    p = plateau_profile(30, 5, 10, 20, 25)
    assert p[5] == 0 and p[10] == 1 and p[15] == 1 and p[20] == 1 and p[25] == 0 and p[26:].max() == 0
    np.testing.assert_array_equal(plateau_profile(30, 5, 12, 12, 25), intensity_profile(30, 5, 12, 25))
    drift = slow_drift(np.random.default_rng(0), 2000, 1.5, 200.0)
    assert drift.std(axis=0) == pytest.approx([1.5, 1.5], rel=1e-6)
    assert np.abs(np.diff(drift, axis=0)).max() < 0.05  # slow at the frame scale
    with pytest.raises(ValueError, match="rise_end"):
        plateau_profile(30, 5, 4, 20, 25)


def test_config_errors():
    with pytest.raises(ValueError, match="micro_per_recording"):
        LongSynthConfig(micro_per_recording=-1)


def test_frames_are_readable_images(bench):
    first = sorted((bench / "frames").rglob("*.png"))[0]
    img = cv2.imread(str(first))
    assert img.shape == (TINY.image_size, TINY.image_size, 3)
