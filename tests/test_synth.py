"""The synthetic benchmark: determinism, annotations vs. frames, apex, class regions, relaxation."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.synth import (
    ANNOTATION_COLUMNS,
    CLASS_NAMES,
    CLASSES,
    ClipSpec,
    SynthConfig,
    draw_face,
    generate_benchmark,
    intensity_profile,
    make_subject,
    render_clip,
    render_subject_clip,
)
from causalnet.synth.generate import subject_labels
from causalnet.synth.motion import ACTION_UNITS

TINY = SynthConfig.preset("tiny").with_overrides({"n_subjects": 2, "clips_per_subject": 3})


def _read_annotations(root: Path) -> list[dict[str, str]]:
    with open(root / "annotations.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == ANNOTATION_COLUMNS
        return list(reader)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "bench"
    generate_benchmark(TINY, root)
    return root


def test_generator_is_deterministic_for_a_seed(tiny_bench: Path, tmp_path: Path) -> None:
    generate_benchmark(TINY, tmp_path / "again")
    assert _tree(tiny_bench) == _tree(tmp_path / "again")  # bit for bit, frames included
    generate_benchmark(dataclasses.replace(TINY, seed=TINY.seed + 1), tmp_path / "other")
    other = _tree(tmp_path / "other")
    assert other.keys() != _tree(tiny_bench).keys() or other != _tree(tiny_bench)


def test_subjects_do_not_depend_on_how_many_are_generated() -> None:
    small = make_subject(TINY, 1)
    large = make_subject(dataclasses.replace(TINY, n_subjects=5), 1)
    np.testing.assert_array_equal(small.face.open, large.face.open)
    assert [c.to_dict() for c in small.clips] == [c.to_dict() for c in large.clips]


def test_annotations_match_the_frames_written(tiny_bench: Path) -> None:
    rows = _read_annotations(tiny_bench)
    truth = json.loads((tiny_bench / "ground_truth.json").read_text())["clips"]
    assert len(rows) == len(truth) == TINY.n_subjects * TINY.clips_per_subject
    for row, gt in zip(rows, truth, strict=True):
        folder = tiny_bench / "frames" / row["subject"] / row["clip"]
        frames = sorted(folder.glob("*.png"))
        onset, apex, offset = int(row["onset"]), int(row["apex"]), int(row["offset"])
        assert 0 <= onset < apex < offset < len(frames) == gt["n_frames"]
        assert (onset, apex, offset, int(row["label"])) == (
            gt["onset"],
            gt["apex"],
            gt["offset"],
            gt["label"],
        )
        assert row["dataset"] == TINY.dataset and float(row["fps"]) == TINY.fps
        assert int(row["label"]) in range(len(CLASS_NAMES))
        img = cv2.imread(str(frames[0]))
        assert img.shape == (TINY.image_size, TINY.image_size, 3)  # square, face-centred frames
    assert not list(tiny_bench.rglob("*.partial"))


def test_labels_are_balanced_per_subject() -> None:
    cfg = dataclasses.replace(TINY, clips_per_subject=10)
    totals = np.zeros(3, int)
    for s in range(3):
        labels = subject_labels(cfg, s)
        assert len(labels) == 10
        counts = np.bincount(labels, minlength=3)
        assert counts.max() - counts.min() <= 1
        totals += counts
    assert totals.tolist() == [10, 10, 10]  # the remainder rotates between subjects


def test_intensity_profile_peaks_only_at_the_apex() -> None:
    p = intensity_profile(40, 5, 15, 33)
    assert p[:6].max() == 0 and p[33:].max() == 0
    assert p[15] == 1 and int(np.argmax(p)) == 15
    assert np.all(np.diff(p[5:16]) > 0) and np.all(np.diff(p[15:34]) < 0)
    with pytest.raises(ValueError):
        intensity_profile(10, 5, 5, 8)


def test_apex_is_the_frame_of_largest_displacement_from_the_onset() -> None:
    cfg = TINY.without_nuisances()
    subject = make_subject(cfg, 0)
    for k, spec in enumerate(subject.clips):
        clip = render_subject_clip(cfg, subject, k)
        # ground truth: the largest expression displacement is at the apex, none at the onset
        assert int(np.argmax(clip.displacement)) == spec.apex
        assert clip.displacement[spec.onset] == 0 and clip.displacement[spec.offset] == 0
        # and the rendered frames agree: they differ most from the onset frame at the apex
        onset = clip.frames[spec.onset].astype(np.float64)
        change = [np.abs(f.astype(np.float64) - onset).mean() for f in clip.frames]
        assert int(np.argmax(change)) == spec.apex
        assert change[spec.offset] < 0.05 * change[spec.apex]


def test_apex_has_largest_true_displacement_even_with_nuisances(tiny_bench: Path) -> None:
    subject = make_subject(TINY, 1)
    for k, spec in enumerate(subject.clips):
        clip = render_subject_clip(TINY, subject, k)
        assert int(np.argmax(clip.displacement)) == spec.apex
        assert len(clip.frames) == spec.n_frames


# --- class motion is in its region, and the relaxation reverses it --------------------------------

SIZE = 96


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (a, b))
    return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 9, 5, 5, 1.1, 0)


def _disc(landmarks: dict, names: list[str], radius: float) -> np.ndarray:
    yy, xx = (np.mgrid[0:SIZE, 0:SIZE] + 0.5) / SIZE
    mask = np.zeros((SIZE, SIZE), bool)
    for name in names:
        x0, y0 = landmarks[name]
        mask |= (xx - x0) ** 2 + (yy - y0) ** 2 < radius**2
    return mask


def _region(landmarks: dict, aus: tuple[str, ...]) -> list[str]:
    names = []
    for au in aus:
        for bump in ACTION_UNITS[au]:
            names += [f"{bump.landmark}_l", f"{bump.landmark}_r"] if bump.sided else [bump.landmark]
    return names


@pytest.fixture(scope="module")
def clean_face():
    cfg = dataclasses.replace(TINY.without_nuisances(), image_size=SIZE)
    face = draw_face(np.random.default_rng(3), SIZE * cfg.supersample, cfg.skin_texture)
    return cfg, face


@pytest.mark.parametrize("label", range(len(CLASSES)))
def test_class_motion_is_in_its_region_and_relaxation_reverses_it(clean_face, label: int) -> None:
    cfg, face = clean_face
    cls = CLASSES[label]
    spec = ClipSpec(
        subject="s",
        clip="c",
        label=label,
        n_frames=30,
        onset=4,
        apex=14,
        offset=26,
        amplitude_px=2.0,
        action_units={au: 1.0 for au in cls.required},
    )
    clip = render_clip(face, spec, cfg, np.random.default_rng(0))

    # ground-truth field: the class's own AUs point the documented way at their landmarks
    def at(name: str) -> np.ndarray:
        x, y = face.landmarks[name]
        return clip.field[int(y * SIZE), int(x * SIZE)]

    if cls.name == "negative":
        assert at("brow_inner_l")[1] > 0.5 and at("brow_inner_r")[1] > 0.5  # brows down
        assert at("brow_inner_l")[0] > 0 > at("brow_inner_r")[0]  # ... and toward the midline
    elif cls.name == "positive":
        assert at("mouth_corner_l")[1] < -0.5 and at("mouth_corner_r")[1] < -0.5  # corners up
        assert at("mouth_corner_l")[0] < 0 < at("mouth_corner_r")[0]  # ... and outward
    else:
        assert at("brow_mid_l")[1] < -0.5 and at("brow_mid_r")[1] < -0.5  # brows up
        assert at("chin")[1] > 0.5  # jaw down

    # measured motion in the rendered frames
    rise = _flow(clip.frames[spec.onset], clip.frames[spec.apex])
    fall = _flow(clip.frames[spec.apex], clip.frames[spec.offset])
    inside = _disc(face.landmarks, _region(face.landmarks, cls.required), 0.06)
    other_aus = tuple(au for c in CLASSES if c is not cls for au in c.required if au not in cls.action_units)
    outside = _disc(face.landmarks, _region(face.landmarks, other_aus), 0.06) & ~inside
    mag = np.linalg.norm(rise, axis=-1)
    assert mag[inside].mean() > 0.5
    # (the jaw drop also pulls the mouth corners down a little: a looser bound for surprise)
    assert mag[inside].mean() > (2.5 if cls.name == "surprise" else 6) * mag[outside].mean()
    # the relaxation reverses the contraction, point by point where the face moves
    moving = inside & (mag > 0.5)
    cos = (rise[moving] * fall[moving]).sum(-1) / (
        np.linalg.norm(rise[moving], axis=-1) * np.linalg.norm(fall[moving], axis=-1) + 1e-9
    )
    assert np.median(cos) < -0.9
    assert np.abs(rise[moving] + fall[moving]).mean() < 0.3 * np.abs(rise[moving]).mean()


def test_nuisances_do_not_change_the_ground_truth() -> None:
    noisy, clean = make_subject(TINY, 0), make_subject(TINY.without_nuisances(), 0)
    for a, b in zip(noisy.clips, clean.clips, strict=True):
        assert (a.onset, a.apex, a.offset, a.label) == (b.onset, b.apex, b.offset, b.label)


def test_config_presets_and_validation() -> None:
    for name in SynthConfig.preset_names():
        assert isinstance(SynthConfig.preset(name), SynthConfig)
    cfg = SynthConfig.preset("demo").with_overrides({"amplitude_px": "0.5,1.5", "noise_sigma": "3"})
    assert cfg.amplitude_px == (0.5, 1.5) and cfg.noise_sigma == 3.0
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        SynthConfig(amplitude_px=(2.0, 1.0))
    with pytest.raises(ValueError):
        SynthConfig(n_subjects=0)
    with pytest.raises(ValueError):
        SynthConfig.preset("nope")


def test_pipeline_generates_preprocesses_and_loads(tmp_path: Path) -> None:
    from causalnet.flow.config import PreprocessConfig
    from causalnet.synth.pipeline import STAGES, synthetic_benchmark

    cfg = TINY.with_overrides({"image_size": 32})
    stages: list[str] = []
    bench = synthetic_benchmark(cfg, tmp_path / "raw", tmp_path / "of", on_stage=stages.append)
    assert stages == list(STAGES) and set(bench.seconds) == set(STAGES)
    assert len(bench.clips) == 6 and bench.clips.subject_list() == ["s01", "s02"]
    assert (tmp_path / "raw" / "annotations.csv").is_file()
    with pytest.raises(ValueError, match="face_method must be 'none'"):
        synthetic_benchmark(cfg, tmp_path / "r2", tmp_path / "o2", PreprocessConfig(face_method="dlib"))
