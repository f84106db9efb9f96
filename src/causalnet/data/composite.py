"""Loader of the composite benchmark in its published layout (SPEC §4).

``root/combined_3_class2_for_optical_flow.csv`` lists the clips (``dataset, sub, filename_o,
label``); ``root/STSNet_whole_norm_u_v_os/<sub>_<filename_o> .png`` (note the space) and its
``_1``/``_2``/``_3`` siblings hold the four 28x28 images of each clip. The same layout is written
by ``causalnet preprocess``, so this loader also reads a user's own preprocessed data.

Everything is validated when the CSV is read, before any image is: each ``dataset``, ``sub`` and
``filename_o`` must be a safe file-name part (:func:`causalnet.checks.safe_path_part`: no ``/``,
``..``, control characters, ...), labels must be class indexes, and no two rows may name the same
clip or the same image files. Images must be 8-bit, 3-channel 28x28 PNGs (a grayscale or RGBA
image is an error, not silently converted). Every error names the file and, for the CSV, the line.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from causalnet.checks import check_regular_file, safe_path_part
from causalnet.data.mosaic import IMAGE_SIZE, images_to_input
from causalnet.io import restore_cell

log = logging.getLogger(__name__)

CSV_NAME = "combined_3_class2_for_optical_flow.csv"
IMAGE_DIR = "STSNet_whole_norm_u_v_os"
REQUIRED_COLUMNS = ("dataset", "sub", "filename_o", "label")
IMAGE_SUFFIXES = ("", "_1", "_2", "_3")
CLASS_NAMES = ("negative", "positive", "surprise")
DATASETS = ("casme2", "smic", "samm")


def image_stem(subject: str, clip: str, source: str | None = None) -> str:
    """``<subject>_<clip>``, the common start of a clip's image names; both parts (and the result) must
    be safe file-name parts, else ValueError naming ``source``."""
    subject = safe_path_part(subject, what="subject", source=source)
    stem = f"{subject}_{safe_path_part(clip, what='clip', source=source)}"
    return safe_path_part(stem, what="image name", source=source)


def image_paths(root: str | os.PathLike, subject: str, clip: str) -> list[Path]:
    """The four image paths of a clip, in model order (flow 0->A, flow A->F, direction maps)."""
    folder = Path(root) / IMAGE_DIR
    stem = image_stem(subject, clip)
    return [folder / f"{stem}{suffix} .png" for suffix in IMAGE_SUFFIXES]


@dataclass
class ClipSet:
    """Clips as arrays: ``x`` float32 ``[N, 4, 3, 28, 28]`` (mosaic images, 0-255, BGR), labels and ids.

    ``raw`` keeps the un-mosaicked images ``[N, 4, 28, 28, 3]`` uint8 as read.
    """

    x: np.ndarray
    y: np.ndarray
    subjects: np.ndarray
    datasets: np.ndarray
    clips: np.ndarray
    raw: np.ndarray = field(repr=False)
    root: str = ""
    class_names: tuple[str, ...] = CLASS_NAMES

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subject_list(self) -> list[str]:
        """Subjects in first-appearance order (the fold order)."""
        return list(dict.fromkeys(self.subjects.tolist()))

    def fingerprint(self) -> dict[str, dict[str, str]]:
        """A content fingerprint of what a run reads, per subject: ``{subject: {"clips": h, "labels": h,
        "images": h}}`` (16-hex-digit SHA-256 prefixes of the clip ids with their datasets, the labels and
        the image bytes as read). Computed from the arrays in memory (milliseconds for the composite);
        a resumed run compares it with the one its ``config.json`` stored, so a label or image changed
        since the run started is named, never silently mixed with the old folds."""
        import hashlib

        def digest(*arrays: np.ndarray) -> str:
            h = hashlib.sha256()
            for a in arrays:
                h.update(np.ascontiguousarray(a).tobytes())
                h.update(b"|")
            return h.hexdigest()[:16]

        out = {}
        for subject in self.subject_list():
            rows = self.subjects == subject
            out[subject] = {"clips": digest(np.char.encode(self.clips[rows].astype(str)),
                                            np.char.encode(self.datasets[rows].astype(str))),
                            "labels": digest(self.y[rows].astype(np.int64)),
                            "images": digest(self.raw[rows])}
        return out

    def subset(self, mask: np.ndarray) -> ClipSet:
        """A new ClipSet with the rows selected by a boolean mask or index array."""
        return ClipSet(self.x[mask], self.y[mask], self.subjects[mask], self.datasets[mask], self.clips[mask],
                       self.raw[mask], self.root, self.class_names)


def read_class_names(root: str | os.PathLike) -> tuple[str, ...]:
    """Class names of a folder: from ``preprocess.json`` (written by ``causalnet preprocess``) when it
    names them, else the composite benchmark's three classes."""
    meta = Path(root) / "preprocess.json"
    if meta.is_file():
        from causalnet.io import read_json

        stored = read_json(meta)
        names = stored.get("class_names") if isinstance(stored, dict) else None
        if names:
            if (not isinstance(names, list) or not 2 <= len(names) <= 1000
                    or not all(isinstance(n, str) and n for n in names)):
                raise ValueError(f"{meta}: class_names must be a list of 2 to 1000 non-empty names, got {names!r:.80}")
            return tuple(names)
    return CLASS_NAMES


