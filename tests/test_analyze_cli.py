"""``causalnet analyze`` on a frame folder and on a video file, and ``causalnet spot-eval`` (tiny, fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from causalnet.cli import main

N_FRAMES = 420  # the three micro-expressions of the known recording, no distractor
# the rule spotter with the known recording's eye boxes (the default, learned spotter: test_spotting_logo.py)
SPOT = ["--spot-preset", "classic", "--face", "none", "--fps", "100", "--set", "eye_row=0.35", "--set",
        "eye_distance=0.36", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    models = pytest.importorskip("causalnet.models")
    folder = tmp_path_factory.mktemp("ckpt")
    path = folder / "model.safetensors"
    models.save_checkpoint(path, models.CausalNet(models.CausalNetConfig.preset("compact")),
                           extra={"class_names": ["negative", "positive", "surprise"]})
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, known_recording) -> Path:
    """A generic long-video dataset of one recording: frames/s1/v1/*.png, videos.csv, annotations.csv."""
    rec, frames = known_recording
    root = tmp_path_factory.mktemp("long")
    folder = root / "frames" / "s1" / "v1"
    folder.mkdir(parents=True)
    for i, f in enumerate(frames[:N_FRAMES]):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), f)
    (root / "videos.csv").write_text(f"subject,video,frames,n_frames,fps\ns1,v1,frames/s1/v1,{N_FRAMES},100\n")
    lines = ["subject,video,onset,apex,offset,type,label"]
    lines += [f"s1,v1,{on},{ap},{off},micro,{k}" for k, (on, ap, off, _, _) in enumerate(rec.MICRO)]
    (root / "annotations.csv").write_text("\n".join(lines) + "\n")
    return root


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_analyze_a_frame_folder(checkpoint, dataset, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["analyze", "--frames", str(dataset / "frames" / "s1" / "v1"), "--checkpoint", str(checkpoint),
                 "--out", str(out), "--annotations", str(dataset / "annotations.csv"), "--tta", "2", *SPOT])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 micro" in printed and "spotting micro: TP   3  FP   0  FN   0" in printed
    rows = _rows(out / "intervals.csv")
    assert [r["type"] for r in rows] == ["micro"] * 3
    assert list(rows[0])[:7] == ["subject", "video", "onset", "apex", "offset", "type", "label"]
    for r in rows:
        assert r["subject"] == "s1" and r["video"] == "v1"
        assert float(r["onset_s"]) == pytest.approx(int(r["onset"]) / 100)
        probs = [float(r[f"p_{n}"]) for n in ("negative", "positive", "surprise")]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4) and r["class"] == ("negative", "positive",
                                                                              "surprise")[int(r["label"])]
    doc = json.loads((out / "intervals.json").read_text())
    assert doc["n_frames"] == N_FRAMES and doc["fps"] == 100 and len(doc["annotated"]) == 3
    assert doc["settings"]["recognise"]["tta_k"] == 2 and doc["timing"]["flows"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["micro"]["f1"] == 1.0 and metrics["recognition_tp"]["n"] == 3
    assert cv2.imread(str(out / "timeline.png")) is not None


def test_analyze_a_video_file_writes_an_annotated_video(checkpoint, known_recording, dataset, tmp_path, capsys):
    frames = known_recording[1][:N_FRAMES]
    video = tmp_path / "v1.avi"
    size = frames.shape[1]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 100, (size, size))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    out = tmp_path / "out"
    code = main(["analyze", "--video", str(video), "--checkpoint", str(checkpoint), "--out", str(out),
                 "--video-out", "--tta", "1", "--spot-preset", "classic", "--face", "none", "--set",
                 "eye_row=0.35", "--set", "eye_distance=0.36", "--no-progress", "--annotations",
                 str(dataset / "annotations.csv")])
    assert code == 0  # the video's own frame rate (100)
    doc = json.loads((out / "intervals.json").read_text())
    assert doc["fps"] == pytest.approx(100) and doc["n_frames"] == N_FRAMES and doc["video"] == "v1"
    assert doc["face_method"] == "none"
    assert sum(r["type"] == "micro" for r in doc["intervals"]) >= 2  # lossy MJPG at 96 px: most are found
    # no --subject: a video's intervals are scored against its annotations' subject (s1), not a blank one
    assert doc["subject"] == "s1" and doc["metrics"]["micro"]["tp"] >= 2
    cap = cv2.VideoCapture(str(out / "annotated.webm"))  # WebM: browsers play it
    count = 0
    while cap.read()[0]:
        count += 1
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(50)
    cap.release()
    assert count == N_FRAMES // 2  # real time: every second frame of the 100-fps recording at 50 fps
    printed = capsys.readouterr().out
    assert "x real time" in printed and "annotated.webm" in printed


def test_analyze_spot_only_does_not_classify(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", "--frames", str(dataset / "frames" / "s1" / "v1"), "--out", str(out), "--spot-only",
                 *SPOT]) == 0
    assert "shipped model" not in capsys.readouterr().out
    rows = _rows(out / "intervals.csv")
    assert len(rows) == 3 and all(r["label"] == "" and r["class"] == "" for r in rows)


def test_analyze_without_a_checkpoint_uses_the_shipped_model(dataset, tmp_path, capsys):
    from causalnet.models.shipped import shipped_checkpoint, shipped_notice

    out = tmp_path / "out"
    assert main(["analyze", "--frames", str(dataset / "frames" / "s1" / "v1"), "--out", str(out), "--tta", "1",
                 "--video-out", "--video-slow", "2", *SPOT]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == shipped_notice() and "annotated_slow2x.webm" in printed
    rows = _rows(out / "intervals.csv")
    assert len(rows) == 3 and all(r["class"] in ("negative", "positive", "surprise") for r in rows)
    doc = json.loads((out / "intervals.json").read_text())
    assert doc["settings"]["checkpoint"] == str(shipped_checkpoint()) and doc["timeline"] == ["timeline.png"]
    assert (out / "annotated_slow2x.webm").is_file()
    assert main(["analyze", "--frames", str(dataset / "frames" / "s1" / "v1"), "--out", str(out), "--spot-only",
                 "--checkpoint", str(shipped_checkpoint()), *SPOT]) == 1
    assert "--spot-only and --checkpoint exclude each other" in capsys.readouterr().err


def test_annotations_beyond_the_recording_are_an_error_naming_the_frame_and_the_length(dataset, tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("subject,video,onset,apex,offset,type,label\ns1,v1,100,110,120,micro,0\n"
                     f"s1,v1,{N_FRAMES + 10},{N_FRAMES + 20},{N_FRAMES + 30},micro,1\n")
    args = ["analyze", "--frames", str(dataset / "frames" / "s1" / "v1"), "--out", str(tmp_path / "o"),
            "--spot-only", "--annotations", str(truth), *SPOT]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"ends at frame {N_FRAMES + 30}" in err and f"it has {N_FRAMES} frames (4.20 s at 100 fps)" in err
    assert "no longer held" not in err


def test_analyze_errors_are_one_line(dataset, tmp_path, capsys):
    frames = str(dataset / "frames" / "s1" / "v1")
    assert main(["analyze", "--frames", frames, "--out", str(tmp_path / "o"), "--face", "none"]) == 1
    assert "frame rate is unknown; give it with --fps" in capsys.readouterr().err
    assert main(["analyze", "--frames", frames, "--out", str(tmp_path / "o"), *SPOT, "--annotations",
                 str(dataset / "annotations.csv"), "--video-name", "other"]) == 1
    assert "no interval of video 'other'" in capsys.readouterr().err
    assert main(["analyze", "--frames", frames, "--out", str(tmp_path / "o"), *SPOT, "--set", "window_s=0"]) == 1
    assert "SpotConfig.window_s: must be a finite number in (0.001, 10], got 0" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["analyze", "--frames", frames, "--out", str(tmp_path / "file"), *SPOT]) == 1
    assert "--out names an existing file, not a folder" in capsys.readouterr().err


def test_spot_eval_leave_one_subject_out_and_resume(checkpoint, dataset, tmp_path, capsys):
    models = tmp_path / "loso"
    models.mkdir()
    (models / "s1.safetensors").write_bytes(checkpoint.read_bytes())  # "trained without s1"
    out = tmp_path / "eval"
    args = ["spot-eval", "--data", str(dataset), "--checkpoint-dir", str(models), "--out", str(out), "--tta", "2",
            *SPOT]
    assert main(args) == 0
    first = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["micro"]["tp"] == 3 and metrics["recognition_annotated"]["n"] == 3
    assert (out / "videos" / "s1" / "v1" / "timeline.png").is_file()
    assert "reused" not in first
    assert main(args) == 0
    assert "s1/v1: reused" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["micro"] == metrics["micro"]
    (models / "s1.safetensors").unlink()
    assert main(args) == 1
    assert "no model for test subject 's1'" in capsys.readouterr().err


def test_choices_copy_the_library_constants():
    from causalnet.commands import analyze, options
    from causalnet.flow.config import FACE_METHODS
    from causalnet.spotting.datasets import LONG_FORMATS
    from causalnet.spotting.recognise import POOLINGS

    assert options.FACE_METHODS == FACE_METHODS and analyze.LONG_FORMATS == LONG_FORMATS
    assert analyze.POOLINGS == POOLINGS


def test_spot_eval_subjects_must_have_recordings(dataset, tmp_path, capsys):
    args = ["spot-eval", "--data", str(dataset), "--out", str(tmp_path / "e"), *SPOT]
    assert main([*args, "--subjects", "s1,nobody"]) == 1
    assert "no recording of subject(s) nobody" in capsys.readouterr().err
    assert main([*args, "--subjects", " , "]) == 1
    assert "names no subject" in capsys.readouterr().err


class _Frames:
    """A stand-in recording of ``n`` blank frames (``iter_frames`` and ``name`` as a FrameSource)."""

    path = "rec.mp4"

    def __init__(self, n: int) -> None:
        self.n = n

    def iter_frames(self, gray: bool = False):
        import numpy as np

        for _ in range(self.n):
            yield np.zeros((64, 64), np.uint8)

    def name(self, index: int) -> str:
        return f"rec.mp4#{index}"


def test_the_face_is_searched_for_in_the_first_seconds_and_missing_faces_follow_face_required(monkeypatch, caplog):
    from causalnet.flow.config import PreprocessConfig
    from causalnet.flow.face import FaceNotFoundError, FaceTracker
    from causalnet.spotting.analyze import start_tracker

    tried: list[str] = []

    def prime(self, frame, name="frame"):  # dlib stand-in: a face from frame 30 on
        tried.append(name)
        if int(name.split("#")[1]) < 30:
            raise FaceNotFoundError(f"{name}: no face")
        self.crop.matrix = "found"

    monkeypatch.setattr(FaceTracker, "prime", prime)
    prep = PreprocessConfig(face_method="dlib")
    tracker = start_tracker(_Frames(1000), 100.0, prep)  # 10 tries a second at 100 fps: every 10th frame
    assert tracker.matrix == "found" and tried == ["rec.mp4#0", "rec.mp4#10", "rec.mp4#20", "rec.mp4#30"]

    monkeypatch.setattr(FaceTracker, "prime", lambda self, frame, name="frame": (_ for _ in ()).throw(
        FaceNotFoundError(name)))
    with pytest.raises(FaceNotFoundError, match=r"rec.mp4: no face found by dlib in frames 0-199 \(the first 2.00 s"):
        start_tracker(_Frames(1000), 100.0, prep)
    with caplog.at_level("WARNING"):
        fallback = start_tracker(_Frames(50), 100.0, prep, required=False)  # shorter than the search
    assert fallback.cfg.face_method == "none" and "taken as already cropped faces" in caplog.text
    assert "frames 0-49" in caplog.text
    assert start_tracker(_Frames(5), 100.0, PreprocessConfig(face_method="none")).cfg.face_method == "none"
