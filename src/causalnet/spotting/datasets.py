"""Long-video datasets: the recordings and their annotated intervals, in three layouts.

- ``generic`` — what ``causalnet synth --long`` writes and what you write for your own recordings:
  ``videos.csv`` (``subject, video, frames, n_frames, fps``; ``frames`` a frame folder or a video
  file relative to the csv) and ``annotations.csv`` in the MEGC spotting layout
  (:mod:`causalnet.data.annotations`).
- ``casme2`` — **CAS(ME)²** (30 fps): frames ``rawpic/s15/15_0101disgustingteeth/img1.jpg``
  (any folder name ending in the 4-digit video code after ``<subject>_``, e.g. a cropped copy), and
  the coding workbook ``CAS(ME)^2code_final(Updated).xlsx``: worksheet 1 without a header, columns
  participant, ``<video name>_<expression number>`` (e.g. ``disgust1_1``), onset, apex, offset,
  action units, estimated emotion, expression type (``macro-expression`` / ``micro-expression``),
  self-reported emotion; worksheet 2 maps participant numbers (column 3) to subject folders
  (column 2, ``s15`` or ``15``); worksheet 3 maps video codes (column 1, ``0101``) to video names
  (column 2, ``disgust1``).
- ``samm`` — **SAMM Long Videos** (200 fps): frames ``SAMM_longvideos/006_1/006_1_0001.jpg`` and
  ``SAMM_LongVideos_V3_Release.xlsx`` (a title block, then the header ``Subject, Filename,
  Inducement Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes``; ``Filename``
  ``006_1_2`` = expression 2 of video ``006_1``; ``Type`` ``Micro - 1/2`` or ``Macro``). The long
  videos' sheet has no emotions: when the SAMM micro-expression workbook
  (``SAMM_Micro_FACS_Codes_v2.xlsx``) is found too, micro-expressions get their emotion from it by
  ``Filename``.

Annotated frame *numbers* (1-based in both datasets' file names) are mapped to indexes from 0 by
matching the numbers in the frame file names. An offset of 0 (not annotated) becomes the apex; an
interval without an onset is left out with a warning. Emotions map to classes with the ``megc3``
scheme (``others`` → no class: spotted, not recognised).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from causalnet.checks import safe_path_part
from causalnet.data.annotations import Interval, VideoEntry, normalise_type, read_annotations, read_videos

__all__ = ["FPS", "LONG_FORMATS", "LongDataset", "read_long_dataset"]

log = logging.getLogger(__name__)

#: Layout names accepted by :func:`read_long_dataset`.
LONG_FORMATS = ("generic", "casme2", "samm")
#: Frame rates of the two datasets.
FPS = {"casme2": 30.0, "samm": 200.0}
_CASME_FOLDER = re.compile(r"^s?(\d+)_(\d{4})")


@dataclass
class LongDataset:
    """Recordings and annotated intervals of a long-video dataset (plus what could not be used)."""

    videos: list[VideoEntry]
    truth: list[Interval]
    skipped: list[str] = field(default_factory=list)

    def subjects(self) -> list[str]:
        return sorted({v.subject for v in self.videos})


def _subject_key(text: str) -> str:
    """``s15``, ``S15``, ``15``, ``15.0`` → ``15`` (participant ids compared by number)."""
    digits = re.sub(r"\D", "", str(text).split(".")[0])
    return str(int(digits)) if digits else str(text).strip().lower()


def _map_numbers(frames: Path, numbers: dict[str, int | None], where: str) -> dict[str, int | None]:
    from causalnet.data.builders.clips import frame_indexes

    try:
        return frame_indexes(frames, numbers)[0]
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _interval(ds: LongDataset, entry: VideoEntry, numbers: dict[str, int | None], kind: str, emotion: str,
              where: str) -> None:
    from causalnet.data.builders.emotions import emotion_to_label

    if not numbers.get("onset"):
        ds.skipped.append(f"{where}: no onset")
        return
    if not numbers.get("offset"):
        numbers["offset"] = numbers.get("apex")
    if not numbers.get("offset"):
        ds.skipped.append(f"{where}: neither offset nor apex")
        return
    if not numbers.get("apex"):
        numbers["apex"] = (numbers["onset"] + numbers["offset"]) // 2
    try:
        idx = _map_numbers(entry.frames, numbers, where)
    except ValueError as exc:
        ds.skipped.append(str(exc))
        return
    if idx["offset"] < idx["onset"]:
        ds.skipped.append(f"{where}: offset before onset")
        return
    ds.truth.append(Interval(entry.subject, entry.video, idx["onset"], min(max(idx["apex"], idx["onset"]),
                                                                           idx["offset"]), idx["offset"], kind,
                             emotion_to_label(emotion) if emotion else None))


def _videos_from_folders(root: Path) -> dict[str, Path]:
    from causalnet.data.builders.clips import DirectoryIndex

    return {path.name: path for path in DirectoryIndex(root).all_folders()}


def _number(text: str) -> int | None:
    from causalnet.data.builders.clips import parse_frame_number

    return parse_frame_number(text)


def read_casme2(root: Path, annotations: Path | None = None) -> LongDataset:
    """CAS(ME)² (layout in the module docstring)."""
    from causalnet.data.builders.official import find_annotation_file
    from causalnet.data.builders.tables import read_rows
    from causalnet.flow.frames import list_frames

    book = annotations or find_annotation_file(root, "casme2lv")
    codes = {}  # video name (disgust1) -> code (0101)
    for row in read_rows(book, sheet=2):
        if len(row) >= 2 and re.fullmatch(r"\d{3,4}", row[0].strip()):
            codes[row[1].strip().lower()] = row[0].strip().zfill(4)
    subjects = {}  # participant number -> subject key
    for row in read_rows(book, sheet=1):
        if len(row) >= 3 and row[2].strip() and re.search(r"\d", row[1]):
            subjects[_subject_key(row[2])] = _subject_key(row[1])
    folders = {}
    for name, path in _videos_from_folders(root).items():
        m = _CASME_FOLDER.match(name)
        if m:
            folders[(str(int(m.group(1))), m.group(2))] = path
    ds = LongDataset([], [])
    entries: dict[tuple[str, str], VideoEntry] = {}
    for line, row in enumerate(read_rows(book, sheet=0), start=1):
        where = f"{book}:{line}"
        if len(row) < 8 or not re.search(r"\d", row[0]) or _number(row[2]) is None:
            continue  # a title or blank row
        participant = _subject_key(row[0])
        subject = subjects.get(participant, participant)
        name = row[1].strip().rsplit("_", 1)[0].lower()
        code = codes.get(name)
        if code is None:
            ds.skipped.append(f"{where}: video name {name!r} is not in the naming worksheet")
            continue
        frames = folders.get((subject, code))
        if frames is None:
            ds.skipped.append(f"{where}: no frame folder for subject {subject}, video {code} under {root}")
            continue
        key = (f"s{subject}", f"{subject}_{code}")
        if key not in entries:
            safe_path_part(key[0], what="subject", source=where)
            entries[key] = VideoEntry(key[0], key[1], frames, len(list_frames(frames)), FPS["casme2"])
        try:
            kind = normalise_type(row[7], f"{where}: ")
        except ValueError as exc:
            ds.skipped.append(str(exc))
            continue
        numbers = {"onset": _number(row[2]), "apex": _number(row[3]), "offset": _number(row[4])}
        _interval(ds, entries[key], numbers, kind, row[6], where)
    ds.videos = sorted(entries.values(), key=lambda v: (v.subject, v.video))
    return ds


def read_samm(root: Path, annotations: Path | None = None) -> LongDataset:
    """SAMM Long Videos (layout in the module docstring)."""
    from causalnet.data.builders.official import SPREADSHEET_ALIASES, find_annotation_file
    from causalnet.data.builders.tables import Table
    from causalnet.flow.frames import list_frames

    book = annotations or find_annotation_file(root, "sammlv")
    aliases = {"subject": ("Subject",), "filename": ("Filename",), "onset": ("Onset",), "apex": ("Apex",),
               "offset": ("Offset",), "type": ("Type",)}
    table = Table.read(book, aliases, optional=("apex",))
    emotions: dict[str, str] = {}
    try:
        micro_book = find_annotation_file(root, "samm")
    except FileNotFoundError:
        micro_book = None
    if micro_book is not None and micro_book.resolve() != Path(book).resolve():
        micro = Table.read(micro_book, {"filename": SPREADSHEET_ALIASES["filename"],
                                        "emotion": SPREADSHEET_ALIASES["emotion"]})
        emotions = {rec["filename"].strip(): rec["emotion"] for _, rec in micro}
    folders = _videos_from_folders(root)
    ds = LongDataset([], [])
    entries: dict[str, VideoEntry] = {}
    for line, rec in table:
        where = f"{table.path}:{line}"
        parts = rec["filename"].strip().split("_")
        if len(parts) < 2:
            ds.skipped.append(f"{where}: filename {rec['filename']!r} is not <subject>_<video>_<n>")
            continue
        video = "_".join(parts[:2])
        frames = folders.get(video)
        if frames is None:
            ds.skipped.append(f"{where}: no frame folder {video!r} under {root}")
            continue
        if video not in entries:
            subject = rec["subject"].strip().zfill(3) if rec["subject"].strip().isdigit() else parts[0]
            safe_path_part(subject, what="subject", source=where)
            safe_path_part(video, what="video", source=where)
            entries[video] = VideoEntry(subject, video, frames, len(list_frames(frames)), FPS["samm"])
        try:
            kind = normalise_type(rec["type"], f"{where}: ")
        except ValueError as exc:
            ds.skipped.append(str(exc))
            continue
        numbers = {"onset": _number(rec["onset"]), "apex": _number(rec.get("apex", "")),
                   "offset": _number(rec["offset"])}
        emotion = emotions.get(rec["filename"].strip(), "") if kind == "micro" else ""
        _interval(ds, entries[video], numbers, kind, emotion, where)
    ds.videos = sorted(entries.values(), key=lambda v: (v.subject, v.video))
    return ds


def read_generic(root: Path, annotations: Path | None = None) -> LongDataset:
    """``videos.csv`` + ``annotations.csv`` (MEGC spotting layout) under ``root``."""
    videos = read_videos(root / "videos.csv")
    truth = read_annotations(annotations or root / "annotations.csv")
    known = {(v.subject, v.video) for v in videos}
    unknown = sorted({(t.subject, t.video) for t in truth} - known)
    if unknown:
        raise ValueError(f"{annotations or root / 'annotations.csv'}: videos not in videos.csv: "
                         f"{', '.join('/'.join(u) for u in unknown[:5])}")
    return LongDataset(videos, truth)


def read_long_dataset(fmt: str, root: str | os.PathLike, annotations: str | os.PathLike | None = None) -> LongDataset:
    """Read a long-video dataset of layout ``fmt`` (one of :data:`LONG_FORMATS`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    readers = {"generic": read_generic, "casme2": read_casme2, "samm": read_samm}
    if fmt not in readers:
        raise ValueError(f"unknown long-video layout {fmt!r}; choose from {list(LONG_FORMATS)}")
    ds = readers[fmt](root, Path(annotations) if annotations else None)
    for reason in ds.skipped:
        log.warning("%s", reason)
    if not ds.videos:
        raise ValueError(f"{root}: no annotated recording found in the {fmt} layout")
    return ds
