"""MEGC spotting metrics (IoU, one-to-one matching, pooled F1) and the STR scores, hand-computed."""

from __future__ import annotations

import pytest

from causalnet.data.annotations import Interval, normalise_type, read_annotations, write_annotations
from causalnet.spotting.metrics import iou, match_intervals, recognition_scores, spotting_report


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((10, 19), (10, 19), 1.0),  # identical: 10 frames each
        ((10, 19), (15, 24), 5 / 15),  # frames 15..19 shared, 10..24 in the union
        ((0, 9), (10, 19), 0.0),  # touching, no shared frame
        ((0, 9), (9, 18), 1 / 19),  # one shared frame
        ((0, 99), (25, 74), 50 / 100),  # contained: exactly the 0.5 threshold
        ((0, 0), (0, 0), 1.0),  # one-frame intervals
        ((5, 14), (0, 29), 10 / 30),
    ],
)
def test_iou_counts_frames_inclusively(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_matching_is_one_to_one_and_prefers_the_best_overlap():
    truth = [(100, 139), (300, 339)]
    spotted = [(102, 141), (95, 134), (300, 339), (500, 520)]
    # spot 0: IoU 38/42 with truth 0; spot 1: 35/45; spot 2: 1.0 with truth 1; spot 3: nothing
    assert match_intervals(spotted, truth) == [(0, 0, pytest.approx(38 / 42)), (2, 1, 1.0)]
    assert match_intervals([(0, 99)], [(25, 74)]) == [(0, 0, 0.5)]  # IoU == 0.5 counts
    assert match_intervals([(0, 99)], [(25, 73)]) == []  # 49/100 does not


def test_pooled_report_counts_types_and_recognition():
    truth = [
        Interval("s1", "v1", 100, 120, 139, "micro", 0),
        Interval("s1", "v1", 300, 320, 339, "micro", 1),
        Interval("s1", "v1", 500, 550, 700, "macro", 2),
        Interval("s2", "v2", 50, 60, 79, "micro", 2),
        Interval("s2", "v2", 200, 210, 229, "micro", None),  # "others": spotted, not recognised
    ]
    spotted = [
        Interval("s1", "v1", 102, 120, 141, "micro", 0),  # TP, right class
        Interval("s1", "v1", 95, 118, 134, "micro", 1),  # duplicate of the same truth: FP
        Interval("s1", "v1", 310, 320, 349, "micro", 2),  # IoU 30/50 = 0.6: TP, wrong class
        Interval("s1", "v1", 520, 560, 690, "macro", None),  # macro TP (171 / 201)
        Interval("s2", "v2", 52, 60, 81, "micro", 2),  # TP, right class
        Interval("s2", "v2", 200, 212, 229, "micro", 0),  # TP of an unlabelled truth: not in recognition
        Interval("s2", "v2", 900, 910, 920, "micro", 0),  # FP
    ]
    r = spotting_report(spotted, truth, n_classes=3)
    micro = r["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (4, 2, 0)
    assert micro["precision"] == pytest.approx(4 / 6) and micro["recall"] == 1.0
    assert micro["f1"] == pytest.approx(2 * (4 / 6) / (4 / 6 + 1))
    assert (r["macro"]["tp"], r["macro"]["fp"], r["macro"]["fn"]) == (1, 0, 0)
    assert (r["all"]["tp"], r["all"]["spotted"], r["all"]["truth"]) == (5, 7, 5)
    rec = r["recognition_tp"]
    # pairs (truth, predicted): (0, 0), (1, 2), (2, 2)
    assert rec["n"] == 3 and rec["acc"] == pytest.approx(2 / 3)
    # class 0: P 1, R 1, F1 1; class 1: P 0 (no prediction), R 0, F1 0; class 2: P 1/2, R 1, F1 2/3
    assert rec["uf1"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert rec["uar"] == pytest.approx((1 + 0 + 1) / 3)
    mp, mr = (1 + 0 + 0.5) / 3, (1 + 0 + 1) / 3
    assert rec["analysis_f1"] == pytest.approx(2 * mp * mr / (mp + mr))
    assert r["strs"] == pytest.approx(micro["f1"] * rec["analysis_f1"])


def test_a_video_with_nothing_spotted_still_counts_its_misses():
    truth = [Interval("s1", "v1", 10, 20, 30, "micro", 0), Interval("s2", "v2", 10, 20, 30, "micro", 1)]
    r = spotting_report([Interval("s1", "v1", 10, 20, 30, "micro", 0)], truth, 3)
    assert (r["micro"]["tp"], r["micro"]["fn"], r["videos"]) == (1, 1, 2)


def test_recognition_scores_on_nothing_are_zero():
    assert recognition_scores([], [], 3)["uf1"] == 0.0


def test_annotation_file_round_trip_and_errors(tmp_path):
    rows = [Interval("s01", "s01_r1", 10, 15, 30, "micro", 2), Interval("s01", "s01_r1", 50, 80, 200, "macro", None)]
    path = tmp_path / "annotations.csv"
    write_annotations(path, rows)
    assert read_annotations(path) == rows
    path.write_text("subject,video,onset,apex,offset,type,label\ns1,v1,10,,30,Micro - 1/2,happiness\n")
    (item,) = read_annotations(path)
    assert (item.apex, item.type, item.label) == (20, "micro", 1)
    path.write_text("subject,video,onset,apex,offset,type,label\ns1,v1,30,31,10,micro,0\n")
    with pytest.raises(ValueError, match=r"annotations.csv:2: offset 10 is before onset 30"):
        read_annotations(path)
    path.write_text("subject,video,onset,apex,offset,type,label\ns1,v1,1,2,3,blink,0\n")
    with pytest.raises(ValueError, match="unknown expression type 'blink'"):
        read_annotations(path)
    path.write_text("subject,video,onset,apex,offset,type,label\ns1,v1,1,2,3,micro,7\n")
    with pytest.raises(ValueError, match="label 7 is not a class index"):
        read_annotations(path)


@pytest.mark.parametrize(("text", "kind"), [("micro-expression", "micro"), ("Micro - 1/2", "micro"), ("ME", "micro"),
                                            ("Macro", "macro"), ("macro-expression", "macro"), ("MaE", "macro")])
def test_expression_types_of_the_datasets(text, kind):
    assert normalise_type(text) == kind
