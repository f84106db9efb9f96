"""Dataset builders: official layouts (fixtures made here), the generic layout, mappings, the writer."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.data.builders import (
    MEGC2019_CLASSES,
    MMEW5_CLASSES,
    build_dataset,
    emotion_to_label,
    read_plan,
)
from causalnet.data.builders.tables import read_rows, read_table, write_xlsx
from causalnet.data.builders.writer import CSV_NAME, IMAGE_DIR, write_index
from causalnet.flow import PreprocessConfig
from causalnet.flow.synthetic import local_displacement, textured_image

FRAME = 40
CFG = PreprocessConfig(face_method="none", face_size=32)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    cv2.setNumThreads(1)


def write_frames(folder: Path, names: list[str], seed: int = 0, peak_at: int | None = None) -> None:
    """Tiny textured frames; with ``peak_at``, a patch moves up to 1.5 px at that frame and back."""
    folder.mkdir(parents=True, exist_ok=True)
    base = textured_image(FRAME, FRAME, seed=seed)
    n = len(names)
    for i, name in enumerate(names):
        k = 0.0 if peak_at is None else max(0.0, 1.0 - abs(i - peak_at) / max(peak_at, n - 1 - peak_at, 1))
        frame = local_displacement(base, (20, 20), 3.0, 1.5 * k, -1.0 * k, radius=6.0) if k else base
        cv2.imwrite(str(folder / name), frame)


# ---------------------------------------------------------------- fixtures in the official layouts


@pytest.fixture
def casme2_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "CASME2"
    frames = raw / "CASME2_RAW_selected"
    write_frames(frames / "sub01" / "EP02_01f", [f"img{i}.jpg" for i in range(46, 61)], seed=1)
    write_frames(frames / "sub02" / "EP01_11f", [f"img{i}.jpg" for i in range(1, 11)], seed=2)
    write_frames(frames / "sub02" / "EP03_02", [f"img{i}.jpg" for i in range(1, 6)], seed=3)
    header = [
        "Subject",
        "Filename",
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        "Action Units",
        "Estimated Emotion",
    ]
    write_xlsx(
        raw / "CASME2-coding-20140508.xlsx",
        [
            header,
            [1, "EP02_01f", 46, 52, 60, "12", "happiness"],
            [2, "EP01_11f", 1, "/", 10, "4+7", "repression"],
            [2, "EP03_02", 1, 3, 5, "1+2", "others"],
            [3, "EP04_01", 5, 8, 12, "4", "disgust"],  # no frame folder
            [1, "EP02_01f_bad", 46, 99, 60, "12", "surprise"],  # folder missing too
        ],
    )
    return raw


@pytest.fixture
def samm_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "SAMM"
    write_frames(raw / "SAMM" / "006" / "006_1_2", [f"006_{i:05d}.jpg" for i in range(5562, 5581)], seed=4)
    write_frames(raw / "SAMM" / "007" / "007_3_1", [f"007_{i:05d}.jpg" for i in range(100, 112)], seed=5)
    write_frames(raw / "SAMM" / "006" / "006_1_3", [f"006_{i:05d}.jpg" for i in range(1, 9)], seed=6)
    header = [
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
        "Duration",
        "Type",
        "Action Units",
        "Notes",
        "Estimated Emotion",
    ]
    write_xlsx(
        raw / "SAMM_Micro_FACS_Codes_v2.xlsx",
        [
            ["SAMM Micro FACS Codes"],
            ["Release 2"],
            [],
            header,
            ["006", "006_1_2", 1, 5562, 5570, 5580, 19, "Micro - 1/2", "R12", "", "Anger"],
            [7, "007_3_1", 3, 100, -1, 111, 12, "Micro - 1/2", "1+2", "", "Surprise"],
            [6, "006_1_3", 1, 1, 4, 8, 8, "Micro - 1/2", "14", "", "Other"],
        ],
    )
    return raw


@pytest.fixture
def smic_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "SMIC"
    write_frames(
        raw / "HS" / "s1" / "micro" / "negative" / "s1_ne_01",
        [f"image{i:06d}.bmp" for i in range(69589, 69600)],
        seed=7,
        peak_at=3,
    )
    write_frames(
        raw / "HS" / "s12" / "micro" / "surprise" / "s12_sur_02",
        [f"image{i:06d}.bmp" for i in range(10, 19)],
        seed=8,
        peak_at=6,
    )
    write_frames(
        raw / "VIS" / "s1" / "micro" / "negative" / "s1_ne_01", ["a1.bmp", "a2.bmp", "a3.bmp"], seed=9
    )
    return raw


@pytest.fixture
def mmew_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "MMEW_Final"
    micro = raw / "Micro_Expression"
    write_frames(micro / "happiness" / "S01_happiness_01", [f"{i}.jpg" for i in range(1, 13)], seed=10)
    write_frames(micro / "anger" / "S02_anger_01", [f"{i}.jpg" for i in range(1, 9)], seed=11)
    write_frames(micro / "others" / "S02_others_01", [f"{i}.jpg" for i in range(1, 9)], seed=12)
    write_xlsx(
        raw / "MMEW_Micro_Exp.xlsx",
        [
            ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "AU", "Estimated Emotion"],
            ["S01", "S01_happiness_01", 1, 6, 12, "6+12", "happiness"],
            ["S02", "S02_anger_01", 2, 4, 8, "4", "anger"],
            ["S02", "S02_others_01", 1, 3, 8, "1", "others"],
        ],
    )
    return raw


@pytest.fixture
def generic_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "mine"
    write_frames(raw / "frames" / "p1" / "take1", [f"{i:04d}.png" for i in range(12)], seed=13)
    write_frames(raw / "frames" / "p2" / "take1", [f"{i:04d}.png" for i in range(8)], seed=14)
    (raw / "annotations.csv").write_text(
        "dataset,subject,clip,onset,apex,offset,label,fps\n"
        "lab,p1,take1,0,5,11,2,120\n"
        "lab,p2,take1,1,,7,happiness,\n"
        "lab,p2,take9,0,2,4,0,120\n"
        "lab,p2,take1,1,3,20,0,120\n"
    )
    return raw


# ---------------------------------------------------------------- readers


def _by_clip(plan):
    return {c.filename_o: c for c in plan.clips}


def test_casme2_reader(casme2_raw):
    plan = read_plan("casme2", casme2_raw)
    clips = _by_clip(plan)
    assert set(clips) == {"EP02_01f", "EP01_11f"}
    a = clips["EP02_01f"]
    assert (a.dataset, a.sub, a.label, a.emotion, a.fps) == ("casme2", "sub01", 1, "happiness", 200.0)
    assert (a.onset, a.apex, a.offset, a.n_frames) == (0, 6, 14, 15)  # frame numbers 46/52/60 -> indexes
    b = clips["EP01_11f"]
    assert (b.sub, b.label, b.apex, b.offset) == ("sub02", 0, None, 9)  # "/" apex: estimated later
    reasons = {s.name: (s.kind, s.reason) for s in plan.skipped}
    assert reasons["casme2/sub02/EP03_02"][0] == "excluded" and "others" in reasons["casme2/sub02/EP03_02"][1]
    assert reasons["casme2/sub03/EP04_01"][0] == "failed"
    assert "frame folder 'EP04_01' not found" in reasons["casme2/sub03/EP04_01"][1]


def test_samm_reader_finds_the_header_below_the_title_block(samm_raw):
    plan = read_plan("samm", samm_raw)
    clips = _by_clip(plan)
    assert set(clips) == {"006_1_2", "007_3_1"}
    assert (clips["006_1_2"].sub, clips["006_1_2"].label, clips["006_1_2"].apex) == ("006", 0, 8)
    assert (clips["007_3_1"].sub, clips["007_3_1"].label, clips["007_3_1"].apex) == ("007", 2, None)
    assert [s.kind for s in plan.skipped] == ["excluded"]


def test_smic_reader_uses_hs_folders_and_published_ids(smic_raw):
    plan = read_plan("smic", smic_raw)
    clips = _by_clip(plan)
    assert set(clips) == {"s01_ne_01", "s12_sur_02"}
    a = clips["s01_ne_01"]
    assert (a.sub, a.label, a.onset, a.apex, a.offset, a.fps) == ("s01", 0, 0, None, 10, 100.0)
    assert clips["s12_sur_02"].label == 2 and clips["s12_sur_02"].sub == "s12"


def test_mmew_reader_three_and_five_classes(mmew_raw):
    three = _by_clip(read_plan("mmew", mmew_raw))
    assert {k: v.label for k, v in three.items()} == {"S01_happiness_01": 1, "S02_anger_01": 0}
    assert three["S02_anger_01"].onset == 1  # frame "2.jpg" is index 1
    five_plan = read_plan("mmew", mmew_raw, scheme="mmew5")
    five = _by_clip(five_plan)
    assert {k: v.label for k, v in five.items()} == {"S01_happiness_01": 2, "S02_others_01": 3}
    assert [s.name for s in five_plan.skipped] == ["mmew/S02/S02_anger_01"]


def test_generic_reader(generic_raw):
    plan = read_plan("generic", generic_raw)
    clips = {(c.sub, c.filename_o): c for c in plan.clips}
    assert set(clips) == {("p1", "take1"), ("p2", "take1")}
    p1 = clips[("p1", "take1")]
    assert (p1.dataset, p1.onset, p1.apex, p1.offset, p1.label, p1.fps) == ("lab", 0, 5, 11, 2, 120.0)
    p2 = clips[("p2", "take1")]
    assert (p2.apex, p2.label, p2.emotion) == (None, 1, "happiness")
    failed = {s.name: s.reason for s in plan.skipped}
    assert "take9: frame folder not found" in failed["lab/p2/take9"]
    assert any("offset index 20 out of range" in r for r in failed.values())


def test_missing_spreadsheet_and_missing_columns_are_clear(tmp_path, casme2_raw):
    with pytest.raises(FileNotFoundError, match="no samm annotation spreadsheet found.*--annotations"):
        read_plan("samm", casme2_raw)
    bad = tmp_path / "bad.csv"
    bad.write_text("Subject,Filename,OnsetFrame\n1,EP02_01f,46\n")
    with pytest.raises(ValueError, match=r"bad.csv: annotation table is missing column\(s\) apex"):
        read_plan("casme2", casme2_raw, annotations=bad)
    with pytest.raises(FileNotFoundError, match="raw dataset folder not found"):
        read_plan("generic", tmp_path / "nowhere")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ValueError, match="old binary Excel .xls format is not supported"):
        read_rows(old)


# ---------------------------------------------------------------- tables and mappings


def test_xlsx_round_trip_and_header_search(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx(
        path,
        [
            ["title"],
            [],
            ["Subject", "On set", None, "Emotion"],
            [7, 46.0, None, "Hap & py"],
            [8, 2.5, "x", " fear "],
        ],
    )
    rows = read_rows(path)
    assert rows[0] == ["title"] and rows[1] == []
    assert rows[3] == ["7", "46", "", "Hap & py"] and rows[4] == ["8", "2.5", "x", "fear"]
    table = read_table(path, {"subject": ("Subject",), "onset": ("Onset",), "emotion": ("Emotion",)})
    assert [r for _, r in table] == [
        {"subject": "7", "onset": "46", "emotion": "Hap & py"},
        {"subject": "8", "onset": "2.5", "emotion": "fear"},
    ]


def test_emotion_maps():
    assert MEGC2019_CLASSES == ("negative", "positive", "surprise")
    for e in ("repression", "anger", "Contempt", "disgust", "fear", "sadness", "negative"):
        assert emotion_to_label(e) == 0
    assert emotion_to_label(" Happiness ") == 1 and emotion_to_label("positive") == 1
    assert emotion_to_label("surprise") == 2
    assert emotion_to_label("others") is None and emotion_to_label("Other") is None
    assert MMEW5_CLASSES == ("disgust", "fear", "happiness", "others", "surprise")
    assert [emotion_to_label(e, "mmew5") for e in MMEW5_CLASSES] == [0, 1, 2, 3, 4]
    assert emotion_to_label("anger", "mmew5") is None and emotion_to_label("sadness", "mmew5") is None
    with pytest.raises(ValueError, match="unknown label scheme"):
        emotion_to_label("fear", "megc5")


# ---------------------------------------------------------------- building the published layout


def _csv_rows(out: Path) -> list[dict[str, str]]:
    with open(out / CSV_NAME, newline="") as fh:
        return list(csv.DictReader(fh))


def test_build_writes_the_published_layout_and_resumes(casme2_raw, tmp_path):
    out = tmp_path / "out"
    plan = read_plan("casme2", casme2_raw)
    report = build_dataset(plan, out, CFG, workers=1, progress=False)
    assert (report.built, report.reused, len(report.failed), len(report.excluded)) == (2, 0, 2, 1)
    names = sorted(p.name for p in (out / IMAGE_DIR).iterdir())
    assert names == sorted(
        f"{s}_{c}{k} .png"
        for s, c in [("sub01", "EP02_01f"), ("sub02", "EP01_11f")]
        for k in ("", "_1", "_2", "_3")
    )
    img = cv2.imread(str(out / IMAGE_DIR / "sub01_EP02_01f .png"))
    assert img.shape == (28, 28, 3) and img.dtype == np.uint8
    rows = _csv_rows(out)
    assert list(rows[0])[:4] == ["dataset", "sub", "filename_o", "label"]
    by_clip = {r["filename_o"]: r for r in rows}
    assert by_clip["EP01_11f"]["apex"] == "4" and by_clip["EP01_11f"]["apex_source"] == "middle"
    assert by_clip["EP02_01f"]["apex_source"] == "annotated" and by_clip["EP02_01f"]["label"] == "1"
    assert "EP04_01" in report.summary() and "excluded 1" in report.summary()

    mtime = (out / IMAGE_DIR / "sub01_EP02_01f .png").stat().st_mtime_ns
    again = build_dataset(plan, out, CFG, workers=1, progress=False)
    assert (again.built, again.reused) == (0, 2)
    assert (out / IMAGE_DIR / "sub01_EP02_01f .png").stat().st_mtime_ns == mtime
    assert _csv_rows(out) == rows
    assert not [p for p in out.rglob("*.tmp")]


def test_built_folder_loads_with_load_composite(samm_raw, generic_raw, tmp_path):
    load_composite = pytest.importorskip("causalnet.data").load_composite
    out = tmp_path / "combined"
    build_dataset(read_plan("samm", samm_raw), out, CFG, progress=False)
    build_dataset(read_plan("generic", generic_raw), out, CFG, progress=False)  # merged into one CSV
    clips = load_composite(out)
    assert sorted(clips.clips.tolist()) == ["006_1_2", "007_3_1", "take1", "take1"]
    assert sorted(clips.subjects.tolist()) == ["006", "007", "p1", "p2"]
    assert clips.x.shape == (4, 4, 3, 28, 28)


def test_smic_apex_spotting_and_failed_clip(smic_raw, tmp_path):
    out = tmp_path / "smic"
    bad = smic_raw / "HS" / "s12" / "micro" / "surprise" / "s12_sur_02" / "image000016.bmp"
    bad.write_bytes(b"broken")
    report = build_dataset(read_plan("smic", smic_raw), out, CFG, apex_method="spot", progress=False)
    assert report.built == 1
    assert len(report.failed) == 1 and "image000016.bmp: unreadable image" in report.failed[0].reason
    (row,) = _csv_rows(out)
    assert row["filename_o"] == "s01_ne_01" and row["apex_source"] == "spotted"
    assert 0 <= int(row["apex"]) <= 10


def test_parallel_build_matches_serial(generic_raw, tmp_path):
    plan = read_plan("generic", generic_raw)
    build_dataset(plan, tmp_path / "serial", CFG, workers=1, progress=False)
    report = build_dataset(plan, tmp_path / "parallel", CFG, workers=2, progress=False)
    assert report.built == 2
    for p in (tmp_path / "serial" / IMAGE_DIR).iterdir():
        assert (cv2.imread(str(p)) == cv2.imread(str(tmp_path / "parallel" / IMAGE_DIR / p.name))).all()


_AFTER_THREADS = """
import sys
import cv2
import numpy as np
from causalnet.data.builders import build_dataset, read_plan
from causalnet.flow import PreprocessConfig

