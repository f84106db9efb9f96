"""Files written by ``causalnet analyze``: intervals.csv / intervals.json, signal.csv, timeline.png, an annotated video.

``intervals.csv`` — one row per spotted interval: ``subject, video, onset, apex, offset, type, label``
(the MEGC spotting layout, so ``causalnet spot-eval`` and :func:`read_annotations` read it back),
then ``onset_s, apex_s, offset_s, duration_s`` (seconds), ``score, threshold`` (the contrasted signal
at the peak and the threshold it beat), ``class`` (the class name) and ``p_<class>`` per class.
``intervals.json`` holds the same intervals plus the recording, the settings, every candidate peak
with what was decided about it (blink, head motion, micro, macro), timings, and the metrics when
annotations were given.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from causalnet.data.annotations import ANNOTATION_COLUMNS, Interval
from causalnet.flow.frames import FrameSource
from causalnet.io import atomic_path, write_csv_atomic, write_json_atomic
from causalnet.spotting.analyze import Analysis, AnalyzedInterval

__all__ = ["TIMELINE_ROWS", "TIMELINE_ROW_S", "VIDEO_MAX_FPS", "VIDEO_MIN_SIDE", "interval_rows", "timeline_names",
           "video_name", "video_plan", "write_intervals", "write_timeline", "write_video"]

log = logging.getLogger(__name__)

#: colours of the classes in the plots and the video (matplotlib tab10 order, BGR for OpenCV)
_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _colour(label: int | None) -> str:
    return "#999999" if label is None else _TAB10[label % len(_TAB10)]


def _bgr(label: int | None) -> tuple[int, int, int]:
    hexa = _colour(label).lstrip("#")
    r, g, b = (int(hexa[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def _round(x: float, digits: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def interval_rows(analysis: Analysis, items: list[AnalyzedInterval] | None = None) -> list[dict]:
    """The rows of ``intervals.csv`` (dicts, columns in order)."""
    fps, names = analysis.fps, analysis.class_names
    rows = []
    for item in analysis.intervals if items is None else items:
        row = {"subject": analysis.subject, "video": analysis.video, "onset": item.onset, "apex": item.apex,
               "offset": item.offset, "type": item.type, "label": "" if item.label is None else item.label,
               "onset_s": _round(item.onset / fps, 4), "apex_s": _round(item.apex / fps, 4),
               "offset_s": _round(item.offset / fps, 4), "duration_s": _round((item.offset - item.onset + 1) / fps, 4),
               "score": _round(item.score), "threshold": _round(item.threshold),
               "class": names[item.label] if item.label is not None and names else ""}
        for k, name in enumerate(names):
            row[f"p_{name}"] = _round(item.probabilities[k]) if item.probabilities else ""
        if item.truth is not None:
            row["truth"] = item.truth
        rows.append(row)
    return rows


def write_intervals(out: str | os.PathLike, analysis: Analysis, settings: dict, metrics: dict | None = None) -> None:
    """``intervals.csv`` and ``intervals.json`` in ``out`` (atomically)."""
    out = Path(out)
    rows = interval_rows(analysis)
    columns = [*ANNOTATION_COLUMNS, "onset_s", "apex_s", "offset_s", "duration_s", "score", "threshold", "class",
               *[f"p_{n}" for n in analysis.class_names]]
    write_csv_atomic(out / "intervals.csv", columns, rows)
    doc = {
        "subject": analysis.subject, "video": analysis.video, "source": analysis.source, "fps": analysis.fps,
        "n_frames": analysis.n_frames, "duration_s": _round(analysis.n_frames / analysis.fps, 4),
        "class_names": analysis.class_names, "settings": settings, "intervals": rows,
        "annotated": interval_rows(analysis, analysis.reference),
        "candidates": [{**c.to_dict(), "peak_s": _round(c.peak / analysis.fps, 4), "score": _round(c.score),
                        "threshold": _round(c.threshold), "persistence": _round(c.persistence, 4)}
                       for c in analysis.candidates],
        "face_method": analysis.face_method, "realigned": analysis.realigned,
        "timeline": timeline_names(analysis.n_frames / analysis.fps),
        "timing": {"seconds": _round(analysis.seconds, 3), "cpu_seconds": _round(analysis.cpu_seconds, 3),
                   "frames_per_second": _round(analysis.frames_per_second, 2), "flows": analysis.flows},
    }
    if metrics is not None:
        doc["metrics"] = metrics
    write_signal(out / "signal.csv", analysis)
    write_json_atomic(out / "intervals.json", doc)


def write_signal(path: str | os.PathLike, analysis: Analysis) -> None:
    """``signal.csv``: the per-frame spotting signal and threshold (one row per frame; empty cells where a frame
    has none), what ``causalnet review`` draws on its timeline without re-running the spotter."""
    def cell(v: float) -> str:
        return "" if not np.isfinite(v) else f"{float(v):.6g}"

    write_csv_atomic(path, ["signal", "threshold"],
                     ([cell(a), cell(b)] for a, b in zip(analysis.signal, analysis.threshold, strict=True)))


#: seconds of recording per row of the timeline, and rows per page (one PNG per page: timeline.png,
#: timeline_2.png, ...): the time scale stays readable however long the recording is
TIMELINE_ROW_S = 30.0
TIMELINE_ROWS = 5


def _timeline_rows(duration_s: float, row_s: float) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each row: one row for a recording up to ``row_s`` long, else rows of ``row_s``."""
    if duration_s <= row_s:
        return [(0.0, max(duration_s, 1e-3))]
    count = math.ceil(duration_s / row_s - 1e-9)
    return [(k * row_s, (k + 1) * row_s) for k in range(count)]


