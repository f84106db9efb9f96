"""Reliability and security, round 2 (issue 32): CSV cells cannot become spreadsheet formulas, counts that
size work are bounded, outputs never replace inputs, misleading messages, OS errors without tracebacks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from causalnet.cli import main
from causalnet.io import csv_text, neutralise_cell, restore_cell

EVIL = "=cmd|' -C calc'!A0"
HOSTILE = [EVIL, "+SUM(1;2)", "@x", "-x", "\tx", "\rx", "'=x", "''@y", "'plain", "plain"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _assert_neutral(path: Path) -> None:
    """No cell of the file starts like a formula (numbers apart)."""
    for row in _cells(path):
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only a number may start with a sign


# ---------------------------------------------------------------- item 4: CSV formula injection


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralised_cells_round_trip(text):
    cell = neutralise_cell(text)
    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert restore_cell(cell) == text


@pytest.mark.parametrize("value", [-0.5, -3, "-0.5", "+3", "1e-4", "-1E+5", "-inf", 0.25])
def test_numbers_stay_numbers(value):
    assert neutralise_cell(value) == value
    assert csv_text(["a"], [[value]]).splitlines()[1] == str(value)


def test_csv_text_quotes_header_and_mapping_rows():
    text = csv_text(["a", "@b"], [{"a": EVIL, "@b": None}, ["x", -1.5]])
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["a", "'@b"], ["'" + EVIL, ""], ["x", "-1.5"]]


def _prediction_rows() -> list[dict]:
    return [{"run": 0, "subject": EVIL, "dataset": "+SUM(1;2)", "clip": "@x", "label": 1, "pred": 0,
             "probs": [0.5, 0.25, 0.25], "model": "-m", "condition": "=c"},
            {"run": 0, "subject": "-1", "dataset": "casme2", "clip": "'=y", "label": 0, "pred": 0,
             "probs": [1.0, 0.0, 0.0], "model": "plain", "condition": ""}]


def test_predictions_csv_is_neutralised_and_read_back(tmp_path):
    from causalnet.eval.predictions import read_predictions, write_predictions

    path = tmp_path / "predictions.csv"
    write_predictions(path, _prediction_rows(), 3, before=("model", "condition"))
    _assert_neutral(path)
    assert _cells(path)[1][:5] == ["'-m", "'=c", "0", "'" + EVIL, "'+SUM(1;2)"]
    back = read_predictions(path)
    for want, got in zip(_prediction_rows(), back, strict=True):
        for key in ("subject", "dataset", "clip", "model", "condition", "label", "pred", "run"):
            assert got[key] == want[key], key
    assert back[1]["subject"] == "-1"  # numeric text stays as written


def _analysis(subject: str, video: str):
    from causalnet.spotting.analyze import Analysis, AnalyzedInterval

    item = AnalyzedInterval("micro", 10, 12, 20, score=2.0, threshold=1.0, label=1, probabilities=[0.2, 0.7, 0.1])
    return Analysis(subject=subject, video=video, source="rec", fps=100.0, n_frames=50, face_size=64,
                    intervals=[item], reference=[], candidates=[], signal=np.zeros(50), threshold=np.zeros(50),
                    class_names=["neg", "=pos", "sur"], realigned=[], seconds=1.0, cpu_seconds=1.0, flows=0)


def test_intervals_csv_is_neutralised(tmp_path):
    from causalnet.spotting.output import write_intervals

    write_intervals(tmp_path, _analysis(EVIL, "@video"), settings={})
    path = tmp_path / "intervals.csv"
    _assert_neutral(path)
    rows = _cells(path)
    assert rows[1][:2] == ["'" + EVIL, "'@video"]
    assert rows[1][rows[0].index("class")] == "'=pos"
    assert [restore_cell(c) for c in rows[1][:2]] == [EVIL, "@video"]


# ---------------------------------------------------------------- item 3: bounds on counts that size work


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--runs", "100000000"], "--runs: must be an integer in [1, 1000], got 100000000"),
    (["train", "--runs", "0"], "--runs: must be an integer in [1, 1000], got 0"),
    (["sweep", "--runs", "100000000", "--grid", "model.gamma=0.3"], "--runs: must be an integer in [1, 1000]"),
    (["sweep", "--grid", "model.gamma=" + ",".join(f"0.{i}" for i in range(1, 10)),
      "train.epochs=" + ",".join(str(i) for i in range(1, 201))], "--grid: 1800 = 1800, more than the bound of 1000"),
    (["sweep", "--runs", "300", "--grid", "model.gamma=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
      "train.epochs=1,2,3,4"], "--grid x --runs: 36 x 300 = 10800, more than the bound of 10000"),
    (["sweep", "--inner-folds", "100000", "--grid", "model.gamma=0.3"], "--inner-folds: must be an integer in [2, 64]"),
])
def test_counts_that_size_work_are_bounded_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main([*args, "--data", str(tmp_path / "no_data"), "--out", str(out)]) == 1
    assert message in _error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--num-subjects", "1000", "--clips-per-subject", "1000"],
     "--num-subjects x --clips-per-subject: 1000 x 1000 = 1000000, more than the bound of 100000"),
    (["--num-subjects", "100000000"], "SynthConfig.n_subjects: must be an integer in [1, 1000]"),
])
def test_synth_size_is_bounded(tmp_path, capsys, args, message):
    assert main(["synth", "--out", str(tmp_path / "o"), *args]) == 1
    assert message in _error(capsys)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- item 7: values that cannot train


@pytest.mark.parametrize(("setting", "message"), [
    ("train.lr=1e308", "TrainConfig.lr: must be a finite number in (0, 10), got 1e+308"),
    ("train.lr=0", "TrainConfig.lr: must be a finite number in (0, 10)"),
    ("train.lr=-1e-3", "TrainConfig.lr: must be a finite number in (0, 10)"),
    ("train.weight_decay=1e300", "TrainConfig.weight_decay: must be a finite number in [0, 10]"),
])
def test_learning_rate_and_weight_decay_are_bounded(tmp_path, capsys, setting, message):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--set", setting]) == 1
    assert message in _error(capsys)


# ---------------------------------------------------------------- item 8: --epochs hides no bad --set


@pytest.mark.parametrize(("args", "message"), [
    (["--epochs", "5", "--set", "train.epochs=-1"], "TrainConfig.epochs: must be an integer in [1, 100000], got -1"),
    (["--epochs", "-1", "--set", "train.epochs=5"], "TrainConfig.epochs: must be an integer in [1, 100000], got -1"),
    (["--epochs", "5", "--set", "train.epochs=6"], "--epochs 5 and --set train.epochs=6 disagree"),
    (["--seed", "1", "--set", "train.seed=x"], "TrainConfig.seed: must be an integer"),
])
def test_epochs_option_does_not_hide_the_set_value(tmp_path, capsys, args, message):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), *args]) == 1
    assert message in _error(capsys)


def test_epochs_given_both_ways_alike_is_accepted():
    import argparse

    from causalnet.commands.train import build_config

    args = argparse.Namespace(preset="compact", model="causalnet", overrides=["train.epochs=3"], epochs=3, seed=None,
                              protocol=None)
    assert build_config(args).train.epochs == 3


# ---------------------------------------------------------------- item 2: outputs never overwrite inputs


def _synth(out: Path, *extra: str) -> int:
    return main(["synth", "--preset", "tiny", "--out", str(out), "--num-subjects", "2", "--clips-per-subject", "2",
                 "--no-progress", *extra])


def test_synth_refuses_an_existing_benchmark_and_overwrite_removes_only_its_own_files(tmp_path, capsys):
    out = tmp_path / "raw"
    assert _synth(out) == 0
    before = (out / "annotations.csv").read_bytes()
    capsys.readouterr()
    assert _synth(out, "--seed", "5") == 1
    assert "--out already holds a dataset (annotations.csv, ground_truth.json, frames/); give --overwrite" in \
        _error(capsys)
    assert (out / "annotations.csv").read_bytes() == before  # nothing touched
    (out / "frames" / "notes.txt").write_text("mine")
    (out / "frames" / "s02" / "mine").mkdir()
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--num-subjects", "1", "--clips-per-subject", "1",
                 "--no-progress", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["notes.txt", "s01", "s02"]
    assert [p.name for p in (out / "frames" / "s01").iterdir()] == ["c01"]  # the stale clip c02 is gone
    assert [p.name for p in (out / "frames" / "s02").iterdir()] == ["mine"]  # not written by synth: kept
    assert len((out / "annotations.csv").read_text().splitlines()) == 2


def _fake_checkpoint(path: Path) -> Path:
    from safetensors.numpy import save_file

    from causalnet.models.format import CHECKPOINT_FORMAT

    save_file({"w": np.zeros(2, np.float32)}, str(path),
              metadata={"format": CHECKPOINT_FORMAT, "model": "causalnet", "config": "{}", "extra": "{}"})
    return path


def test_save_model_refuses_to_replace_a_file_that_is_not_a_checkpoint(fake_composite, capsys):
    data_file = fake_composite / "preprocess.json"
    data_file.write_text('{"preprocess": {}}')
    assert main(["train", "--data", str(fake_composite), "--save-model", str(data_file)]) == 1
    assert "--save-model would replace a file that is not a causalnet checkpoint" in _error(capsys)
    assert data_file.read_text() == '{"preprocess": {}}'
    csv_file = fake_composite / "combined_3_class2_for_optical_flow.csv"
    assert main(["train", "--data", str(fake_composite), "--save-model", str(csv_file)]) == 1
    assert "not a causalnet checkpoint" in _error(capsys)


def test_an_earlier_checkpoint_may_be_replaced(tmp_path):
    from causalnet.commands.train import check_model_output

    ckpt = _fake_checkpoint(tmp_path / "m.safetensors")
    assert check_model_output(ckpt, "--save-model") == ckpt
    assert check_model_output(tmp_path / "new.safetensors", "--save-model") == tmp_path / "new.safetensors"
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(ValueError, match="not a regular file"):
        check_model_output(tmp_path / "dir.safetensors", "--save-model")


def test_outputs_apart_sees_through_links_and_dots(tmp_path):
    from causalnet.checks import check_outputs_apart

    (tmp_path / "a").mkdir()
    source = tmp_path / "a" / "x.json"
    source.write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(ValueError, match=r"--out would overwrite --data's x.json"):
        check_outputs_apart([("--out", tmp_path / "link" / "x.json")], [("--data's x.json", source)])
    with pytest.raises(ValueError, match="--out would overwrite"):
        check_outputs_apart([("--out", tmp_path / "a" / ".." / "a" / "x.json")], [("--data", source)])
    check_outputs_apart([("--out", tmp_path / "a" / "y.json"), ("--x", None)], [("--data", source), ("--y", None)])


def _prediction_run(root: Path) -> Path:
    """A bare run folder: config.json naming an absolute data path, predictions.csv of 4 subjects."""
    from causalnet.eval.predictions import write_predictions
    from causalnet.io import write_json_atomic

    run = root / "myrun"
    rows = [{"run": 0, "subject": f"s{s}", "dataset": "casme2", "clip": f"c{c}", "label": c % 3, "pred": (c + s) % 3,
             "probs": [0.2, 0.3, 0.5]} for s in range(4) for c in range(3)]
    write_predictions(run / "predictions.csv", rows, 3)
    write_json_atomic(run / "config.json", {"kind": "train", "data": str(root.resolve() / "secret" / "mydata"),
                                            "experiment": {"protocol": "fixed"}})
    return run


@pytest.mark.parametrize("name", ["config.html", "metrics.html", "preprocess.htm", "results.html"])
def test_report_sidecars_never_take_run_or_data_file_names(tmp_path, capsys, name):
    run = _prediction_run(tmp_path)
    before = (run / "config.json").read_bytes()
    assert main(["report", str(run), "--out", str(run / name), "--no-model", "--examples", "0"]) == 1
    assert "the name of a run or data file" in _error(capsys)
    assert (run / "config.json").read_bytes() == before
    assert not (run / name).exists()


def test_report_refuses_to_replace_files_it_did_not_write(tmp_path, capsys):
    run = _prediction_run(tmp_path)
    (tmp_path / "notes.json").write_text('{"mine": 1}')
    assert main(["report", str(run), "--out", str(tmp_path / "notes.html"), "--no-model"]) == 1
    assert "--out's numbers file would replace a file that is not a causalnet report's numbers file" in \
        _error(capsys)
    (tmp_path / "page.html").write_text("<html>mine</html>")
    assert main(["report", str(run), "--out", str(tmp_path / "page.html"), "--no-model"]) == 1
    assert "--out would replace a file that is not a causalnet report" in _error(capsys)
    assert (tmp_path / "notes.json").read_text() == '{"mine": 1}'
    assert (tmp_path / "page.html").read_text() == "<html>mine</html>"


def test_report_embeds_no_absolute_path_and_may_be_rewritten(tmp_path, capsys):
    run = _prediction_run(tmp_path)
    for _ in range(2):  # the second time it replaces its own earlier files
        assert main(["report", str(run), "--no-model", "--examples", "0"]) == 0
    capsys.readouterr()
    for name in ("report.html", "report.json"):
        text = (run / name).read_text(encoding="utf-8")
        assert str(tmp_path.resolve()) not in text and str(tmp_path) not in text, name
        assert "myrun" in text and "mydata" in text


# ---------------------------------------------------------------- item 7: OS errors are one line naming the file


def _disk_full(*_args, **_kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    run = _prediction_run(tmp_path)
    monkeypatch.setattr("os.fsync", _disk_full)
    assert main(["evaluate", str(run)]) == 1
    err = _error(capsys)
    target = run / "metrics.json"
    assert err.startswith(f"causalnet evaluate: error: {target}: No space left on device (the disk is full")
    assert not (run / "metrics.json").exists()
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_a_full_disk_during_synth_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("os.fsync", _disk_full)
    assert _synth(tmp_path / "raw") == 1
    assert "ground_truth.json: No space left on device" in _error(capsys)


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device", "/x/f.npz"),
                                 PermissionError(13, "Permission denied", "/x/f"),
                                 OSError("custom message\nover two lines")])
def test_other_os_errors_from_any_command_are_one_line(tmp_path, capsys, monkeypatch, exc):
    import causalnet.commands.train as train_command

    def fail(_args):
        raise exc

    monkeypatch.setattr(train_command, "run_evaluate", fail)
    assert main(["evaluate", str(tmp_path)]) == 1
    err = _error(capsys)
    assert err.startswith("causalnet evaluate: error: ")
    if exc.filename:
        assert f"{exc.filename}: {exc.strerror}" in err


# ---------------------------------------------------------------- item 8: messages that name the real problem


@pytest.mark.parametrize("fps", ["0", "-200", "nan", "inf"])
@pytest.mark.parametrize("command", ["analyze", "spot-eval"])
def test_fps_option_is_named(tmp_path, capsys, fps, command):
    source = ["--frames", str(tmp_path)] if command == "analyze" else ["--data", str(tmp_path)]
    assert main([command, *source, "--fps", fps, "--out", str(tmp_path / "o")]) == 1
    assert "error: --fps: must be a finite number in (0, 100000]" in _error(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("fps", ["0", "-30", "nan", "inf", "abc"])
def test_video_list_frame_rate_must_be_positive(tmp_path, fps):
    from causalnet.data.annotations import read_videos

    (tmp_path / "frames").mkdir()
    (tmp_path / "videos.csv").write_text(f"subject,video,frames,n_frames,fps\na,rec1,frames,30,{fps}\n")
    with pytest.raises(ValueError, match=r"videos.csv:2: fps: must be a (finite number in \(0, 100000\]|frame rate)"):
        read_videos(tmp_path / "videos.csv")
    (tmp_path / "videos.csv").write_text("subject,video,frames,n_frames,fps\na,rec1,frames,30,\n")
    assert read_videos(tmp_path / "videos.csv")[0].fps == 0.0  # blank: unknown, --fps gives it


def test_analyze_annotations_cannot_be_an_output(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "intervals.csv").write_text("subject,video,onset,apex,offset,type,label\n")
    assert main(["analyze", "--frames", str(tmp_path), "--fps", "100", "--out", str(out),
                 "--annotations", str(out / "intervals.csv")]) == 1
    assert "--out's intervals.csv would overwrite --annotations" in _error(capsys)


def test_a_device_posing_as_an_image_is_not_a_regular_file(tmp_path):
    from causalnet.flow.frames import open_frames, read_image

    link = tmp_path / "0001.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=r"0001.png: frame image is not a regular file \(a character device\)"):
        read_image(link)
    with pytest.raises(ValueError, match="video file is not a regular file"):
        open_frames(link)
    with pytest.raises(FileNotFoundError, match="frame image not found"):
        read_image(tmp_path / "missing.png")


@pytest.mark.parametrize("second", ["{run}", "{run}/", "{run}/predictions.csv", "{root}/myrun/../myrun"])
def test_compare_warns_that_a_run_is_compared_with_itself(tmp_path, capsys, second):
    run = _prediction_run(tmp_path)
    assert main(["compare", str(run), second.format(run=run, root=tmp_path), "--bootstrap", "100",
                 "--permutations", "100"]) == 0
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    same = [line for line in err.splitlines() if "same run" in line]  # once; a few-subject warning may follow
    assert len(same) == 1 and same[0].startswith("causalnet compare: warning: runs 1 and 2 are the same run"), err


def test_compare_accepts_two_selections_of_one_folder(tmp_path):
    from causalnet.commands.compare import same_runs

    run = _prediction_run(tmp_path)
    assert same_runs([f"{run}:model=a", f"{run}:model=b"]) == []
    assert "runs 1 and 2 are the same run" in same_runs([f"{run}:model=a", f"{run}/predictions.csv:model=a"])[0]


class _Pickled:
    """Any Python object: torch.load(weights_only=True) refuses it."""


def test_convert_never_suggests_loading_a_pickle_unsafely(tmp_path, capsys):
    import torch

    pth = tmp_path / "sub01.pth"
    torch.save({"w": torch.zeros(2), "obj": _Pickled()}, pth)
    assert main(["convert", "--reference", str(pth), "--out", str(tmp_path / "m.safetensors")]) == 1
    err = _error(capsys)
    assert "sub01.pth: not a plain PyTorch state dict" in err and "refuses to load" in err
    for advice in ("weights_only=False", "can still be loaded", "trust the source", "\x1b["):
        assert advice not in err
    assert not (tmp_path / "m.safetensors").exists()


def test_convert_out_never_replaces_the_reference_or_another_file(tmp_path, capsys):
    import torch

    pth = tmp_path / "sub01.pth"
    torch.save({"w": torch.zeros(2)}, pth)
    assert main(["convert", "--reference", str(pth), "--out", str(pth)]) == 1
    assert "--out would overwrite --reference" in _error(capsys)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["convert", "--reference", str(pth), "--out", str(notes)]) == 1
    assert "--out would replace a file that is not a causalnet checkpoint" in _error(capsys)
    assert notes.read_text() == "mine"


@pytest.mark.parametrize("address", ["no-port", "host:0", "host:99999", "http://x:1", ""])
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_malformed_ray_address_is_named_and_leaves_nothing(tmp_path, capsys, address, command):
    out = tmp_path / "run"
    grid = ["--grid", "model.gamma=0.3"] if command == "sweep" else []
    assert main([command, "--data", str(tmp_path), "--out", str(out), "--backend", "ray", "--ray-address", address,
                 *grid]) == 1
    assert "--ray-address: must be 'auto' or HOST:PORT" in _error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--cpus-per-fold", "0"), ("--gpus-per-fold", "-1"),
                                               ("--gpus-per-fold", "1e9"), ("--cpus-per-fold", "nan")])
def test_ray_resources_are_bounded(tmp_path, capsys, option, value):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--backend", "ray", option,
                 value]) == 1
    assert f"{option}: must be a finite number" in _error(capsys)


def test_preprocess_outputs_never_overwrite_its_annotations(tmp_path, capsys):
    out = tmp_path / "of"
    out.mkdir()
    table = out / "combined_3_class2_for_optical_flow.csv"
    table.write_text("dataset,subject,clip,onset,apex,offset,label,fps\n")
    assert main(["preprocess", "--raw", str(tmp_path), "--format", "generic", "--annotations", str(table),
                 "--out", str(out)]) == 1
    assert "--out's clip list would overwrite --annotations" in _error(capsys)


# ---------------------------------------------------------------- item 4 (cont.): every CSV writer is the one writer


def test_sweep_chosen_and_candidates_csv_are_neutralised():
    from causalnet.train.sweep import _csv

    rows = [{"run": 0, "subject": EVIL, "candidate": "@c1", "inner_uf1": 0.5, "inner_nll": -0.25}]
    text = _csv(rows, ["run", "subject", "candidate", "inner_uf1", "inner_nll"])
    cells = list(csv.reader(text.splitlines()))
    assert cells[1] == ["0", "'" + EVIL, "'@c1", "0.500000", "-0.250000"]  # floats as before, numbers unquoted
    assert [restore_cell(c) for c in cells[1][1:3]] == [EVIL, "@c1"]


def test_spotting_annotations_and_videos_csv_round_trip(tmp_path):
    from causalnet.data.annotations import Interval, read_annotations, read_videos, write_annotations, write_videos

    ann = tmp_path / "annotations.csv"
    write_annotations(ann, [Interval(EVIL, "+SUM(1;2)", 3, 5, 9, "micro", 1)])
    _assert_neutral(ann)
    assert _cells(ann)[1][:2] == ["'" + EVIL, "'+SUM(1;2)"]
    back = read_annotations(ann)
    assert (back[0].subject, back[0].video, back[0].onset, back[0].offset) == (EVIL, "+SUM(1;2)", 3, 9)
    (tmp_path / "@frames").mkdir()
    videos = tmp_path / "videos.csv"
    write_videos(videos, [{"subject": EVIL, "video": "-v", "frames": "@frames", "n_frames": 10, "fps": 30}])
    _assert_neutral(videos)
    entry = read_videos(videos)[0]
    assert (entry.subject, entry.video, entry.frames.name, entry.fps) == (EVIL, "-v", "@frames", 30.0)


def test_synth_annotations_csv_round_trips_through_the_table_reader(tmp_path):
    from causalnet.data.builders.generic import GENERIC_ALIASES
    from causalnet.data.builders.tables import Table
    from causalnet.synth.config import SynthConfig
    from causalnet.synth.generate import annotations_csv

    clips = [{"subject": EVIL, "clip": "@c", "onset": 0, "apex": 2, "offset": 4, "label": 1}]
    path = tmp_path / "annotations.csv"
    path.write_text(annotations_csv(SynthConfig(), clips), encoding="utf-8")
    _assert_neutral(path)
    assert _cells(path)[1][1:3] == ["'" + EVIL, "'@c"]
    (_, record), = Table.read(path, GENERIC_ALIASES, optional=("dataset", "apex", "fps"))
    assert (record["subject"], record["clip"], record["onset"]) == (EVIL, "@c", "0")


def test_composite_clip_list_round_trips_and_merges(tmp_path):
    from causalnet.data.builders.writer import read_index_rows, write_index
    from causalnet.data.composite import CSV_NAME, read_index

    row = {"dataset": "casme2", "sub": EVIL, "filename_o": "-clip", "label": 1}
    write_index(tmp_path, [row])
    write_index(tmp_path, [{**row, "label": 2}])  # the same clip: replaced, not listed twice
    path = tmp_path / CSV_NAME
    _assert_neutral(path)
    assert _cells(path)[1][:4] == ["casme2", "'" + EVIL, "'-clip", "2"]
    assert [(r["sub"], r["filename_o"]) for r in read_index_rows(tmp_path)] == [(EVIL, "-clip")]
    (back,) = read_index(tmp_path)
    assert (back["sub"], back["filename_o"], back["label"]) == (EVIL, "-clip", "2")


def test_report_reads_extra_prediction_columns_as_written(tmp_path):
    from causalnet.eval.predictions import write_predictions
    from causalnet.report.runs import load_predictions

    path = tmp_path / "predictions.csv"
    write_predictions(path, _prediction_rows(), 3, before=("model", "condition"))
    preds = load_predictions(path)
    assert preds.subject.tolist() == [EVIL, "-1"]
    assert preds.extra["model"].tolist() == ["-m", "plain"] and preds.extra["condition"].tolist() == ["=c", ""]


# ---------------------------------------------------------------- item 8 (cont.): messages that mislead


def test_train_names_an_image_that_is_a_device(fake_composite, tmp_path, capsys):
    image = fake_composite / "STSNet_whole_norm_u_v_os" / "s01_clip01_1 .png"
    image.unlink()
    image.symlink_to("/dev/zero")
    out = tmp_path / "run"
    assert main(["train", "--data", str(fake_composite), "--out", str(out), "--no-progress"]) == 1
    err = _error(capsys)
    assert "s01_clip01_1 .png: image is not a regular file (a character device)" in err
    assert "not found" not in err


@pytest.mark.parametrize("fps", ["0", "-30", "nan", "inf"])
def test_preprocess_annotation_fps_must_be_a_positive_rate(tmp_path, fps):
    from causalnet.data.builders.generic import read_generic

    raw = tmp_path / "raw"
    (raw / "frames" / "s01" / "c01").mkdir(parents=True)
    (raw / "annotations.csv").write_text("dataset,subject,clip,onset,apex,offset,label,fps\n"
                                         f"lab,s01,c01,0,1,2,0,{fps}\n")
    plan = read_generic(raw)
    assert not plan.clips
    (skip,) = plan.skipped
    assert skip.kind == "failed"
    assert skip.reason.startswith("annotations.csv:2: fps: must be a finite number in (0, 100000]")


def test_preprocess_annotation_blank_fps_is_unknown(tmp_path):
    from causalnet.data.builders.generic import read_generic

    raw = tmp_path / "raw"
    (raw / "frames" / "s01" / "c01").mkdir(parents=True)
    (raw / "annotations.csv").write_text("dataset,subject,clip,onset,apex,offset,label,fps\nlab,s01,c01,0,1,2,0,\n")
    plan = read_generic(raw)
    assert not [s for s in plan.skipped if "fps" in s.reason]
    assert [c.fps for c in plan.clips] in ([0.0], [])  # unknown; a clip without frames may fail for that


def test_reference_refusal_never_suggests_weights_only_false(tmp_path):
    import torch

    from causalnet.models.reference import load_reference

    pth = tmp_path / "sub01.pth"
    torch.save({"w": torch.zeros(2), "obj": _Pickled()}, pth)
    with pytest.raises(ValueError) as info:
        load_reference(pth)
    message = str(info.value)
    assert message.startswith(f"{pth}: not a plain PyTorch state dict") and "refuses to load" in message
    assert len(message.splitlines()) == 1
    for advice in ("weights_only=False", "`False`", "can still be loaded", "trust", "safe_globals", "\x1b["):
        assert advice not in message
