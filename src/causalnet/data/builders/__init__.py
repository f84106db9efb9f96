"""Dataset builders: raw clip datasets → the published composite layout (SPEC §4).

- Readers (:mod:`~causalnet.data.builders.official`, :mod:`~causalnet.data.builders.generic`) turn
  a raw folder plus its annotations into a :class:`Plan` of clips (key-frame indexes, labels) and
  the clips left out with their reasons.
- :mod:`~causalnet.data.builders.emotions` — the MEGC 2019 three-class map and the MMEW five-class map.
- :func:`build_dataset` preprocesses the clips in parallel, resumably, into the published layout
  (:mod:`~causalnet.data.builders.writer`), which :func:`causalnet.data.load_composite` reads.

>>> from causalnet.data.builders import read_plan, build_dataset
>>> plan = read_plan("casme2", "/data/CASME2")                       # doctest: +SKIP
>>> report = build_dataset(plan, "/data/casme2_of", workers=2)       # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable

from causalnet.data.builders.build import APEX_METHODS, BuildReport, build_clip, build_dataset
from causalnet.data.builders.clips import ClipRecord, Plan, Skip
from causalnet.data.builders.emotions import (
    LABEL_SCHEMES,
    MEGC2019_CLASSES,
    MEGC2019_MAP,
    MMEW5_CLASSES,
    MMEW5_MAP,
    class_names,
    emotion_to_label,
)
from causalnet.data.builders.generic import read_generic
from causalnet.data.builders.official import FPS, read_casme2, read_mmew, read_samm, read_smic
from causalnet.data.builders.writer import INDEX_COLUMNS, clip_done, write_clip_images, write_index

__all__ = [
    "APEX_METHODS",
    "FORMATS",
    "FPS",
    "INDEX_COLUMNS",
    "LABEL_SCHEMES",
    "MEGC2019_CLASSES",
    "MEGC2019_MAP",
    "MMEW5_CLASSES",
    "MMEW5_MAP",
    "BuildReport",
    "ClipRecord",
    "Plan",
    "Skip",
    "build_clip",
    "build_dataset",
    "class_names",
    "clip_done",
    "emotion_to_label",
    "read_casme2",
    "read_generic",
    "read_mmew",
    "read_plan",
    "read_samm",
    "read_smic",
    "write_clip_images",
    "write_index",
]

#: Raw layout name → reader ``(raw, annotations=None, scheme="megc3") -> Plan``.
FORMATS: dict[str, Callable[..., Plan]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic": read_smic,
    "mmew": read_mmew,
    "generic": read_generic,
}


def read_plan(
    fmt: str,
    raw: str | os.PathLike,
    annotations: str | os.PathLike | None = None,
    scheme: str = "megc3",
    skip_unknown_labels: bool = False,
) -> Plan:
    """Read a raw dataset of layout ``fmt`` (a key of :data:`FORMATS`) into a :class:`Plan`.

    Everything that can be checked without computing is checked here, before any work: names that
    become file names (ValueError with file and line), clips listed twice, and emotions no label
    scheme knows (ValueError listing them, unless ``skip_unknown_labels`` leaves them out with a
    warning).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown raw format {fmt!r}; choose from {sorted(FORMATS)}")
    class_names(scheme)  # validates the scheme name
    plan = FORMATS[fmt](raw, annotations=annotations, scheme=scheme)
    plan.check_unique()
    plan.check_labels(skip_unknown=skip_unknown_labels)
    return plan
