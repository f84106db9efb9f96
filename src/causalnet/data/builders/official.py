"""Readers of the official raw layouts of CASME II, SAMM, SMIC-HS and MMEW.

Each reader walks the raw folder once, reads the annotation spreadsheet (``.xlsx`` or ``.csv``;
found by name under the folder, or given explicitly) and returns a :class:`Plan`: the clips with
key-frame indexes into their frame folders, and the clips left out with the reason.

Expected layouts (the frame folder is found by its name anywhere under the raw folder, the
subject/emotion parent folder breaking ties):

- **CASME II** — ``<raw>/.../sub01/EP02_01f/img46.jpg`` (``CASME2_RAW_selected`` or ``Cropped``
  with ``reg_img46.jpg``); spreadsheet ``CASME2-coding-*.xlsx`` with ``Subject, Filename,
  OnsetFrame, ApexFrame, OffsetFrame, Estimated Emotion``. Frame numbers are those in the file
  names. Output ids: ``sub01`` / ``EP02_01f``. 200 fps.
- **SAMM** — ``<raw>/.../006/006_1_2/006_05562.jpg``; spreadsheet ``SAMM_Micro_FACS_Codes_v2.xlsx``
  (a title block precedes the header row ``Subject, Filename, ..., Onset Frame, Apex Frame,
  Offset Frame, ..., Estimated Emotion``). Output ids: ``006`` / ``006_1_2``. 200 fps.
- **SMIC-HS** — ``<raw>/.../HS/s1/micro/negative/s1_ne_01/image069589.bmp``; no spreadsheet: the
  emotion is the parent folder, the clips are cut at onset and offset (first and last frame) and
  there is no apex annotation. Output ids: ``s01`` / ``s01_ne_01`` (the published naming). 100 fps.
- **MMEW** — ``<raw>/.../Micro_Expression/happiness/<Filename>/1.jpg``; spreadsheet
  ``MMEW_Micro_Exp.xlsx`` with ``Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
  Estimated Emotion``. Output ids: the ``Subject`` / ``Filename`` values. 90 fps.

A missing apex (blank, ``/``, ``-1``) is left as None for the builder to estimate; a missing onset
or offset becomes the first or last frame.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from causalnet.checks import safe_path_part
from causalnet.data.builders.clips import ClipRecord, DirectoryIndex, Plan, frame_indexes, parse_frame_number
from causalnet.data.builders.emotions import emotion_to_label, is_known_emotion
from causalnet.data.builders.tables import Table

__all__ = [
    "FPS",
    "SPREADSHEET_ALIASES",
    "find_annotation_file",
    "make_record",
    "read_casme2",
    "read_mmew",
    "read_samm",
    "read_smic",
]

log = logging.getLogger(__name__)

#: Frame rates of the datasets (SPEC §4; MMEW: 90 fps).
FPS = {"casme2": 200.0, "samm": 200.0, "smic": 100.0, "mmew": 90.0}

#: Accepted header names of the official spreadsheets' columns.
SPREADSHEET_ALIASES = {
    "subject": ("Subject", "Sub"),
    "filename": ("Filename", "File name", "Clip"),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"),
}

#: Name patterns (regular expressions on the lower-cased file name) of each dataset's spreadsheet.
ANNOTATION_PATTERNS = {
    "casme2": (r"casme.?2.*coding|coding.*casme|casme.?2", r"coding"),
    "samm": (r"samm.*(facs|micro)", r"samm"),
    "mmew": (r"mmew.*micro", r"mmew"),
}
_TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".xls")
_SMIC_EMOTIONS = ("negative", "positive", "surprise")
_SMIC_CLIP = re.compile(r"^s(\d+)_(.+)$", re.IGNORECASE)


def find_annotation_file(raw: Path, dataset: str) -> Path:
    """The dataset's annotation spreadsheet under ``raw`` (searched 3 levels deep, by name)."""
    candidates = []
    for depth in range(3):
        candidates.extend(
            p
            for p in sorted(raw.glob("/".join(["*"] * (depth + 1))))
            if p.suffix.lower() in _TABLE_SUFFIXES and p.is_file()
        )
    for pattern in ANNOTATION_PATTERNS[dataset]:
        matches = [p for p in candidates if re.search(pattern, p.name.lower())]
        if matches:
            if len(matches) > 1:
                log.warning(
                    "several %s annotation files; using %s (give --annotations to choose)",
                    dataset,
                    matches[0],
                )
            return matches[0]
    raise FileNotFoundError(
        f"{raw}: no {dataset} annotation spreadsheet found (looked for "
        f"{' or '.join(ANNOTATION_PATTERNS[dataset])} among .xlsx/.csv files); "
        "give its path with --annotations"
    )


