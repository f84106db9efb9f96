"""``causalnet preprocess`` end to end (in-process CLI calls on tiny fixtures)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from causalnet.cli import main
from causalnet.data.builders.tables import write_xlsx
from causalnet.data.builders.writer import CSV_NAME, IMAGE_DIR
from causalnet.flow.synthetic import cartoon_face, expression_frames, textured_image


def _generic(raw: Path, clips: dict[tuple[str, str], int]) -> Path:
    lines = ["dataset,subject,clip,onset,apex,offset,label,fps"]
    for (sub, clip), n in clips.items():
        folder = raw / "frames" / sub / clip
        folder.mkdir(parents=True)
        base = textured_image(40, 40, seed=len(lines))
        for i in range(n):
            cv2.imwrite(str(folder / f"f{i}.png"), base)
        lines.append(f"synthetic,{sub},{clip},0,{n // 2},{n - 1},{len(lines) % 3},100")
    (raw / "annotations.csv").write_text("\n".join(lines) + "\n")
    return raw


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / CSV_NAME, newline="") as fh:
        return list(csv.DictReader(fh))


def test_preprocess_generic_is_resumable(tmp_path, capsys):
    raw = _generic(tmp_path / "raw", {("a", "c1"): 6, ("a", "c2"): 5, ("b", "c1"): 7})
    out = tmp_path / "out"
    args = [
        "preprocess",
        "--raw",
        str(raw),
        "--format",
        "generic",
        "--out",
        str(out),
        "--face",
        "none",
        "--size",
        "32",
        "--workers",
        "2",
        "--no-progress",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "generic: 3 clips to build" in text and "built 3 clips" in text and "clip list:" in text
    assert len(list((out / IMAGE_DIR).glob("*.png"))) == 12
    assert [r["sub"] for r in _rows(out)] == ["a", "a", "b"]
    assert main(args) == 0
    assert "built 0 clips" in capsys.readouterr().out and len(_rows(out)) == 3
    (out / IMAGE_DIR / "b_c1_3 .png").unlink()  # an unfinished clip is redone
    assert main(args) == 0
    assert "built 1 clips" in capsys.readouterr().out


def test_preprocess_reports_failed_clips_and_exits_1(tmp_path, capsys):
    raw = _generic(tmp_path / "raw", {("a", "c1"): 6})
    with open(raw / "annotations.csv", "a") as fh:
        fh.write("synthetic,a,missing,0,1,2,0,100\n")
    code = main(
        [
            "preprocess",
            "--raw",
            str(raw),
            "--format",
            "generic",
            "--out",
            str(tmp_path / "o"),
            "--face",
            "none",
            "--size",
            "32",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "failed synthetic/a/missing" in out and "frame folder not found" in out
    assert "1 clip(s) failed" in out


def test_preprocess_bad_input_messages(tmp_path, capsys):
    assert (
        main(["preprocess", "--raw", str(tmp_path / "none"), "--format", "samm", "--out", str(tmp_path)]) == 1
    )
    assert "raw dataset folder not found" in capsys.readouterr().err
    raw = _generic(tmp_path / "raw", {("a", "c1"): 4})
    code = main(
        [
            "preprocess",
            "--raw",
            str(raw),
            "--format",
            "generic",
            "--out",
            str(tmp_path / "o"),
            "--set",
            "tvl1_wraps=3",
        ]
    )
    assert code == 1 and "has no field 'tvl1_wraps'" in capsys.readouterr().err


def test_preprocess_casme2_layout_with_dlib(tmp_path, capsys):
    pytest.importorskip("dlib", reason="dlib is not installed")
    raw = tmp_path / "CASME2"
    folder = raw / "CASME2_RAW_selected" / "sub05" / "EP19_03f"
    folder.mkdir(parents=True)
    base = cartoon_face(240, 320, scale=0.5, seed=3)
    frames = expression_frames(base, 8, 1, 4, 7, (140, 100), 3.0, (0.0, -1.5), noise_sigma=1.0)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"img{i + 20}.jpg"), frame)
    write_xlsx(
        raw / "CASME2-coding-20140508.xlsx",
        [
            [
                "Subject",
                "Filename",
                "OnsetFrame",
                "ApexFrame",
                "OffsetFrame",
                "Action Units",
                "Estimated Emotion",
            ],
            ["05", "EP19_03f", 21, 24, 27, "1+2", "surprise"],
        ],
    )
    out = tmp_path / "out"
    code = main(
        [
            "preprocess",
            "--raw",
            str(raw),
            "--format",
            "casme2",
            "--out",
            str(out),
            "--face",
            "dlib",
            "--size",
            "96",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr()
    (row,) = _rows(out)
    assert (row["dataset"], row["sub"], row["filename_o"], row["label"]) == (
        "casme2",
        "sub05",
        "EP19_03f",
        "2",
    )
    assert (row["onset"], row["apex"], row["offset"], row["fps"]) == ("1", "4", "7", "200")
    assert all((out / IMAGE_DIR / f"sub05_EP19_03f{k} .png").is_file() for k in ("", "_1", "_2", "_3"))


def test_missing_dlib_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a)
    )
    raw = _generic(tmp_path / "raw", {("a", "c1"): 4})
    code = main(["preprocess", "--raw", str(raw), "--format", "generic", "--out", str(tmp_path / "o"),
                 "--face", "dlib", "--no-progress"])  # fmt: skip
    assert code == 1
    assert 'dlib is not installed; install them with `pip install "causalnet[face]"`' in (
        capsys.readouterr().err
    )


def test_build_records_its_settings(tmp_path):
    """The output folder says how it was made (read by `train --save-model`)."""
    import json

    from causalnet.data.builders.build import PREPROCESS_JSON, Plan, build_dataset

    out = tmp_path / "out"
    build_dataset(Plan(clips=[], skipped=[]), out, progress=False, apex_method="spot")
    data = json.loads((out / PREPROCESS_JSON).read_text())
    assert data["apex_method"] == "spot" and data["preprocess"]["face_method"] == "dlib"
