"""Spotting micro-expressions in long recordings, then recognising them (spot-then-recognise).

- :mod:`~causalnet.spotting.config` — :class:`SpotConfig`, every spotter setting (durations in seconds).
- :mod:`~causalnet.spotting.signal` — streaming per-frame signals (feature difference, contrast, eye
  change, global motion) over fixed-size frame rings.
- :mod:`~causalnet.spotting.spotter` — :class:`Spotter`: peaks → intervals, blinks and head motion
  dropped, micro vs macro by how long the change lasts.
- :mod:`~causalnet.spotting.recognise` — :class:`Recogniser`: a checkpoint + key-frame ensembling.
- :mod:`~causalnet.spotting.analyze` — :func:`analyze_recording`: one recording, streamed.
- :mod:`~causalnet.spotting.evaluate` — :func:`evaluate_dataset`: every recording of a dataset,
  resumable, pooled metrics (``causalnet spot-eval``).
- :mod:`~causalnet.spotting.output` — intervals.csv / .json, timeline.png, annotated video.
- :mod:`~causalnet.spotting.metrics` — MEGC spotting metrics (IoU ≥ 0.5), STR scores.
- :mod:`~causalnet.data.annotations`, :mod:`~causalnet.spotting.datasets` — the MEGC spotting
  annotation layout and the CAS(ME)², SAMM Long Videos and generic dataset layouts.

See ``docs/spotting.md``.
"""

from causalnet.data.annotations import Interval, read_annotations, write_annotations
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.metrics import iou, match_intervals, spotting_report
from causalnet.spotting.spotter import Spot, Spotter

__all__ = [
    "Interval",
    "Spot",
    "SpotConfig",
    "Spotter",
    "iou",
    "match_intervals",
    "read_annotations",
    "spotting_report",
    "write_annotations",
]