def make_record(
    plan: Plan,
    *,
    dataset: str,
    sub: str,
    clip: str,
    frames_dir: Path | None,
    numbers: dict[str, int | None],
    emotion: str,
    scheme: str,
    fps: float,
    by_index: bool = False,
    label: int | None = None,
    where: str = "",
) -> None:
    """Validate one annotated clip and add it to ``plan`` (or record why it is left out).

    ``numbers`` holds ``onset``/``apex``/``offset`` as frame numbers of the file names, or as
    indexes when ``by_index``. ``label`` given directly wins over ``emotion``.

    Raises:
        ValueError: ``dataset``, ``sub`` or ``clip`` is not a safe file-name part (they name the
            output images), naming ``where``.
    """
    from causalnet.data.composite import image_stem

    source = where or (str(frames_dir) if frames_dir is not None else None)
    safe_path_part(dataset, what="dataset", source=source)
    image_stem(sub, clip, source)
    name = f"{dataset}/{sub}/{clip}"
    prefix = f"{where}: " if where else ""
    if label is None:
        label = emotion_to_label(emotion, scheme)
        if label is None:
            if is_known_emotion(emotion):
                plan.exclude(name, f"emotion {emotion!r} is not in the {scheme} classes")
            else:
                plan.unknown_label(name, f"{prefix}unknown emotion {emotion!r} (clip {name})")
            return
    if frames_dir is None:
        plan.fail(name, f"{prefix}frame folder {clip!r} not found under the raw folder")
        return
    try:
        if by_index:
            from causalnet.flow.frames import list_frames

            n_frames = len(list_frames(frames_dir))
            idx = dict(numbers)
        else:
            idx, n_frames = frame_indexes(frames_dir, numbers)
    except (FileNotFoundError, ValueError) as exc:
        plan.fail(name, f"{prefix}{exc}")
        return
    onset = idx.get("onset")
    offset = idx.get("offset")
    onset = 0 if onset is None else onset
    offset = n_frames - 1 if offset is None else offset
    apex = idx.get("apex")
    for field, value in (("onset", onset), ("apex", apex), ("offset", offset)):
        if value is not None and not 0 <= value < n_frames:
            plan.fail(name, f"{prefix}{field} index {value} out of range ({frames_dir} has {n_frames} frames)")
            return
    if not onset < offset or (apex is not None and not onset <= apex <= offset):
        plan.fail(name, f"{prefix}key-frames out of order (onset {onset}, apex {apex}, offset {offset})")
        return
    plan.clips.append(
        ClipRecord(
            dataset=dataset,
            sub=sub,
            filename_o=clip,
            frames_dir=frames_dir,
            onset=onset,
            apex=apex,
            offset=offset,
            label=label,
            emotion=emotion,
            fps=fps,
            n_frames=n_frames,
            source=source or "",
        )
    )


def _subject_id(value: str, fmt: Callable[[int], str]) -> str:
    text = value.strip()
    number = parse_frame_number(text)
    return fmt(number) if number is not None else text


