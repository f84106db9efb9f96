"""The MEGC spotting annotation layout: one row per expression interval of a long recording.

``annotations.csv`` columns: ``subject, video, onset, apex, offset, type, label``

- ``onset``, ``apex``, ``offset``: frame indexes from 0 into the recording (natural sort order of a
  frame folder, decoding order of a video); the interval is ``[onset, offset]``, both included.
- ``type``: ``micro`` or ``macro`` (``micro-expression``, ``Micro - 1/2``, ``ME``, ``macro-expression``,
  ``Macro``, ``MaE`` are accepted on reading).
- ``label``: a class index, an emotion name (mapped with the ``megc3`` scheme: negative, positive,
  surprise) or blank (e.g. ``others``: spotted, not recognised).

``videos.csv`` lists the recordings: ``subject, video, frames, n_frames, fps`` (``frames``: the frame
folder or video file, relative to the csv's folder).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from causalnet.io import write_csv_atomic

__all__ = [
    "ANNOTATION_COLUMNS",
    "INTERVAL_TYPES",
    "VIDEO_COLUMNS",
    "Interval",
    "VideoEntry",
    "normalise_type",
    "read_annotations",
    "read_videos",
    "write_annotations",
    "write_videos",
]

ANNOTATION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "type", "label")
VIDEO_COLUMNS = ("subject", "video", "frames", "n_frames", "fps")
#: Interval types, in the order used by reports.
INTERVAL_TYPES = ("micro", "macro")


@dataclass(frozen=True)
class Interval:
    """One annotated (or spotted) expression interval ``[onset, offset]`` of a recording.

    ``label`` is the class index, or None when the expression has no class of the scheme.
    """

    subject: str
    video: str
    onset: int
    apex: int
    offset: int
    type: str = "micro"
    label: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.onset <= self.offset:
            raise ValueError(f"{self.subject}/{self.video}: interval onset {self.onset} > offset {self.offset}")
        if self.type not in INTERVAL_TYPES:
            raise ValueError(f"{self.subject}/{self.video}: unknown interval type {self.type!r}")

    @property
    def length(self) -> int:
        """Frames in ``[onset, offset]``."""
        return self.offset - self.onset + 1

    def as_row(self) -> dict:
        return {"subject": self.subject, "video": self.video, "onset": self.onset, "apex": self.apex,
                "offset": self.offset, "type": self.type, "label": "" if self.label is None else self.label}


@dataclass(frozen=True)
class VideoEntry:
    """One recording of a long-video dataset: where its frames are and its frame rate (0 = unknown)."""

    subject: str
    video: str
    frames: Path
    n_frames: int
    fps: float


def normalise_type(text: str, where: str = "") -> str:
    """``micro`` or ``macro`` from the spellings used by the datasets; ValueError otherwise."""
    key = re.sub(r"[^a-z]", "", str(text).lower())
    if key.startswith("micro") or key == "me":
        return "micro"
    if key.startswith("macro") or key == "mae":
        return "macro"
    raise ValueError(f"{where}unknown expression type {text!r} (expected micro or macro)")


def _label(text: str, scheme: str, where: str) -> int | None:
    from causalnet.data.builders.emotions import class_names, emotion_to_label

    text = str(text).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        value = int(text)
        n = len(class_names(scheme))
        if not 0 <= value < n:
            raise ValueError(f"{where}label {value} is not a class index 0..{n - 1}")
        return value
    return emotion_to_label(text, scheme)


def _index(text: str, field: str, where: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}{field} {text!r} is not a frame index") from None
    if not value.is_integer() or value < 0:
        raise ValueError(f"{where}{field} {text!r} is not a frame index (an integer >= 0)")
    return int(value)


def read_annotations(path: str | os.PathLike, scheme: str = "megc3") -> list[Interval]:
    """Read an annotation file in the MEGC spotting layout (``.csv`` or ``.xlsx``).

    Errors name the file, the line and the field.
    """
    from causalnet.data.builders.tables import Table

    aliases = {c: (c,) for c in ANNOTATION_COLUMNS}
    aliases["label"] = ("label", "emotion", "class")
    table = Table.read(path, aliases, optional=("apex", "label"))
    out = []
    for line, rec in table:
        where = f"{table.path}:{line}: "
        onset = _index(rec["onset"], "onset", where)
        offset = _index(rec["offset"], "offset", where)
        apex = _index(rec["apex"], "apex", where) if rec.get("apex") else (onset + offset) // 2
        if offset < onset:
            raise ValueError(f"{where}offset {offset} is before onset {onset}")
        out.append(Interval(rec["subject"], rec["video"], onset, apex, offset,
                            normalise_type(rec["type"], where), _label(rec.get("label", ""), scheme, where)))
    return out


def write_annotations(path: str | os.PathLike, rows: list[dict] | list[Interval]) -> None:
    """Write intervals (dicts with the layout's keys, or :class:`Interval`) atomically."""
    dicts = [r.as_row() if isinstance(r, Interval) else r for r in rows]
    write_csv_atomic(path, ANNOTATION_COLUMNS, dicts)


def write_videos(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write ``videos.csv`` (keys of :data:`VIDEO_COLUMNS`) atomically."""
    write_csv_atomic(path, VIDEO_COLUMNS, rows)


def read_videos(path: str | os.PathLike) -> list[VideoEntry]:
    """Read ``videos.csv``; ``frames`` paths are resolved against the file's folder and must exist;
    ``subject`` and ``video`` must be usable as folder names (:func:`causalnet.checks.safe_path_part`)."""
    from causalnet.checks import check_fps, safe_path_part
    from causalnet.data.builders.tables import Table

    table = Table.read(path, {c: (c,) for c in VIDEO_COLUMNS}, optional=("n_frames", "fps"))
    out = []
    for line, rec in table:
        where = f"{table.path}:{line}: "
        for field in ("subject", "video"):  # they name the recording's output folder
            safe_path_part(rec[field], what=field, source=f"{table.path}:{line}")
        frames = (table.path.parent / rec["frames"]).resolve()
        if not frames.exists():
            raise FileNotFoundError(f"{where}frames {rec['frames']!r} not found ({frames})")
        # blank: unknown (--fps gives it); written: a finite rate > 0 (0, negative, NaN, inf are errors)
        fps = check_fps(rec["fps"], f"{table.path}:{line}: fps") if rec.get("fps") else 0.0
        n = _index(rec["n_frames"], "n_frames", where) if rec.get("n_frames") else 0
        out.append(VideoEntry(rec["subject"], rec["video"], frames, n, fps))
    return out
