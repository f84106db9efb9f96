"""Reader of the generic raw layout (SPEC §4) — for users' own recordings and converted datasets.

::

    <raw>/annotations.csv           dataset,subject,clip,onset,apex,offset,label,fps
    <raw>/frames/<subject>/<clip>/  frame images (*.png, *.jpg, ...)

``onset``/``apex``/``offset`` are indexes into the clip's frames in natural sort order, from 0
(``apex`` may be blank: estimated by the builder). ``label`` is a class index, or an emotion
name mapped by the label scheme (an unknown name is reported, not silently left out). ``dataset``
and ``fps`` may be blank (``generic``, 0: unknown); a written ``fps`` must be a finite number > 0
(0, negative, NaN: the clip fails, naming file and line). ``dataset``, ``subject`` and ``clip`` must
be safe file-name parts (no ``/``, ``..``, control characters: :func:`causalnet.checks.safe_path_part`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from causalnet.checks import check_fps
from causalnet.data.builders.clips import Plan, parse_frame_number
from causalnet.data.builders.emotions import class_names
from causalnet.data.builders.official import make_record
from causalnet.data.builders.tables import Table

__all__ = ["GENERIC_ALIASES", "read_generic"]

log = logging.getLogger(__name__)

GENERIC_ALIASES = {
    "dataset": ("dataset",),
    "subject": ("subject", "sub"),
    "clip": ("clip", "filename"),
    "onset": ("onset",),
    "apex": ("apex",),
    "offset": ("offset",),
    "label": ("label", "emotion"),
    "fps": ("fps",),
}
_OPTIONAL = ("dataset", "apex", "fps")


def read_generic(raw: str | os.PathLike, annotations: str | os.PathLike | None = None, scheme: str = "megc3") -> Plan:
    """Plan for the generic layout (see the module docstring)."""
    raw = Path(raw)
    if not raw.is_dir():
        raise FileNotFoundError(f"{raw}: raw dataset folder not found")
    table_path = Path(annotations) if annotations else raw / "annotations.csv"
    table = Table.read(table_path, GENERIC_ALIASES, optional=_OPTIONAL)
    n_classes = len(class_names(scheme))
    plan = Plan()
    for line, rec in table:
        where = f"{table_path.name}:{line}"
        dataset = rec.get("dataset") or "generic"
        sub, clip = rec["subject"], rec["clip"]
        name = f"{dataset}/{sub}/{clip}"
        if not sub or not clip:
            plan.fail(name, f"{where}: empty subject or clip")
            continue
        numbers = {k: parse_frame_number(rec.get(k, "")) for k in ("onset", "apex", "offset")}
        for field in ("onset", "offset"):
            if numbers[field] is None:
                plan.fail(name, f"{where}: {field} {rec[field]!r} is not a frame index (whole number >= 0)")
                break
        else:
            raw_label = rec["label"]
            label = parse_frame_number(raw_label)
            if label is not None and label >= n_classes:
                plan.fail(name, f"{where}: label {label} out of range for the {scheme} scheme ({n_classes} classes)")
                continue
            try:  # blank: unknown (0); written: a finite rate > 0 (0, negative, NaN, inf are refused)
                fps = check_fps(rec["fps"], f"{where}: fps") if rec.get("fps") else 0.0
            except ValueError as exc:
                plan.fail(name, str(exc))
                continue
            folder = raw / "frames" / sub / clip
            make_record(
                plan,
                dataset=dataset,
                sub=sub,
                clip=clip,
                frames_dir=folder,
                numbers=numbers,
                emotion="" if label is not None else raw_label,
                scheme=scheme,
                fps=fps,
                by_index=True,
                label=label,
                where=where,
            )
    return plan
