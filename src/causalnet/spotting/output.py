"""Files written by ``causalnet analyze``: intervals.csv / intervals.json, timeline.png, an annotated video.

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
from pathlib import Path

import numpy as np

from causalnet.data.annotations import ANNOTATION_COLUMNS, Interval
from causalnet.flow.frames import FrameSource
from causalnet.io import atomic_path, write_csv_atomic, write_json_atomic
from causalnet.spotting.analyze import Analysis, AnalyzedInterval

__all__ = ["interval_rows", "write_intervals", "write_timeline", "write_video"]

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
        "realigned": analysis.realigned,
        "timing": {"seconds": _round(analysis.seconds, 3), "cpu_seconds": _round(analysis.cpu_seconds, 3),
                   "frames_per_second": _round(analysis.frames_per_second, 2), "flows": analysis.flows},
    }
    if metrics is not None:
        doc["metrics"] = metrics
    write_json_atomic(out / "intervals.json", doc)


def write_timeline(path: str | os.PathLike, analysis: Analysis, truth: list[Interval] = ()) -> None:
    """``timeline.png``: the contrasted signal, the threshold, the intervals coloured by class (grey:
    macro or not classified), dropped candidates (blink ×, head motion +), and the ground truth below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fps = analysis.fps
    t = np.arange(analysis.signal.size) / fps
    width = float(np.clip(analysis.n_frames / fps * 0.6, 8, 40))
    fig, ax = plt.subplots(figsize=(width, 3.6))
    ax.plot(t, analysis.signal, lw=0.7, color="#333333", label="signal (contrast)")
    ax.plot(t, analysis.threshold, lw=0.9, color="#d62728", ls="--", label="threshold")
    top = float(max(analysis.signal.max(initial=0.0), analysis.threshold.max(initial=0.0), 1e-9))
    for item in analysis.intervals:
        ax.axvspan(item.onset / fps, (item.offset + 1) / fps, color=_colour(item.label if item.type == "micro"
                                                                             else None), alpha=0.3, lw=0)
    marks = {"blink": "x", "head motion": "+"}
    for c in analysis.candidates:
        if c.kind in marks:
            ax.plot(c.peak / fps, c.score, marks[c.kind], color="#555555", ms=6)
    for item in truth:
        y0 = -0.12 * top if item.type == "micro" else -0.2 * top
        ax.plot([item.onset / fps, (item.offset + 1) / fps], [y0, y0], lw=4, solid_capstyle="butt",
                color=_colour(item.label) if item.type == "micro" else "#999999")
    names = analysis.class_names or []
    handles = [Patch(color=_colour(k), alpha=0.5, label=n) for k, n in enumerate(names)]
    handles.append(Patch(color="#999999", alpha=0.5, label="macro / unclassified"))
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="upper right", fontsize=7, ncol=2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("spotting signal")
    ax.set_xlim(0, max(t[-1] if t.size else 1.0, 1e-3))
    ax.set_ylim(-0.28 * top if truth else -0.05 * top, 1.15 * top)
    title = "/".join(x for x in (analysis.subject, analysis.video) if x) or Path(analysis.source).name
    ax.set_title(f"{title}: {sum(i.type == 'micro' for i in analysis.intervals)} micro, "
                 f"{sum(i.type == 'macro' for i in analysis.intervals)} macro" + (" (ground truth below)" if truth
                                                                                   else ""), fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_video(path: str | os.PathLike, analysis: Analysis, source: FrameSource, fps: float | None = None) -> None:
    """An annotated copy of the recording (MJPG ``.avi``): a coloured frame border and the class and
    its probability during each interval, the time in seconds in a corner. Reads the source again."""
    import cv2

    fps = fps or analysis.fps
    at: dict[int, AnalyzedInterval] = {}
    for item in analysis.intervals:
        for i in range(item.onset, item.offset + 1):
            at.setdefault(i, item)
    writer = None
    with atomic_path(path) as tmp:
        avi = tmp.with_suffix(".avi")
        try:
            for i, frame in enumerate(source.iter_frames()):
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), min(fps, 120.0), (w, h))
                    if not writer.isOpened():
                        raise ValueError(f"{path}: OpenCV cannot write an MJPG video here")
                img = frame.copy()
                h, w = img.shape[:2]
                scale = max(0.35, w / 640)
                item = at.get(i)
                if item is not None:
                    colour = _bgr(item.label if item.type == "micro" else None)
                    cv2.rectangle(img, (0, 0), (w - 1, h - 1), colour, max(2, int(4 * scale)))
                    text = item.type
                    if item.label is not None and analysis.class_names:
                        text = f"{analysis.class_names[item.label]} {item.probabilities[item.label]:.2f}"
                    cv2.putText(img, text, (int(8 * scale), int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                                colour, max(1, int(2 * scale)), cv2.LINE_AA)
                cv2.putText(img, f"{i / fps:.2f} s", (int(8 * scale), h - int(8 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.45 * scale, (255, 255, 255), 1, cv2.LINE_AA)
                writer.write(img)
        finally:
            if writer is not None:
                writer.release()
        if avi.exists():
            os.replace(avi, tmp)