if __name__ == "__main__":
    big = np.zeros((960, 1280, 3), np.uint8)
    for _ in range(5):  # starts OpenCV's worker threads in this process (default thread count)
        cv2.resize(cv2.GaussianBlur(big, (0, 0), 3), (640, 480))
    cfg = PreprocessConfig(face_method="none", face_size=32)
    report = build_dataset(read_plan("generic", sys.argv[1]), sys.argv[2], cfg, workers=2, progress=False)
    print("built", report.built)
"""


def test_parallel_build_after_opencv_threads_does_not_hang(generic_raw, tmp_path):
    """Workers must not be forked from a process whose OpenCV thread pool runs (a fork would hang)."""
    import subprocess
    import sys

    script = tmp_path / "after_threads.py"
    script.write_text(_AFTER_THREADS)
    done = subprocess.run(
        [sys.executable, str(script), str(generic_raw), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "built 2" in done.stdout


def test_write_index_merges_rows(tmp_path):
    write_index(tmp_path, [{"dataset": "a", "sub": "1", "filename_o": "x", "label": 0, "extra_col": "keep"}])
    write_index(
        tmp_path,
        [
            {"dataset": "b", "sub": "2", "filename_o": "y", "label": 2},
            {"dataset": "a", "sub": "1", "filename_o": "x", "label": 1},
        ],
    )
    rows = _csv_rows(tmp_path)
    assert [(r["dataset"], r["label"]) for r in rows] == [("a", "1"), ("b", "2")]
    assert "extra_col" in rows[0]
