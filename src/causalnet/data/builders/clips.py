"""What a dataset reader produces: the clips to preprocess and the clips left out, with reasons.

A :class:`ClipRecord` names a clip the way the published composite layout does (``dataset``,
``sub``, ``filename_o``), points at its frame folder and holds key-frame *indexes* into the
folder's frames in natural sort order. ``apex`` may be None: the builder then takes the middle
frame or spots it (see :mod:`causalnet.data.builders.build`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from causalnet.flow.frames import IMAGE_EXTENSIONS, frame_number, list_frames

__all__ = [
    "ClipRecord",
    "DirectoryIndex",
    "Plan",
    "Skip",
    "frame_indexes",
    "parse_frame_number",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ClipRecord:
    """One clip to preprocess.

    Attributes:
        dataset: ``casme2``, ``samm``, ``smic``, ``mmew`` or the generic layout's value.
        sub: subject id as written to the CSV (leading zeros kept).
        filename_o: clip id as written to the CSV; images are named ``<sub>_<filename_o>...``.
        frames_dir: folder of the clip's frames.
        onset, apex, offset: indexes into the folder's frames (natural sort order, from 0);
            ``apex`` None = to be estimated.
        label: class index under the build's label scheme.
        emotion: the annotated emotion (empty when the annotation gives a label directly).
        fps: frame rate.
        n_frames: frames in the folder.
        source: where the clip was read (``annotations.csv:12`` or the frame folder), for messages.
    """

    dataset: str
    sub: str
    filename_o: str
    frames_dir: Path
    onset: int
    apex: int | None
    offset: int
    label: int
    emotion: str = ""
    fps: float = 0.0
    n_frames: int = 0
    source: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """``(dataset, sub, filename_o)``: unique within a built folder."""
        return (self.dataset, self.sub, self.filename_o)

    @property
    def name(self) -> str:
        """``<dataset>/<sub>/<filename_o>`` for messages."""
        return f"{self.dataset}/{self.sub}/{self.filename_o}"


@dataclasses.dataclass(frozen=True)
class Skip:
    """A clip left out: ``kind`` is ``excluded`` (by the label scheme), ``failed`` (bad input) or
    ``unknown`` (an emotion no label scheme knows: see :meth:`Plan.check_labels`)."""

    name: str
    reason: str
    kind: str = "failed"


@dataclasses.dataclass
class Plan:
    """A reader's result: clips to build and clips left out."""

    clips: list[ClipRecord] = dataclasses.field(default_factory=list)
    skipped: list[Skip] = dataclasses.field(default_factory=list)

    def exclude(self, name: str, reason: str) -> None:
        """Record a clip left out by the label scheme."""
        self.skipped.append(Skip(name, reason, "excluded"))

    def fail(self, name: str, reason: str) -> None:
        """Record a clip that cannot be built (bad or missing input)."""
        log.warning("%s: %s", name, reason)
        self.skipped.append(Skip(name, reason, "failed"))

    def unknown_label(self, name: str, reason: str) -> None:
        """Record a clip whose emotion no label scheme knows (a typo?)."""
        self.skipped.append(Skip(name, reason, "unknown"))

    @property
    def unknown(self) -> list[Skip]:
        """Clips whose emotion no label scheme knows."""
        return [s for s in self.skipped if s.kind == "unknown"]

    def check_labels(self, skip_unknown: bool = False, max_listed: int = 10) -> None:
        """Refuse a plan with unknown emotions (ValueError listing them with file and line), or, with
        ``skip_unknown``, leave those clips out with a warning that lists every one."""
        unknown = self.unknown
        if not unknown:
            return
        if not skip_unknown:
            listed = "; ".join(s.reason for s in unknown[:max_listed])
            more = f"; and {len(unknown) - max_listed} more" if len(unknown) > max_listed else ""
            raise ValueError(f"{len(unknown)} clip(s) with an unknown emotion: {listed}{more}. Fix the "
                             "annotations, or pass --skip-unknown-labels to leave these clips out")
        for s in unknown:
            log.warning("leaving out %s: %s", s.name, s.reason)
        self.skipped = [dataclasses.replace(s, reason=f"{s.reason} (left out: --skip-unknown-labels)",
                                            kind="excluded") if s.kind == "unknown" else s for s in self.skipped]

    def check_unique(self) -> None:
        """ValueError when two clips would write the same image files (``<sub>_<clip>``), naming both."""
        from causalnet.data.composite import image_stem

        first: dict[str, ClipRecord] = {}
        for record in self.clips:
            stem = image_stem(record.sub, record.filename_o, record.source or None)
            if stem in first:
                other = first[stem]
                what = "is listed twice" if other.key == record.key else f"would use the same images as {other.name}"
                raise ValueError(f"{record.source or record.name}: clip {record.name} {what} "
                                 f"(first at {other.source or other.name})")
            first[stem] = record


def parse_frame_number(text: str) -> int | None:
    """An annotated frame number (``'46'``, ``'46.0'``) or None for blank / ``/`` / ``-`` / negative."""
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        return None
    if not value.is_integer() or value < 0:
        return None
    return int(value)


def frame_indexes(frames_dir: Path, numbers: dict[str, int | None]) -> tuple[dict[str, int | None], int]:
    """Map annotated frame *numbers* (as in the file names) to indexes into the sorted frames.

    Returns (field → index or None where the number was None, number of frames).

    Raises:
        FileNotFoundError / ValueError: missing or empty folder, or a number not among the frames
        (the message names the folder and the frame numbers it holds).
    """
    files = list_frames(frames_dir)
    by_number: dict[int, int] = {}
    for i, f in enumerate(files):
        n = frame_number(f)
        if n is not None:
            by_number.setdefault(n, i)
    out: dict[str, int | None] = {}
    for field, number in numbers.items():
        if number is None:
            out[field] = None
            continue
        if number not in by_number:
            lo, hi = (min(by_number), max(by_number)) if by_number else (None, None)
            raise ValueError(
                f"{frames_dir}: {field} frame {number} is not among the frames "
                f"(file numbers {lo}..{hi}, {len(files)} files)"
            )
        out[field] = by_number[number]
    return out, len(files)


class DirectoryIndex:
    """Every folder under a root that holds frame images, indexed by folder name (one walk)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: raw dataset folder not found")
        self.by_name: dict[str, list[Path]] = defaultdict(list)
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if any(os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS for f in filenames):
                path = Path(dirpath)
                self.by_name[path.name].append(path)

    def find(self, name: str, parents: Iterable[str] = ()) -> Path | None:
        """The frame folder called ``name``; with ``parents``, one whose parent folder has one of
        those names is preferred. None if there is none (several: the first, with a warning)."""
        candidates = self.by_name.get(name, [])
        wanted = {p.lower() for p in parents}
        if wanted:
            preferred = [c for c in candidates if c.parent.name.lower() in wanted]
            candidates = preferred or candidates
        if not candidates:
            return None
        if len(candidates) > 1:
            log.warning(
                "several frame folders named %s; using %s (others: %s)",
                name,
                candidates[0],
                ", ".join(str(c) for c in candidates[1:3]),
            )
        return candidates[0]

    def all_folders(self) -> list[Path]:
        """Every indexed frame folder, sorted."""
        return sorted(p for paths in self.by_name.values() for p in paths)
