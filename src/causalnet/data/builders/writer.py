"""Writer of the published composite layout (SPEC §4), which ``causalnet train`` reads unchanged.

::

    <out>/combined_3_class2_for_optical_flow.csv
    <out>/STSNet_whole_norm_u_v_os/<sub>_<filename_o> .png      (image 0; note the space)
    <out>/STSNet_whole_norm_u_v_os/<sub>_<filename_o>_1 .png    (image 1), _2, _3

The CSV has the published columns ``dataset, sub, filename_o, label`` followed by extra columns
(:data:`INDEX_COLUMNS`): the key-frame indexes used, how the apex was chosen, the frame rate and
the annotated emotion. Every PNG and the CSV are written atomically (a crash never leaves a
half-written file). Writing the CSV merges with an existing one: rows of other clips (e.g. another
dataset built into the same folder earlier) are kept, rows of rebuilt clips are replaced.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from causalnet.data.composite import CSV_NAME, IMAGE_DIR, image_paths
from causalnet.io import restore_cell, write_atomic, write_csv_atomic

__all__ = [
    "CSV_NAME",
    "IMAGE_DIR",
    "INDEX_COLUMNS",
    "clip_done",
    "read_index_rows",
    "write_clip_images",
    "write_index",
]

#: Columns of the written CSV: the published four, then the extras.
INDEX_COLUMNS = (
    "dataset",
    "sub",
    "filename_o",
    "label",
    "onset",
    "apex",
    "offset",
    "apex_source",
    "fps",
    "emotion",
    "n_frames",
)


def clip_done(out: str | os.PathLike, sub: str, clip: str) -> bool:
    """True when all four PNGs of the clip exist in ``out``."""
    return all(p.is_file() for p in image_paths(out, sub, clip))


def write_clip_images(out: str | os.PathLike, sub: str, clip: str, images: np.ndarray) -> list[Path]:
    """Write a clip's four images ``[4, 28, 28, 3]`` uint8 (BGR) as PNGs, each atomically.

    Image 0 is written last, so a clip counts as done (:func:`clip_done`) only when all are there.
    """
    images = np.asarray(images)
    if images.shape[0] != 4 or images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images [4, H, W, 3], got {images.dtype} {images.shape}")
    paths = image_paths(out, sub, clip)
    for k in (1, 2, 3, 0):
        ok, buf = cv2.imencode(".png", images[k])
        if not ok:  # pragma: no cover - encoding a valid uint8 array does not fail
            raise ValueError(f"{paths[k]}: PNG encoding failed")
        data = buf.tobytes()
        write_atomic(paths[k], lambda p, data=data: p.write_bytes(data))
    return paths


def read_index_rows(out: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of an existing CSV in ``out`` (empty if there is none)."""
    path = Path(out) / CSV_NAME
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [{restore_cell(k.strip()): restore_cell((v or "").strip()) for k, v in row.items()
                     if isinstance(k, str)} for row in csv.DictReader(fh)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: the existing clip list cannot be read ({exc}); move it away or fix it") from None


def _row_key(row: Mapping[str, str]) -> tuple[str, str, str]:
    return (row.get("dataset", ""), row.get("sub", ""), row.get("filename_o", ""))


def write_index(out: str | os.PathLike, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write (merge) the clip CSV atomically; returns its path.

    Existing rows keep their order, rows with the same ``(dataset, sub, filename_o)`` as a new row
    are updated by it (columns it lacks keep their old values), new rows are appended.
    Columns: :data:`INDEX_COLUMNS`, then any other column an existing row had.
    """
    merged: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in read_index_rows(out):
        merged[_row_key(row)] = row
    for row in rows:
        text = {k: "" if v is None else str(v) for k, v in row.items()}
        key = _row_key(text)
        merged[key] = {**merged.get(key, {}), **text}  # extra columns of the old row survive
    columns = list(INDEX_COLUMNS)
    for row in merged.values():
        columns.extend(c for c in row if c not in columns)
    path = Path(out) / CSV_NAME
    write_csv_atomic(path, columns, merged.values())  # the one CSV writer: formula cells neutralised
    return path
