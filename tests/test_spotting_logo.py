"""Long-recording generators, the leave-one-generator-out protocol and the learned spotter."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from causalnet.data.annotations import Interval
from causalnet.spotting import logo as logo_mod
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.datasets import read_long_dataset
from causalnet.spotting.learned import FEATURE_NAMES, fit_model, load_model
from causalnet.spotting.logo import Fit, Recording, load_recordings, spot_all
from causalnet.spotting.metrics import spotting_report
from causalnet.synth.long_generators import GENERATORS, generate_long

SMALL = {"n_subjects": 1, "micro_per_recording": 2, "macro_per_recording": 0, "blinks_per_recording": 1,
         "image_size": 64}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_writes_the_long_layout(tmp_path, name):
    gen = GENERATORS[name]
    extra = {"head_moves_per_recording": 0, "flicker_bursts_per_recording": 0} if gen.family == "au" else {
        "head_turns_per_recording": 0, "light_changes_per_recording": 0, "talking_per_recording": 0}
    recs = generate_long(name, tmp_path, {**SMALL, **extra})
    ds = read_long_dataset("generic", tmp_path)
    assert len(ds.videos) == 1 and len(recs) == 1
    micro = [t for t in ds.truth if t.type == "micro"]
    assert len(micro) == 2 and all(t.label in (0, 1, 2) for t in micro)
    v = ds.videos[0]
    files = sorted((tmp_path / "frames" / v.subject / v.video).glob("*.png"))
    assert len(files) == v.n_frames == recs[0]["n_frames"]
    assert v.fps == gen.settings.get("fps", 200.0)
    assert all(0 <= t.onset < t.apex < t.offset < v.n_frames for t in micro)


def test_blob_generator_is_deterministic(tmp_path):
    over = {**SMALL, "head_turns_per_recording": 0, "light_changes_per_recording": 0}
    generate_long("blob-talk", tmp_path / "a", over)
    generate_long("blob-talk", tmp_path / "b", over)
    a = sorted((tmp_path / "a" / "frames").rglob("*.png"))
    b = sorted((tmp_path / "b" / "frames").rglob("*.png"))
    assert [p.read_bytes() for p in a[::7]] == [p.read_bytes() for p in b[::7]]
    with open(tmp_path / "a" / "annotations.csv") as fa, open(tmp_path / "b" / "annotations.csv") as fb:
        assert list(csv.reader(fa)) == list(csv.reader(fb))


def test_unknown_generator_is_named():
    with pytest.raises(ValueError, match="unknown long-recording generator 'nope'"):
        generate_long("nope", "unused")


def _fake(gen: str) -> Recording:
    from causalnet.data.annotations import VideoEntry

    return Recording(gen, VideoEntry(gen, f"{gen}_v", "x", 10, 100.0), [], np.zeros((10, 8, 8), np.uint8))


def test_logo_never_fits_on_the_held_out_generator(monkeypatch):
    data = {g: [_fake(g)] for g in ("a", "b", "c", "d")}
    seen: list[tuple[set[str], list]] = []

    def fake_fit(train, base, grid, eye):
        seen.append((set(train), [r for recs in train.values() for r in recs]))
        return Fit(base, None, 0.0, sorted(train))

    monkeypatch.setattr(logo_mod, "fit_spotter", fake_fit)
    monkeypatch.setattr(logo_mod, "spot_all", lambda recs, cfg, eye, model=None: [])
    monkeypatch.setattr(logo_mod, "report", lambda recs, spotted: {"micro": {"f1": 0.0}})
    out = logo_mod.logo(data, SpotConfig(), {}, (0.3, 0.36))
    assert list(out) == list(data)
    for held, (train, recs) in zip(data, seen, strict=True):
        assert held not in train and train == set(data) - {held}
        assert all(r.generator != held for r in recs)  # not one recording of the held-out generator


def test_fit_spotter_inner_protocol_stays_within_training(monkeypatch):
    data = {g: [_fake(g)] for g in ("a", "b", "c")}
    fitted_on: list[set[str]] = []
    scored: list[str] = []

    def fake_model(train, cfg, eye, use="all"):
        fitted_on.append(set(train))
        return None

    def fake_f1(recs, cfg, eye, model):
        scored.append(recs[0].generator)
        return 0.5

    monkeypatch.setattr(logo_mod, "_fit_model", fake_model)
    monkeypatch.setattr(logo_mod, "_micro_f1", fake_f1)
    fit = logo_mod.fit_spotter(data, SpotConfig.preset("learned"), {"threshold": (2.0, 3.0)}, (0.3, 0.36))
    assert fit.trained_on == ["a", "b", "c"]
    for train, inner in zip(fitted_on, scored, strict=False):
        assert inner not in train  # inner held-out generator never in its own fit
    assert fitted_on[-1] == {"a", "b", "c"}


def test_fit_model_learns_a_separable_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, len(FEATURE_NAMES)))
    y = (x[:, 0] + 0.5 * x[:, 3] > 0).astype(int)
    model = fit_model(x, y)
    pred = model.probability(x) > model.accept
    assert (pred == y).mean() > 0.9
    again = type(model).from_dict(model.to_dict())
    assert np.allclose(again.probability(x), model.probability(x))


def test_shipped_model_loads_and_bad_names_are_named():
    model = load_model(SpotConfig.preset("default").model)
    assert 0 < model.accept < 1 and model.weights.shape == (len(model.use),) and set(model.use) <= set(FEATURE_NAMES)
    with pytest.raises(ValueError, match="SpotConfig.model"):
        load_model("no-such-model")


@pytest.mark.parametrize("name,fps", [("au-30", 30.0), ("blob", 100.0)])
def test_default_spotter_finds_the_intervals(tmp_path, name, fps):
    """The default (learned) spotter at 30 fps (the action-unit generator) and on the independent generator."""
    over = {"n_subjects": 1, "micro_per_recording": 6, "macro_per_recording": 0, "blinks_per_recording": 2,
            "fps": fps, "seed": 3}
    generate_long(name, tmp_path, over)
    cfg = SpotConfig.preset("default")
    assert cfg.method == "learned"
    recs = load_recordings(name, str(tmp_path))
    spotted = spot_all(recs, cfg, (0.30, 0.36))
    report = spotting_report(spotted, [t for r in recs for t in r.truth], 3)
    assert report["micro"]["tp"] >= 4, report["micro"]  # recall >= 2/3
    assert report["micro"]["fp"] <= 2, report["micro"]


def test_settings_in_seconds_scale_with_the_frame_rate():
    cfg = SpotConfig.preset("default")
    assert cfg.k(30.0) == round(cfg.window_s * 30) and cfg.k(200.0) == round(cfg.window_s * 200)
    assert cfg.frames(cfg.min_gap_s, 30.0) >= 1



def test_synth_long_generator_cli_and_analyze_at_30_fps(tmp_path, capsys):
    """`synth --long --generator au-30` writes a 30-fps recording; `analyze --spot-only` with the default
    (learned) spotter, the frame rate from --fps, finds its micro-expressions, and decides exactly as the
    offline protocol (`spotting.logo.spot_all`) does. (Before ``model_first`` three of the six were called
    macro here: at 30 fps the persistence measure is coarse.)"""
    import json

    from causalnet.cli import main

    out = tmp_path / "raw"
    assert main(["synth", "--long", "--generator", "au-30", "--num-subjects", "1", "--clips-per-subject", "6",
                 "--seed", "3", "--out", str(out), "--no-progress"]) == 0
    assert "at 30 fps" in capsys.readouterr().out
    ds = read_long_dataset("generic", out)
    v = ds.videos[0]
    assert v.fps == 30.0
    res = tmp_path / "res"
    assert main(["analyze", "--frames", str(v.frames), "--fps", "30", "--face", "none", "--size", "128",
                 "--spot-only", "--annotations", str(out / "annotations.csv"), "--out", str(res),
                 "--no-progress"]) == 0
    doc = json.loads((res / "intervals.json").read_text())
    assert doc["settings"]["spot"]["method"] == "learned"
    micro = [t for t in ds.truth if t.type == "micro"]
    spotted = [Interval(v.subject, v.video, r["onset"], r["apex"], r["offset"], r["type"]) for r in doc["intervals"]]
    report = spotting_report(spotted, ds.truth, 3)
    assert len(micro) == 6 and report["micro"]["tp"] >= 4 and report["micro"]["fp"] == 0, report["micro"]
    offline = spot_all(load_recordings("au-30", str(out)), SpotConfig.preset("default"), (0.30, 0.36))
    assert [(i.onset, i.apex, i.offset, i.type) for i in offline] == [
        (i.onset, i.apex, i.offset, i.type) for i in spotted]


def test_generator_needs_long(tmp_path):
    from causalnet.cli import main

    assert main(["synth", "--generator", "blob", "--out", str(tmp_path / "x")]) != 0


def test_pushing_a_whole_recording_at_once_equals_chunks(known_recording):
    """Spotter.push takes any number of faces (it decides after every chunk, so the rings never overflow)."""
    from causalnet.spotting.spotter import Spotter

    _, frames = known_recording
    cfg = SpotConfig.preset("default")
    whole = Spotter(cfg, 100.0, frames.shape[1], 0.30, 0.36)
    a = whole.push(frames) + whole.finish()
    parts = Spotter(cfg, 100.0, frames.shape[1], 0.30, 0.36)
    b = [s for i in range(0, len(frames), 50) for s in parts.push(frames[i : i + 50])] + parts.finish()
    assert [(s.onset, s.apex, s.offset, s.type) for s in a] == [(s.onset, s.apex, s.offset, s.type) for s in b]
    assert [c.kind for c in whole.candidates] == [c.kind for c in parts.candidates]


def test_spotter_models_load_by_plain_name_or_from_a_valid_file(tmp_path):
    from causalnet.spotting.learned import load_model

    assert load_model("generators").accept > 0
    with pytest.raises(ValueError, match="neither a JSON file nor a shipped spotter model"):
        load_model("../spotting/models/generators")  # a name never walks out of the package's model folder
    bad = tmp_path / "m.json"
    bad.write_text('{"features": ["z_score"]}')
    with pytest.raises(ValueError, match=rf"{bad.name}: not a spotter model \(KeyError"):
        load_model(str(bad))


def test_resample_averages_frames_and_maps_the_annotations():
    """A slower camera: frames averaged in groups (the remainder dropped), fps divided, annotated frames i -> i // f."""
    from causalnet.data.annotations import VideoEntry

    faces = np.arange(23, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    truth = [Interval("s", "v", 3, 7, 11, "micro", 1), Interval("s", "v", 21, 21, 22, "micro", 0)]
    rec = Recording("g", VideoEntry("s", "v", "x", 23, 200.0), truth, faces)
    low = logo_mod.resample(rec, 4)
    assert low.video.fps == 50.0 and low.video.n_frames == 5 == len(low.faces) and low.generator == "g"
    assert low.faces[:, 0, 0].tolist() == [2, 6, 10, 14, 18]  # means of 0-3, 4-7, ...: 1.5 -> 2 (rounded half-even)
    assert [(t.onset, t.apex, t.offset, t.label) for t in low.truth] == [(0, 1, 2, 1)]  # frame 21 is beyond frame 19
    assert all(t.video == low.video.video != "v" for t in low.truth)


def test_augment_adds_only_slower_rates_once_each():
    from causalnet.data.annotations import VideoEntry

    def rec(fps):
        return Recording("g", VideoEntry("s", f"v{fps:g}", "x", 60, fps), [], np.zeros((60, 4, 4), np.uint8))

    out = logo_mod.augment([rec(200.0), rec(60.0), rec(30.0)], (100.0, 50.0, 30.0))
    assert sorted(r.video.fps for r in out) == sorted([200.0, 100.0, 50.0, 200 / 7, 60.0, 30.0, 30.0])


def test_flow_features_tell_a_returning_local_motion_from_one_that_stays():
    """flow_return ≈ +1 when the peak's motion is undone afterwards (micro-expression), ≈ 0 when it stays (a
    cosine said 0.94 there: the direction of a near-zero flow is noise);
    flow_local > 0 for a local motion, ≈ 0 for the whole face moving."""
    from causalnet.flow.synthetic import displace, local_displacement, textured_image
    from causalnet.spotting.config import SpotConfig
    from causalnet.spotting.learned import FLOW_FEATURES, flow_features
    from causalnet.spotting.signal import IntensityFeature

    side = 64
    base = textured_image(side, side, seed=1).astype(np.float32)

    def norm(x):
        return x / x.mean()

    moved = local_displacement(base, (40, 24), 5.0, 1.5, 0.0).astype(np.float32)
    blocks = IntensityFeature(SpotConfig(), side, np.ones((side, side), bool)).block_means
    local_return = dict(zip(FLOW_FEATURES, flow_features(norm(base), norm(moved), norm(base), blocks), strict=True))
    local_stay = dict(zip(FLOW_FEATURES, flow_features(norm(base), norm(moved), norm(moved), blocks), strict=True))
    shifted = displace(base, 1.5, 0.0).astype(np.float32)
    whole = dict(zip(FLOW_FEATURES, flow_features(norm(base), norm(shifted), norm(shifted), blocks), strict=True))
    assert local_return["flow_return"] > 0.8 and abs(local_stay["flow_return"]) < 0.3
    assert local_return["flow_local"] > 1.0 and whole["flow_local"] < 0.5
    assert whole["flow_global"] > local_return["flow_global"] + 1.0
