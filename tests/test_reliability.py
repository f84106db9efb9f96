"""Hostile and odd inputs (issue 11): each gets one clear line naming the file or field, nothing is written
outside the output folder, atomically written files follow the umask and leave nothing behind."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.cli import main
from causalnet.data.builders import read_plan
from causalnet.data.builders.writer import CSV_NAME, IMAGE_DIR
from causalnet.data.composite import load_composite, read_index
from causalnet.flow.synthetic import textured_image
from causalnet.io import TEMP_NAME, atomic_path, clean_stale_temp_files, write_json_atomic, write_text_atomic


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------- the composite loader


def _rewrite_csv(root: Path, edit) -> None:
    path = root / "combined_3_class2_for_optical_flow.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = edit(rows)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(("sub", "problem"), [("../../../X", "path separator"), ("..", "relative folder"),
                                              ("/abs", "path separator"), ("a\x01", "control character")])
def test_composite_refuses_a_subject_that_would_escape_at_load_time(fake_composite, sub, problem):
    def edit(rows):
        rows[4]["sub"] = sub
        return rows

    _rewrite_csv(fake_composite, edit)
    with pytest.raises(ValueError, match=rf"combined_3_class2_for_optical_flow.csv:6: subject .* {problem}"):
        read_index(fake_composite)
    with pytest.raises(ValueError, match=r"\.csv:6: subject"):
        load_composite(fake_composite)


def test_composite_refuses_bad_clip_and_dataset_names(fake_composite):
    def clip(rows):
        rows[0]["filename_o"] = "a/b"
        return rows

    _rewrite_csv(fake_composite, clip)
    with pytest.raises(ValueError, match=r"\.csv:2: clip 'a/b' contains a path separator"):
        read_index(fake_composite)

    def dataset(rows):
        rows[0]["filename_o"], rows[1]["dataset"] = "clip00", ".."
        return rows

    _rewrite_csv(fake_composite, dataset)
    with pytest.raises(ValueError, match=r"\.csv:3: dataset '\.\.' is a relative folder reference"):
        read_index(fake_composite)


def test_train_refuses_a_traversing_subject_before_training(fake_composite, tmp_path, capsys):
    def edit(rows):
        rows[0]["sub"] = "../../../X"
        return rows

    _rewrite_csv(fake_composite, edit)
    assert main(["train", "--data", str(fake_composite), "--out", str(tmp_path / "run"), "--epochs", "1"]) == 1
    assert "csv:2: subject '../../../X' contains a path separator" in _error(capsys)
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob("**/X*"))


def test_duplicate_row_names_both_lines(fake_composite):
    _rewrite_csv(fake_composite, lambda rows: [*rows, dict(rows[2])])
    with pytest.raises(ValueError, match=r"\.csv:20: clip sub01/clip02 is listed twice \(lines 4 and 20\)"):
        read_index(fake_composite)


def test_two_clips_sharing_image_names_is_an_error(fake_composite):
    # sub "sub01_clip00" + clip "x" and sub "sub01" + clip "clip00_x" both read "sub01_clip00_x*.png"
    def edit(rows):
        return [*rows, {**rows[0], "sub": "sub01", "filename_o": "clip00_x"},
                {**rows[0], "sub": "sub01_clip00", "filename_o": "x"}]

    _rewrite_csv(fake_composite, edit)
    with pytest.raises(ValueError, match=r"\.csv:21: clip sub01_clip00/x would use the same images "
                                         r"\(sub01_clip00_x\*\.png\) as clip sub01/clip00_x on line 20"):
        read_index(fake_composite)


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((28, 28), np.uint8), "got 1 channel(s) grayscale"),
    (np.zeros((28, 28, 4), np.uint8), "got 4 channel(s) colour with alpha"),
    (np.zeros((28, 28, 3), np.uint16), "expected an 8-bit image, got uint16"),
])
def test_non_colour_png_is_an_error_naming_the_file(fake_composite, image, message):
    victim = fake_composite / IMAGE_DIR / "s01_clip01_2 .png"
    assert cv2.imwrite(str(victim), image)
    with pytest.raises(ValueError) as err:
        load_composite(fake_composite)
    assert str(err.value) == f"{victim}: expected a 3-channel colour image, {message}" or message in str(err.value)
    assert str(err.value).startswith(str(victim))


@pytest.mark.parametrize(("content", "message"), [
    (b"dataset,sub,filename_o,label\ncasme2,sub01,c,\xff\xfe\n", "not UTF-8 text"),
    (b"dataset,sub,filename_o,label\ncasme2,sub01,c,inf\n", "label 'inf' is not a number"),
    (b"dataset,sub,filename_o,label\ncasme2,sub01," + b"c" * 200_000 + b",0\n",
     r"csv:\d+: malformed CSV \(field larger"),
])
def test_malformed_csv_is_one_line(tmp_path, content, message):
    (tmp_path / CSV_NAME).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_index(tmp_path)


# ---------------------------------------------------------------- causalnet preprocess


def _generic(raw: Path, clips: list[tuple[str, str, str]], n: int = 5) -> Path:
    """A generic raw folder; frames written only for names that stay inside ``raw``."""
    lines = ["dataset,subject,clip,onset,apex,offset,label,fps"]
    for sub, clip, label in clips:
        folder = raw / "frames" / sub / clip
        if folder.resolve().is_relative_to(raw.resolve()):
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(folder / f"f{i}.png"), textured_image(40, 40, seed=i))
        lines.append(f"synthetic,{sub},{clip},0,2,{n - 1},{label},100")
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "annotations.csv").write_text("\n".join(lines) + "\n")
    return raw


def _preprocess(raw: Path, out: Path, *extra: str) -> int:
    return main(["preprocess", "--raw", str(raw), "--format", "generic", "--out", str(out), "--face", "none",
                 "--size", "32", "--workers", "1", "--no-progress", *extra])


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("sub", "clip", "message"), [
    ("../../T", "c1", r"annotations.csv:3: subject '\.\./\.\./T' contains a path separator"),
    ("a", "x/y", r"annotations.csv:3: clip 'x/y' contains a path separator"),
    ("a", "..", r"annotations.csv:3: clip '\.\.' is a relative folder reference"),
])
def test_preprocess_path_traversal_is_refused_before_any_work(tmp_path, capsys, sub, clip, message):
    work = tmp_path / "deep" / "er"
    raw = _generic(work / "raw", [("a", "ok", "0"), (sub, clip, "1")])
    before = _files_under(tmp_path)
    assert _preprocess(raw, work / "out") == 1
    assert re.search(message, _error(capsys))
    assert _files_under(tmp_path) == before  # nothing written anywhere, not even the good clip


def test_preprocess_emotion_typo_is_an_error_listing_every_line(tmp_path, capsys):
    raw = _generic(tmp_path / "raw", [("a", "c1", "happiness"), ("a", "c2", "hapiness"), ("b", "c1", "others"),
                                      ("b", "c2", "suprise")])
    assert _preprocess(raw, tmp_path / "out") == 1
    err = _error(capsys)
    assert "2 clip(s) with an unknown emotion" in err
    assert "annotations.csv:3: unknown emotion 'hapiness'" in err
    assert "annotations.csv:5: unknown emotion 'suprise'" in err
    assert "--skip-unknown-labels" in err and not (tmp_path / "out").exists()


def test_preprocess_skip_unknown_labels_leaves_them_out_with_their_lines(tmp_path, capsys, caplog):
    raw = _generic(tmp_path / "raw", [("a", "c1", "happiness"), ("a", "c2", "hapiness"), ("b", "c1", "others")])
    assert _preprocess(raw, tmp_path / "out", "--skip-unknown-labels") == 0
    out = capsys.readouterr().out
    assert "built 1 clips" in out and "excluded 2" in out
    assert "annotations.csv:3: unknown emotion 'hapiness'" in out  # listed in the summary
    assert "emotion 'others' is not in the megc3 classes" in out  # a known no-class emotion: excluded as before
    assert any("hapiness" in r.getMessage() for r in caplog.records)


def test_known_excluded_emotion_is_not_an_error(tmp_path):
    raw = _generic(tmp_path / "raw", [("a", "c1", "Anger"), ("a", "c2", "sadness"), ("a", "c3", "others")])
    plan = read_plan("generic", raw, scheme="mmew5")  # anger and sadness have no mmew5 class; others is class 3
    assert [s.kind for s in plan.skipped] == ["excluded", "excluded"] and [c.label for c in plan.clips] == [3]
    assert not plan.unknown


def test_preprocess_duplicate_annotation_row_names_both_lines(tmp_path, capsys):
    raw = _generic(tmp_path / "raw", [("a", "c1", "0"), ("a", "c2", "1"), ("a", "c1", "2")])
    assert _preprocess(raw, tmp_path / "out") == 1
    assert "annotations.csv:4: clip synthetic/a/c1 is listed twice (first at annotations.csv:2)" in _error(capsys)


@pytest.mark.parametrize("command", [["preprocess", "--raw", "r", "--format", "generic"], ["synth"], ["demo"]])
@pytest.mark.parametrize("workers", ["0", "-3"])
def test_workers_below_one_is_an_error(tmp_path, capsys, command, workers):
    assert main([*command, "--out", str(tmp_path / "o"), "--workers", workers]) == 1
    assert "--workers: must be an integer in [1, " in _error(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["preprocess", "--raw", "r", "--format", "generic"], ["synth"], ["demo"]])
def test_out_naming_a_file_is_an_error_before_any_work(tmp_path, capsys, command):
    target = tmp_path / "results.txt"
    target.write_text("precious")
    assert main([*command, "--out", str(target), "--workers", "1"]) == 1
    assert f"{target}: --out names an existing file, not a folder" in _error(capsys)
    assert target.read_text() == "precious" and _files_under(tmp_path) == {target}


@pytest.mark.parametrize(("setting", "message"), [
    ("tvl1_warps=abc", "PreprocessConfig.tvl1_warps: must be an integer in [1, 100], got 'abc'"),
    ("face_size=0", "PreprocessConfig.face_size: must be an integer in [16, 2048], got 0"),
    ("tvl1_median_filtering=7", "PreprocessConfig.tvl1_median_filtering: must be one of 1, 3, 5, got 7"),
    ("eye_row=1.5", "PreprocessConfig.eye_row: must be a finite number in (0, 1), got 1.5"),
])
def test_preprocess_set_values_name_the_field(tmp_path, capsys, setting, message):
    assert main(["preprocess", "--raw", "r", "--format", "generic", "--out", str(tmp_path / "o"),
                 "--set", setting]) == 1
    assert _error(capsys) == f"causalnet preprocess: error: {message}"


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "train.lr=abc"], "TrainConfig.lr: must be a finite number in (0, 10), got 'abc'"),
    (["--set", "model.dim=0"], "CausalNetConfig.dim: must be an integer in [1, 1024], got 0"),
    (["--set", "train.epochs=1.5"], "TrainConfig.epochs: must be an integer in [1, 100000], got 1.5"),
    (["--epochs", "-1"], "TrainConfig.epochs: must be an integer in [1, 100000], got -1"),
])
def test_train_set_values_name_the_field(tmp_path, capsys, args, message):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), *args]) == 1
    assert _error(capsys) == f"causalnet train: error: {message}"


def test_synth_set_values_name_the_field(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "o"), "--set", "dataset=../up"]) == 1
    assert _error(capsys).startswith("causalnet synth: error: SynthConfig.dataset: must be text usable as a file name")
    assert main(["synth", "--out", str(tmp_path / "o"), "--num-subjects", "0"]) == 1
    assert "SynthConfig.n_subjects: must be an integer in [1, 1000], got 0" in _error(capsys)


# ---------------------------------------------------------------- atomic writes


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        write_text_atomic(tmp_path / "sub" / "b.txt", "y")
        with atomic_path(tmp_path / "c.npz") as tmp:
            np.savez(open(tmp, "wb"), a=np.zeros(2))  # noqa: SIM115 - a writer that opens the file itself
    finally:
        os.umask(old)
    for name in ("a.json", "sub/b.txt", "c.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "b.txt", "c.npz", "sub"]


def test_a_failed_write_leaves_nothing(tmp_path):
    (tmp_path / "r.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "r.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"] and (tmp_path / "r.txt").read_text() == "old"


def test_a_killed_write_leaves_a_recognisable_file_that_the_cleanup_removes(tmp_path):
    target = tmp_path / "run" / "folds" / "run0" / "s01.npz"
    script = textwrap.dedent(f"""
        import os, signal
        from causalnet.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"half a file")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -9
    leftovers = list(tmp_path.rglob("*.tmp"))
    assert len(leftovers) == 1 and TEMP_NAME.match(leftovers[0].name) and not target.exists()
    (tmp_path / "run" / ".keep.tmp").write_text("not ours")  # other hidden .tmp names are left alone
    (tmp_path / "run" / "notes.tmp").write_text("not ours")

    assert clean_stale_temp_files(tmp_path / "run") == []  # fresh: it may belong to a running writer
    old = time.time() - 2 * 3600
    os.utime(leftovers[0], (old, old))
    assert clean_stale_temp_files(tmp_path / "run") == leftovers
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [".keep.tmp", "notes.tmp"]
    assert clean_stale_temp_files(tmp_path / "missing") == []


def test_preprocess_cleans_stale_temp_files_of_a_killed_run(tmp_path, capsys):
    raw = _generic(tmp_path / "raw", [("a", "c1", "0")])
    stale = tmp_path / "out" / IMAGE_DIR / ".a_c1 .png.deadbeef.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert _preprocess(raw, tmp_path / "out") == 0
    assert not stale.exists() and not list((tmp_path / "out").rglob("*.tmp"))
