"""The model in the box: the shipped checkpoint loads, carries its preprocessing block and a card, is found in one
place (causalnet.models.shipped), is what predict/analyze fall back on, and scores on the composite as its card
says; `--save-model` always stores a preprocessing block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from causalnet.models.format import read_checkpoint_metadata
from causalnet.models.shipped import DEFAULT_SHIPPED, list_shipped, shipped_checkpoint, shipped_model, shipped_notice

ROOT = Path(__file__).resolve().parents[1]
CARD_ACCURACY = re.compile(r"accuracy (\d+\.\d+) % \((\d+) / (\d+)\)")


def test_the_shipped_file_is_package_data_small_and_listed():
    path = shipped_checkpoint()
    assert path == ROOT / "src" / "causalnet" / "weights" / f"{DEFAULT_SHIPPED}.safetensors"
    assert path.is_file() and path.stat().st_size < 5 * 1024 * 1024
    assert [m.name for m in list_shipped()] == [DEFAULT_SHIPPED]
    assert shipped_model().card.is_file() and shipped_model().size == path.stat().st_size
    assert 'weights/*.safetensors' in (ROOT / "pyproject.toml").read_text()


def test_the_shipped_file_loads_with_the_one_loader_and_stores_its_preprocessing():
    from causalnet.commands.options import checkpoint_preprocess
    from causalnet.flow.config import PreprocessConfig
    from causalnet.models import load_checkpoint

    extra = read_checkpoint_metadata(shipped_checkpoint())["extra"]
    assert extra["class_names"] == ["negative", "positive", "surprise"] and extra["clips"] == 442
    stored = PreprocessConfig.from_dict(extra["preprocess"])  # every field known and valid
    assert stored == PreprocessConfig()  # the composite: the settings of docs/preprocessing.md
    assert "published composite" in extra["preprocess_source"]
    assert checkpoint_preprocess(extra, None, None) == stored
    model = load_checkpoint(shipped_checkpoint())
    assert model.model_name == "causalnet" and not model.training and extra["train"]["mirror_tta"] is True


def test_the_card_states_the_licence_recipe_scores_and_preprocessing():
    card = shipped_model().card.read_text()
    for needed in ("research use only", "CASME II", "SMIC", "SAMM",
                   "causalnet train --data ../shared/data/composite --preset compact --save-model "
                   "src/causalnet/weights/compact-composite.safetensors",
                   "72.85 ± 0.29", "5-member ensemble", "single model", "Training-set scores",
                   "extra[\"preprocess\"]", "Intended use and limits", f"{shipped_checkpoint().stat().st_size:,}"
                   .replace(",", " ")):
        assert needed in card, needed
    assert CARD_ACCURACY.search(card)
    docs = (ROOT / "docs" / "box-model.md").read_text()
    assert "python benchmarks/box_model.py --data ../shared/data/composite" in docs


def test_unknown_shipped_names_list_the_known_ones():
    with pytest.raises(FileNotFoundError, match="no shipped model 'nope'; shipped: compact-composite"):
        shipped_checkpoint("nope")
    assert shipped_notice().startswith("using the shipped model compact-composite (research use; see its card")


def test_the_shipped_file_scores_on_the_composite_as_its_card_says(composite_root):
    """Trained on every clip, so the card's training-set accuracy is what can be reproduced exactly (the
    honest leave-one-subject-out figure belongs to the recipe and is stated separately)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from box_model import training_set_scores
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    scores = training_set_scores(shipped_checkpoint(), composite_root)["composite"]
    percent, correct, total = CARD_ACCURACY.search(shipped_model().card.read_text()).groups()
    assert scores["n"] == int(total) == 442
    assert round(scores["acc"] * scores["n"]) == int(correct)
    assert f"{100 * scores['acc']:.2f}" == percent


def test_the_card_names_the_digest_of_the_shipped_weights():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from box_model import weights_digest
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert weights_digest(shipped_checkpoint()) in shipped_model().card.read_text()


def test_models_lists_the_shipped_weights(capsys):
    from causalnet.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "shipped weights" in out and DEFAULT_SHIPPED in out and str(shipped_model().card) in out


def test_save_model_stores_a_preprocessing_block_for_the_published_layout(tmp_path, capsys):
    """A folder without preprocess.json (the published composite layout) gets the default settings; a folder
    made by `causalnet preprocess` keeps its own."""
    from causalnet.cli import main
    from causalnet.flow.config import PreprocessConfig
    from causalnet.io import write_json_atomic
    from conftest import write_fake_composite

    data = write_fake_composite(tmp_path / "data", {"a": "casme2", "b": "samm"}, clips_per_subject=3)
    args = ["train", "--data", str(data), "--preset", "compact", "--epochs", "1", "--no-progress"]
    assert main([*args, "--save-model", str(tmp_path / "m.safetensors")]) == 0
    extra = read_checkpoint_metadata(tmp_path / "m.safetensors")["extra"]
    assert PreprocessConfig.from_dict(extra["preprocess"]) == PreprocessConfig()
    own = PreprocessConfig(face_method="none", face_size=96).to_dict()
    write_json_atomic(data / "preprocess.json", {"preprocess": own})
    assert main([*args, "--save-model", str(tmp_path / "m2.safetensors")]) == 0
    extra = read_checkpoint_metadata(tmp_path / "m2.safetensors")["extra"]
    assert extra["preprocess"] == own and extra["preprocess_source"].startswith("preprocess.json")


def test_predict_without_a_checkpoint_uses_the_shipped_model(tmp_path, capsys):
    import json

    import cv2

    from causalnet.cli import main
    from causalnet.flow.synthetic import expression_frames, textured_image

    frames = expression_frames(textured_image(64, 64, seed=21), 60, 10, 30, 50, (32, 24), 4.0, (1.0, -1.5),
                               noise_sigma=1.0)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"frame{i + 1}.png"), f)
    args = ["predict", "--frames", str(tmp_path), "--face", "none", "--onset", "10", "--apex", "30", "--offset", "50"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == shipped_notice() and "prediction: " in out
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["shipped"] is True and doc["checkpoint"] == str(shipped_checkpoint())
    assert set(doc["probabilities"]) == {"negative", "positive", "surprise"}
    assert shipped_notice() in captured.err


def test_a_synthetic_mp4_recording_is_analysed_with_the_shipped_model(tmp_path, capsys):
    """Issue 35's path without licensed data or training: synth --long --mp4, then analyze the video file with
    the shipped model (the synthetic frames are aligned face crops, hence --face none and their eye geometry)."""
    import csv

    from causalnet.cli import main

    rec, an = tmp_path / "rec", tmp_path / "an"
    assert main(["synth", "--long", "--num-subjects", "1", "--clips-per-subject", "2", "--mp4", "--out", str(rec),
                 "--no-progress"]) == 0
    video = rec / "videos" / "s01_r1.mp4"
    assert video.is_file() and video.stat().st_size > 10_000
    assert main(["analyze", "--video", str(video), "--face", "none", "--set", "eye_row=0.37", "eye_distance=0.34",
                 "--out", str(an)]) == 0
    assert "using the shipped model compact-composite" in capsys.readouterr().out
    with open(an / "intervals.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    micro = [r for r in rows if r["type"] == "micro"]
    assert micro and all(r["class"] in ("negative", "positive", "surprise") for r in micro)
