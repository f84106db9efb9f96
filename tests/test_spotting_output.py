"""What ``causalnet analyze`` writes, at scale: the timeline in pages with a complete legend and the confidence,
the annotated video as WebM (browsers play it) in real time or with its slow-motion factor in the name and on
screen, frames enlarged so the text is readable; annotations that do not fit the recording."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from causalnet.data.annotations import Interval
from causalnet.flow.frames import FrameFolder
from causalnet.spotting.analyze import Analysis, AnalyzedInterval, check_annotations_fit
from causalnet.spotting.output import (
    VIDEO_MIN_SIDE,
    _legend_handles,
    timeline_names,
    video_name,
    video_plan,
    write_timeline,
    write_video,
)
from causalnet.spotting.spotter import Candidate

NAMES = ["negative", "positive", "surprise"]


def _analysis(n_frames: int, fps: float, intervals: list[AnalyzedInterval], source: str = "rec") -> Analysis:
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.001, n_frames).astype(np.float32)
    for item in intervals:
        signal[item.apex] = 0.02
    candidates = [Candidate(peak=min(n_frames - 1, int(3.3 * fps)), score=0.015, threshold=0.005, kind="blink"),
                  Candidate(peak=min(n_frames - 1, int(5.1 * fps)), score=0.012, threshold=0.005, kind="head motion")]
    return Analysis(subject="s", video="v", source=source, fps=fps, n_frames=n_frames, face_size=32,
                    intervals=intervals, reference=[], candidates=candidates, signal=signal,
                    threshold=np.full(n_frames, 0.005, np.float32), class_names=NAMES, realigned=[], seconds=1.0,
                    cpu_seconds=1.0, flows=0)


def _micro(onset: int, apex: int, offset: int, label: int, p: float) -> AnalyzedInterval:
    probs = [(1 - p) / 2] * 3
    probs[label] = p
    return AnalyzedInterval("micro", onset, apex, offset, 0.02, 0.005, label, probs)


def test_a_long_recording_gets_pages_of_rows_with_a_readable_time_scale(tmp_path):
    fps = 20.0
    n = int(400 * fps)  # 400 s: 14 rows of 30 s, 5 per page -> 3 pages
    items = [_micro(int(t * fps), int(t * fps) + 2, int(t * fps) + 4, k % 3, 0.5 + 0.1 * (k % 5))
             for k, t in enumerate(range(5, 400, 13))]
    analysis = _analysis(n, fps, items)
    truth = [Interval("s", "v", 100, 102, 104, "micro", 0), Interval("s", "v", 3000, 3100, 3200, "macro", None)]
    files = write_timeline(tmp_path / "timeline.png", analysis, truth)
    assert [f.name for f in files] == timeline_names(400.0) == ["timeline.png", "timeline_2.png", "timeline_3.png"]
    heights = [cv2.imread(str(f)).shape for f in files]
    assert heights[0] == heights[1] and heights[2][0] < heights[0][0]  # the last page has 4 rows
    assert heights[0][1] == 1600  # 16 inches at 100 dpi: 30 s per row whatever the length
    short = write_timeline(tmp_path / "short.png", _analysis(200, fps, [_micro(50, 52, 54, 1, 0.9)]))
    assert [f.name for f in short] == ["short.png"]


def test_the_legend_names_every_mark():
    labels = [h.get_label() for h in _legend_handles(NAMES, with_truth=True)]
    for needed in ("spotting signal", "threshold", "negative", "positive", "surprise", "macro / not classified",
                   "blink", "head motion", "ground truth"):
        assert any(needed in label for label in labels), needed
    assert any("confidence" in label for label in labels)
    assert not any("ground truth" in h.get_label() for h in _legend_handles(NAMES, with_truth=False))


def test_video_plan_keeps_real_time_or_states_the_slow_motion():
    assert video_plan(200.0) == (4, 50.0) and video_plan(100.0) == (2, 50.0) and video_plan(25.0) == (1, 25.0)
    assert video_plan(200.0, slow=4) == (1, 50.0) and video_plan(200.0, slow=2) == (2, 50.0)
    for fps in (30.0, 90.0, 100.0, 200.0):
        for slow in (1, 2, 4, 8):
            step, out = video_plan(fps, slow)
            assert out * step * slow == pytest.approx(fps) and out <= 50
    assert video_name() == "annotated.webm" and video_name(4) == "annotated_slow4x.webm"
    with pytest.raises(ValueError, match="slow-motion factor must be a number >= 1"):
        video_plan(200.0, slow=0.5)


def _frames(folder, n: int, size: int = 64) -> FrameFolder:
    folder.mkdir()
    base = np.full((size, size, 3), 128, np.uint8)  # a plain grey frame: the border's colour stands out
    for i in range(n):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), base)
    return FrameFolder(folder)


def _read(path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


def test_the_annotated_video_is_webm_in_real_time_enlarged_and_labelled(tmp_path):
    source = _frames(tmp_path / "f", 80)
    analysis = _analysis(80, 200.0, [_micro(20, 30, 40, 2, 0.9)], str(source.path))
    path = tmp_path / video_name()
    write_video(path, analysis, source)
    assert path.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a Matroska/WebM file
    frames, fps = _read(path)
    assert fps == pytest.approx(50.0) and len(frames) == 20  # every 4th frame at 50 fps: real time
    assert min(frames[0].shape[:2]) >= VIDEO_MIN_SIDE  # 64 px frames enlarged 8x
    inside, outside = frames[30 // 4], frames[0]
    border = inside[2:6, 100:400].reshape(-1, 3).mean(axis=0)  # the class's colour (surprise: green)
    assert border[1] > 100 and border[1] > border[0] + 40 and border[1] > border[2] + 40
    grey = outside[2:6, 100:400].reshape(-1, 3).mean(axis=0)  # no interval: no border
    assert abs(grey[1] - grey[2]) < 15


def test_a_slowed_video_shows_every_frame_and_says_so(tmp_path):
    source = _frames(tmp_path / "f", 40)
    analysis = _analysis(40, 200.0, [], str(source.path))
    path = tmp_path / video_name(4)
    write_video(path, analysis, source, slow=4)
    frames, fps = _read(path)
    assert path.name == "annotated_slow4x.webm" and len(frames) == 40 and fps == pytest.approx(50.0)
    real = tmp_path / video_name()
    write_video(real, analysis, source)
    top_right = (slice(0, 40), slice(300, 512))  # the speed label differs: "slow motion 4x" vs "real time"
    assert np.abs(_read(real)[0][0][top_right].astype(int) - frames[0][top_right].astype(int)).mean() > 1


def test_annotations_beyond_the_recording_name_the_frame_and_the_length():
    ok = [Interval("s", "v", 10, 20, 30, "micro", 0)]
    check_annotations_fit(ok, 31, 100.0)
    bad = [*ok, Interval("s", "v", 500, 510, 520, "micro", 1)]
    with pytest.raises(ValueError) as err:
        check_annotations_fit(bad, 420, 100.0, "truth.csv")
    text = str(err.value)
    assert text.startswith("truth.csv: interval s/v 500-510-520 (micro) ends at frame 520")
    assert "last frame 419: it has 420 frames (4.20 s at 100 fps)" in text and "no longer held" not in text
    assert math.isclose(float(text.split("(")[2].split(" s)")[0]), 5.21)