def timeline_names(duration_s: float, row_s: float = TIMELINE_ROW_S, rows: int = TIMELINE_ROWS,
                   first: str = "timeline.png") -> list[str]:
    """The file names of the timeline's pages for a recording of ``duration_s`` seconds.

    >>> timeline_names(13.0)
    ['timeline.png']
    >>> timeline_names(600.0)  # 20 rows of 30 s, 5 per page
    ['timeline.png', 'timeline_2.png', 'timeline_3.png', 'timeline_4.png']
    """
    pages = math.ceil(len(_timeline_rows(duration_s, row_s)) / rows)
    stem, suffix = Path(first).stem, Path(first).suffix
    return [first] + [f"{stem}_{k}{suffix}" for k in range(2, pages + 1)]


def _confidence(item: AnalyzedInterval) -> float | None:
    if item.label is None or not item.probabilities:
        return None
    return float(item.probabilities[item.label])


def _legend_handles(names: Sequence[str], with_truth: bool) -> list:
    """The timeline's legend: every mark it may draw (signal, threshold, each class, macro / not classified,
    blinks, head motion, and the ground truth when given)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list = [Line2D([], [], lw=0.8, color="#333333", label="spotting signal (contrast)"),
                     Line2D([], [], lw=0.9, color="#d62728", ls="--", label="threshold")]
    handles += [Patch(color=_colour(k), alpha=0.45, label=f"{n} (shade, label: confidence)")
                for k, n in enumerate(names)]
    handles.append(Patch(color="#999999", alpha=0.35, label="macro / not classified"))
    handles.append(Line2D([], [], ls="", marker="x", color="#555555", label="blink (dropped)"))
    handles.append(Line2D([], [], ls="", marker="+", ms=8, color="#555555", label="head motion (dropped)"))
    if with_truth:
        handles.append(Line2D([], [], lw=4, color="#777777", label="ground truth (micro above, macro below)"))
    return handles


def write_timeline(path: str | os.PathLike, analysis: Analysis, truth: Sequence[Interval] = (),
                   row_s: float = TIMELINE_ROW_S, rows: int = TIMELINE_ROWS) -> list[Path]:
    """The timeline in pages of ``rows`` rows of ``row_s`` seconds: ``path`` is the first page, the others
    ``<stem>_2.png``, ... (:func:`timeline_names`); returns the files written.

    Each row: the contrasted signal and the threshold; the intervals shaded in their class's colour, the
    shade's strength and the label (``class p``) giving the confidence (grey: macro or not classified);
    dropped candidates (× blink, + head motion); the ground truth as bars below the axis. The legend
    names every mark used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fps = analysis.fps
    duration = analysis.n_frames / fps
    t = np.arange(analysis.signal.size) / fps
    top = float(max(np.nanmax(analysis.signal, initial=0.0), np.nanmax(analysis.threshold, initial=0.0), 1e-9))
    names = analysis.class_names or []
    all_rows = _timeline_rows(duration, row_s)
    pages = [all_rows[k: k + rows] for k in range(0, len(all_rows), rows)]
    files = [path.with_name(n) for n in timeline_names(duration, row_s, rows, path.name)]

    handles = _legend_handles(names, bool(truth))
    title = "/".join(x for x in (analysis.subject, analysis.video) if x) or Path(analysis.source).name
    counts = (f"{sum(i.type == 'micro' for i in analysis.intervals)} micro, "
              f"{sum(i.type == 'macro' for i in analysis.intervals)} macro")
    marks = {"blink": ("x", 6), "head motion": ("+", 8)}
    for number, (page, file) in enumerate(zip(pages, files, strict=True), start=1):
        fig, axes = plt.subplots(len(page), 1, figsize=(16, 0.9 + 2.3 * len(page)), squeeze=False)
        for ax, (lo, hi) in zip(axes[:, 0], page, strict=True):
            sel = (t >= lo) & (t <= hi)
            ax.plot(t[sel], analysis.signal[sel], lw=0.7, color="#333333")
            ax.plot(t[sel], analysis.threshold[sel], lw=0.9, color="#d62728", ls="--")
            shown = [i for i in analysis.intervals if i.onset / fps < hi and (i.offset + 1) / fps > lo]
            for k, item in enumerate(shown):
                p = _confidence(item)
                micro = item.type == "micro"
                colour = _colour(item.label if micro else None)
                ax.axvspan(item.onset / fps, (item.offset + 1) / fps, color=colour, lw=0,
                           alpha=0.12 + 0.4 * p if p is not None and micro else 0.3)
                if p is not None and micro:
                    ax.text(item.apex / fps, top * (1.02 if k % 2 == 0 else 1.12), f"{names[item.label]} {p:.2f}",
                            fontsize=7, color=colour, ha="center", va="bottom", clip_on=True)
            for c in analysis.candidates:
                if c.kind in marks and lo <= c.peak / fps <= hi:
                    ax.plot(c.peak / fps, c.score, marks[c.kind][0], color="#555555", ms=marks[c.kind][1])
            for item in truth:
                if item.onset / fps < hi and (item.offset + 1) / fps > lo:
                    y0 = -0.12 * top if item.type == "micro" else -0.22 * top
                    ax.plot([item.onset / fps, (item.offset + 1) / fps], [y0, y0], lw=4, solid_capstyle="butt",
                            color=_colour(item.label) if item.type == "micro" else "#999999")
            ax.set_xlim(lo, hi)
            ax.set_ylim(-0.3 * top if truth else -0.05 * top, 1.25 * top)
            ax.set_ylabel("signal", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", alpha=0.25)
        axes[-1, 0].set_xlabel("time (s)")
        where = f"{page[0][0]:.0f}–{min(page[-1][1], duration):.1f} s of {duration:.1f} s"
        paging = f" — page {number}/{len(pages)}" if len(pages) > 1 else ""
        fig.suptitle(f"{title}: {counts} ({where}{paging})" + (", ground truth below the axis" if truth else ""),
                     fontsize=10, y=1 - 0.05 / fig.get_figheight(), va="top")
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()),
                   ncol=min(len(handles), 5), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
        with atomic_path(file) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    return files