def _spreadsheet_reader(
    dataset: str,
    raw: Path,
    annotations: Path | None,
    scheme: str,
    sub_fmt: Callable[[int], str],
    parents: Callable[[str, dict], list[str]],
) -> Plan:
    raw = Path(raw)
    index = DirectoryIndex(raw)
    table_path = Path(annotations) if annotations else find_annotation_file(raw, dataset)
    table = Table.read(table_path, SPREADSHEET_ALIASES)
    log.info(
        "%s: %d annotated clips in %s, %d frame folders under %s",
        dataset,
        len(table),
        table_path,
        sum(len(v) for v in index.by_name.values()),
        raw,
    )
    plan = Plan()
    for line, rec in table:
        sub = _subject_id(rec["subject"], sub_fmt)
        clip = rec["filename"]
        if not clip:
            plan.fail(f"{dataset}/{sub}/?", f"{table_path}:{line}: empty Filename")
            continue
        numbers = {k: parse_frame_number(rec[k]) for k in ("onset", "apex", "offset")}
        make_record(
            plan,
            dataset=dataset,
            sub=sub,
            clip=clip,
            frames_dir=index.find(clip, parents(sub, rec)),
            numbers=numbers,
            emotion=rec["emotion"],
            scheme=scheme,
            fps=FPS[dataset],
            where=f"{table_path.name}:{line}",
        )
    return plan


def read_casme2(raw: str | os.PathLike, annotations: str | os.PathLike | None = None, scheme: str = "megc3") -> Plan:
    """Plan for a CASME II release (see the module docstring for the layout)."""
    return _spreadsheet_reader(
        "casme2",
        Path(raw),
        Path(annotations) if annotations else None,
        scheme,
        sub_fmt=lambda n: f"sub{n:02d}",
        parents=lambda sub, rec: [sub],
    )


def read_samm(raw: str | os.PathLike, annotations: str | os.PathLike | None = None, scheme: str = "megc3") -> Plan:
    """Plan for a SAMM release (see the module docstring for the layout)."""
    return _spreadsheet_reader(
        "samm",
        Path(raw),
        Path(annotations) if annotations else None,
        scheme,
        sub_fmt=lambda n: f"{n:03d}",
        parents=lambda sub, rec: [sub],
    )


def read_mmew(raw: str | os.PathLike, annotations: str | os.PathLike | None = None, scheme: str = "megc3") -> Plan:
    """Plan for an MMEW release (see the module docstring); ``scheme`` ``mmew5`` gives 5 classes."""
    return _spreadsheet_reader(
        "mmew",
        Path(raw),
        Path(annotations) if annotations else None,
        scheme,
        sub_fmt=lambda n: f"S{n:02d}",
        parents=lambda sub, rec: [rec["emotion"], sub],
    )


def read_smic(raw: str | os.PathLike, annotations: str | os.PathLike | None = None, scheme: str = "megc3") -> Plan:
    """Plan for a SMIC-HS release: clips found by folder (``s<N>/micro/<emotion>/<clip>``).

    The apex is left None (SMIC has no apex annotation). ``annotations`` is not used.
    """
    if annotations:
        log.warning("SMIC-HS has no annotation spreadsheet; ignoring %s", annotations)
    index = DirectoryIndex(raw)
    found = [
        p
        for p in index.all_folders()
        if p.parent.name.lower() in _SMIC_EMOTIONS and p.parent.parent.name.lower() == "micro"
    ]
    hs = [p for p in found if "HS" in p.parts]
    if hs and len(hs) < len(found):
        log.info(
            "smic: using the %d clips under an HS folder (ignoring %d VIS/NIR clips)",
            len(hs),
            len(found) - len(hs),
        )
        found = hs
    plan = Plan()
    if not found:
        raise ValueError(
            f"{raw}: no SMIC clip folders (expected .../s<N>/micro/<negative|positive|surprise>/"
            "<clip>/ with frame images)"
        )
    for folder in found:
        match = _SMIC_CLIP.match(folder.name)
        subject_folder = folder.parent.parent.parent.name
        subject_match = re.match(r"^s(\d+)$", subject_folder, re.IGNORECASE)
        number = int(match.group(1)) if match else (int(subject_match.group(1)) if subject_match else None)
        if number is None:
            plan.fail(f"smic/?/{folder.name}", f"{folder}: cannot tell the subject (expected s<N>_... names)")
            continue
        sub = f"s{number:02d}"
        clip = f"{sub}_{match.group(2)}" if match else f"{sub}_{folder.name}"
        make_record(
            plan,
            dataset="smic",
            sub=sub,
            clip=clip,
            frames_dir=folder,
            numbers={"onset": 0, "apex": None, "offset": None},
            emotion=folder.parent.name.lower(),
            scheme=scheme,
            fps=FPS["smic"],
            by_index=True,
        )
    return plan