def read_index(root: str | os.PathLike, class_names: tuple[str, ...] = CLASS_NAMES) -> list[dict[str, str]]:
    """Read and validate the clip CSV: required columns, known labels, names that are safe file-name
    parts, no clip listed twice (errors name the file and line)."""
    path = Path(root) / CSV_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: clip list not found (expected the published composite layout)")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (_header(reader, path) or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; found {columns}")
        rows = []
        first_use: dict[str, tuple[int, str, str]] = {}  # image stem -> (line, sub, clip) of its first use
        for line, row in _numbered_rows(reader, path):
            # restore_cell: a name the CSV writer guarded against spreadsheet formulas ('=x) reads as written (=x)
            row = {k.strip(): restore_cell((v or "").strip()) for k, v in row.items() if isinstance(k, str)}
            for col in REQUIRED_COLUMNS:
                if not row[col]:
                    raise ValueError(f"{path}:{line}: empty {col!r}")
            where = f"{path}:{line}"
            safe_path_part(row["dataset"], what="dataset", source=where)
            stem = image_stem(row["sub"], row["filename_o"], source=where)
            if stem in first_use:
                before, sub, clip = first_use[stem]
                if (sub, clip) == (row["sub"], row["filename_o"]):
                    raise ValueError(f"{where}: clip {sub}/{clip} is listed twice (lines {before} and {line})")
                raise ValueError(f"{where}: clip {row['sub']}/{row['filename_o']} would use the same images "
                                 f"({stem}*.png) as clip {sub}/{clip} on line {before}")
            first_use[stem] = (line, row["sub"], row["filename_o"])
            try:
                label = int(float(row["label"]))
            except (ValueError, OverflowError):
                raise ValueError(f"{path}:{line}: label {row['label']!r} is not a number") from None
            if not 0 <= label < len(class_names) or float(row["label"]) != label:
                raise ValueError(f"{path}:{line}: unknown label {row['label']!r}; expected 0..{len(class_names) - 1} "
                                 f"({', '.join(class_names)})")
            row["label"] = str(label)
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no clips listed")
    return rows


def _header(reader: csv.DictReader, path: Path) -> list[str] | None:
    try:
        return reader.fieldnames
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}:1: malformed CSV header ({exc})") from None


def _numbered_rows(reader: csv.DictReader, path: Path):
    """``(line number, row)`` of a CSV reader (the row's last physical line: its only one unless a
    quoted field spans lines), with decoding and CSV syntax errors naming the file and line."""
    try:
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


def read_image(path: Path) -> np.ndarray:
    """Read one 28x28 8-bit 3-channel image (BGR, as OpenCV reads it) with errors naming the file.

    The file is read as stored: a grayscale, grayscale+alpha, RGBA or 16-bit PNG is an error (OpenCV's
    default would silently convert it).
    """
    path = check_regular_file(path, "image")  # a device (/dev/zero), a FIFO: "not a regular file", not read
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: unreadable image (not a valid PNG?)")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels != 3:
        kind = {1: "grayscale", 2: "grayscale with alpha", 4: "colour with alpha (RGBA)"}.get(channels, "")
        raise ValueError(f"{path}: expected a 3-channel colour image, got {channels} channel(s) {kind}".rstrip())
    if img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit image, got {img.dtype}")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"{path}: expected a {IMAGE_SIZE}x{IMAGE_SIZE} 3-channel image, got {img.shape}")
    return img


def load_composite(root: str | os.PathLike, subjects: list[str] | None = None) -> ClipSet:
    """Load every clip of a folder in the published composite layout (cached per folder and mtime).

    Args:
        root: the folder holding the CSV and the image folder.
        subjects: if given, every one must have at least one clip (a clear error otherwise); all
            clips are still loaded (training uses the other subjects).
    """
    root = Path(root).resolve()
    csv_path = root / CSV_NAME
    mtime = csv_path.stat().st_mtime_ns if csv_path.is_file() else 0
    clips = _load_cached(str(root), mtime)
    if subjects:
        known = set(clips.subjects.tolist())
        unknown = [s for s in subjects if s not in known]
        if unknown:
            raise ValueError(f"{csv_path}: subject(s) {unknown} have no clips")
    return clips


@functools.lru_cache(maxsize=4)
def _load_cached(root: str, mtime: int) -> ClipSet:
    class_names = read_class_names(root)
    rows = read_index(root, class_names)
    raw = np.stack([np.stack([read_image(p) for p in image_paths(root, r["sub"], r["filename_o"])])
                    for r in rows])  # [N, 4, 28, 28, 3]
    x = images_to_input(raw)  # [N, 4, 3, 28, 28] float32 mosaics
    log.info("loaded %d clips of %d subjects from %s", len(rows), len({r["sub"] for r in rows}), root)
    return ClipSet(
        x=x,
        y=np.array([int(r["label"]) for r in rows], dtype=np.int64),
        subjects=np.array([r["sub"] for r in rows]),
        datasets=np.array([r["dataset"] for r in rows]),
        clips=np.array([r["filename_o"] for r in rows]),
        raw=raw,
        root=root,
        class_names=class_names,
    )