#: the highest frame rate of the annotated video: a faster recording is written in real time with every
#: n-th frame (browsers show at most the screen's rate anyway), or slowed down with every frame
VIDEO_MAX_FPS = 50.0
#: frames are enlarged (by a whole factor) until their shorter side is at least this, so the text is readable
VIDEO_MIN_SIDE = 480


def video_plan(fps: float, slow: float = 1.0, max_fps: float = VIDEO_MAX_FPS) -> tuple[int, float]:
    """``(step, out_fps)``: every ``step``-th frame written at ``out_fps``, so that the video plays ``slow`` times
    slower than real time (1 = real time): ``out_fps × step × slow == fps``.

    >>> video_plan(200.0)          # real time: every 4th frame at 50 fps
    (4, 50.0)
    >>> video_plan(200.0, slow=4)  # 4× slow motion: every frame at 50 fps
    (1, 50.0)
    >>> video_plan(30.0)
    (1, 30.0)
    """
    if not slow >= 1 or not math.isfinite(slow):
        raise ValueError(f"slow-motion factor must be a number >= 1, got {slow}")
    step = max(1, math.ceil(fps / (slow * max_fps) - 1e-9))
    return step, fps / (slow * step)


def video_name(slow: float = 1.0) -> str:
    """``annotated.webm`` in real time, ``annotated_slow4x.webm`` slowed down 4 times.

    >>> video_name(), video_name(4), video_name(2.5)
    ('annotated.webm', 'annotated_slow4x.webm', 'annotated_slow2.5x.webm')
    """
    return "annotated.webm" if slow == 1 else f"annotated_slow{slow:g}x.webm"


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int],
          thickness: int) -> None:
    """Text on a dark box (readable on any face)."""
    import cv2

    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = org
    cv2.rectangle(img, (x - 3, y - h - 4), (x + w + 3, y + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _strip(analysis: Analysis, width: int, height: int) -> np.ndarray:
    """A bar of the whole recording: the intervals in their colours (grey: macro / not classified)."""
    bar = np.full((height, width, 3), 40, np.uint8)
    n = max(analysis.n_frames, 1)
    for item in analysis.intervals:
        x0 = int(item.onset / n * width)
        x1 = max(x0 + 1, int((item.offset + 1) / n * width))
        bar[:, x0:x1] = _bgr(item.label if item.type == "micro" else None)
    return bar


def write_video(path: str | os.PathLike, analysis: Analysis, source: FrameSource, slow: float = 1.0,
                min_side: int = VIDEO_MIN_SIDE) -> None:
    """An annotated copy of the recording as WebM (VP8: browsers play it; OpenCV's wheel writes it), in real
    time or ``slow`` times slower (:func:`video_plan`; the factor is on every frame and belongs in the file
    name, :func:`video_name`). Frames are enlarged to at least ``min_side`` pixels; on them: a border in the
    class's colour and the class with its probability during each interval, the time and frame number, the
    speed, and a bar of the whole recording with the intervals and the current position. Reads the source
    again."""
    import cv2

    step, out_fps = video_plan(analysis.fps, slow)
    speed = "real time" if slow == 1 else f"slow motion {slow:g}x"
    at: dict[int, AnalyzedInterval] = {}
    for item in analysis.intervals:
        for i in range(item.onset, item.offset + 1):
            at.setdefault(i, item)
    writer = None
    strip = None
    with atomic_path(path) as tmp:
        webm = tmp.with_suffix(".webm")
        try:
            for i, frame in enumerate(source.iter_frames()):
                if i % step:
                    continue
                h0, w0 = frame.shape[:2]
                factor = min(8, max(1, math.ceil(min_side / max(1, min(h0, w0)))))
                img = cv2.resize(frame, (w0 * factor, h0 * factor), interpolation=cv2.INTER_CUBIC) if factor > 1 \
                    else frame.copy()
                h, w = img.shape[:2]
                bar_h = max(10, h // 40)
                if writer is None:
                    rate = int(np.clip(w * (h + bar_h) * out_fps * 0.12, 4e5, 8e6))
                    writer = cv2.VideoWriter(str(webm), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"VP80"), out_fps,
                                             (w, h + bar_h), [cv2.VIDEOWRITER_PROP_BITRATE, rate])
                    if not writer.isOpened():
                        raise ValueError(f"{path}: OpenCV cannot write a WebM (VP8) video here")
                    strip = _strip(analysis, w, bar_h)
                scale = max(0.5, min(w, h) / 600)
                thick = max(1, round(2 * scale))
                item = at.get(i)
                if item is not None:
                    colour = _bgr(item.label if item.type == "micro" else None)
                    cv2.rectangle(img, (0, 0), (w - 1, h - 1), colour, max(3, int(6 * scale)))
                    text = item.type
                    if item.label is not None and analysis.class_names:
                        text = f"{analysis.class_names[item.label]} {item.probabilities[item.label]:.2f}"
                    _text(img, text, (int(14 * scale), int(40 * scale)), 1.0 * scale, colour, thick)
                _text(img, f"{i / analysis.fps:.2f} s  frame {i}", (int(14 * scale), h - int(14 * scale)),
                      0.7 * scale, (255, 255, 255), thick)
                (sw, _), _ = cv2.getTextSize(speed, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
                _text(img, speed, (w - sw - int(14 * scale), int(30 * scale)), 0.6 * scale, (255, 255, 255), thick)
                bar = strip.copy()
                x = min(w - 1, int(i / max(analysis.n_frames, 1) * w))
                bar[:, max(0, x - 1): x + 2] = 255
                writer.write(np.vstack([img, bar]))
        finally:
            if writer is not None:
                writer.release()
        if webm.exists():
            os.replace(webm, tmp)
