"""Readers of the long-video layouts (CAS(ME)², SAMM Long Videos, generic) on tiny fixtures.

The real datasets are licensed and absent; the fixtures follow the documented layouts
(``causalnet.spotting.datasets``): frame folders with 1-based frame numbers in the file names and
the coding workbooks (CAS(ME)²: three worksheets, the first without a header; SAMM: a title block
above the header row, emotions in the separate micro-expression workbook).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from causalnet.data.annotations import Interval
from causalnet.data.builders.tables import read_rows, write_xlsx
from causalnet.spotting.datasets import read_long_dataset


def _frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    img = np.full((8, 8, 3), 128, np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), img)


@pytest.fixture
def casme2(tmp_path) -> Path:
    root = tmp_path / "CAS(ME)^2"
    _frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", [f"img{i}.jpg" for i in range(1, 41)])
    _frames(root / "rawpic" / "s16" / "16_0401girlcrashing", [f"img{i}.jpg" for i in range(1, 31)])
    code = [
        [1, "disgust1_1", 5, 8, 12, "4+7", "negative", "micro-expression", "disgust"],
        [1, "disgust1_2", 15, 20, 38, "4", "others", "macro-expression", ""],
        [2, "anger1_1", 3, 6, 0, "12", "positive", "micro-expression", "happy"],  # offset 0 -> the apex
        [2, "anger1_2", 0, 6, 9, "12", "surprise", "micro-expression", ""],  # no onset: left out
        [2, "sad9_1", 3, 6, 9, "1", "surprise", "micro-expression", ""],  # video not in the naming sheet
    ]
    subjects = [["name", "subject", "participant"], ["A", "s15", 1], ["B", "16", 2]]
    naming = [["0101", "disgust1"], ["0401", "anger1"]]
    write_xlsx(root / "CAS(ME)^2code_final(Updated).xlsx", code, "code",
               more_sheets=[("subjects", subjects), ("naming", naming)])
    return root


def test_casme2_long_videos(casme2):
    ds = read_long_dataset("casme2", casme2)
    assert [(v.subject, v.video, v.n_frames, v.fps) for v in ds.videos] == [("s15", "15_0101", 40, 30.0),
                                                                            ("s16", "16_0401", 30, 30.0)]
    assert ds.videos[0].frames == casme2 / "rawpic" / "s15" / "15_0101disgustingteeth"
    assert ds.truth == [
        Interval("s15", "15_0101", 4, 7, 11, "micro", 0),  # frame numbers 5/8/12 -> indexes 4/7/11
        Interval("s15", "15_0101", 14, 19, 37, "macro", None),  # others: no class
        Interval("s16", "16_0401", 2, 5, 5, "micro", 1),
    ]
    assert len(ds.skipped) == 2 and any("no onset" in s for s in ds.skipped)
    assert any("'sad9'" in s for s in ds.skipped)


def test_workbook_sheets_round_trip(tmp_path):
    path = tmp_path / "book.xlsx"
    write_xlsx(path, [["a", 1]], "first", more_sheets=[("second", [["b", 2.5]]), ("third", [[None, "c"]])])
    assert read_rows(path) == [["a", "1"]]
    assert read_rows(path, sheet=1) == [["b", "2.5"]]
    assert read_rows(path, sheet=2) == [["", "c"]]
    with pytest.raises(ValueError, match="no worksheet 4"):
        read_rows(path, sheet=3)


@pytest.fixture
def samm(tmp_path) -> Path:
    root = tmp_path / "SAMMLV"
    _frames(root / "SAMM_longvideos" / "006_1", [f"006_1_{i:04d}.jpg" for i in range(1, 51)])
    _frames(root / "SAMM_longvideos" / "007_3", [f"007_3_{i:04d}.jpg" for i in range(1, 21)])
    header = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
              "Action Units", "Notes"]
    rows = [["SAMM Long Videos"], ["title block"], [], header,
            ["006", "006_1_1", 1, 10, 14, 20, 11, "Micro - 1/2", "R12", ""],
            ["006", "006_1_2", 1, 25, 30, 49, 25, "Macro", "4", ""],
            ["007", "007_3_1", 3, 2, 5, 9, 8, "Micro - 1/2", "1+2", ""],
            ["009", "009_2_1", 3, 2, 5, 9, 8, "Micro - 1/2", "1+2", ""]]  # no frames for 009_2
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", rows)
    micro = [["SAMM"], ["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion"],
             ["006", "006_1_1", 10, 14, 20, "Happiness"], ["007", "007_3_1", 2, 5, 9, "Other"]]
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", micro)
    return root


def test_samm_long_videos(samm):
    ds = read_long_dataset("samm", samm)
    assert [(v.subject, v.video, v.n_frames, v.fps) for v in ds.videos] == [("006", "006_1", 50, 200.0),
                                                                            ("007", "007_3", 20, 200.0)]
    assert ds.truth == [
        Interval("006", "006_1", 9, 13, 19, "micro", 1),  # happiness from the micro workbook
        Interval("006", "006_1", 24, 29, 48, "macro", None),
        Interval("007", "007_3", 1, 4, 8, "micro", None),  # "Other": spotted, not recognised
    ]
    assert len(ds.skipped) == 1 and "009_2" in ds.skipped[0]


def test_generic_layout_and_errors(tmp_path):
    root = tmp_path / "mine"
    _frames(root / "frames" / "a" / "rec1", [f"{i:04d}.png" for i in range(30)])
    (root / "videos.csv").write_text("subject,video,frames,n_frames,fps\na,rec1,frames/a/rec1,30,100\n")
    (root / "annotations.csv").write_text("subject,video,onset,apex,offset,type,label\na,rec1,3,5,9,micro,2\n")
    ds = read_long_dataset("generic", root)
    assert ds.truth == [Interval("a", "rec1", 3, 5, 9, "micro", 2)] and ds.videos[0].fps == 100.0
    (root / "annotations.csv").write_text("subject,video,onset,apex,offset,type,label\nb,rec9,3,5,9,micro,2\n")
    with pytest.raises(ValueError, match="videos not in videos.csv: b/rec9"):
        read_long_dataset("generic", root)
    (root / "videos.csv").write_text("subject,video,frames,n_frames,fps\na,rec1,frames/a/missing,30,100\n")
    with pytest.raises(FileNotFoundError, match="frames 'frames/a/missing' not found"):
        read_long_dataset("generic", root)
    (root / "videos.csv").write_text("subject,video,frames,n_frames,fps\n..,rec1,frames/a/rec1,30,100\n")
    with pytest.raises(ValueError, match=r"videos.csv:2: subject '..' is a relative folder reference"):
        read_long_dataset("generic", root)
    with pytest.raises(ValueError, match="unknown long-video layout"):
        read_long_dataset("casme3", root)
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        read_long_dataset("samm", tmp_path / "nowhere")
