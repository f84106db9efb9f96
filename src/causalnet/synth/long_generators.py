"""Named generators of long recordings, for spotting evaluations that cannot be tuned to one generator.

Two independent families write the same layout (``frames/``, ``videos.csv``, ``annotations.csv``,
``ground_truth.json``; ``causalnet spot-eval --format generic`` reads it):

- ``au*`` — :mod:`causalnet.synth.long` (action-unit motion model, the clip benchmark's faces);
- ``blob*`` — :mod:`causalnet.synth.blobface` (other procedural faces and textures, motion as smooth local
  displacement fields, its own blinks, head turns, lighting changes, talking).

Each named generator is a family plus settings (frame rate, noise, compression, distractors), kept short
(two recordings of 8 micro-expressions each) so that a leave-one-generator-out benchmark stays quick:

=============  ======  ===========================================================================
name           fps     what differs
=============  ======  ===========================================================================
``au``         200     ``synth --long`` as it is (blinks, head moves, flicker bursts, drift)
``au-30``      30      the same model at 30 fps, sensor noise 3, JPEG quality 60 on every frame
``blob``       200     the independent generator: blinks, a head turn, a lighting change, drift
``blob-talk``  60      talking-like mouth motion (2 stretches), 2 lighting changes, JPEG quality 70
``blob-turn``  100     3 head turns (yaw-like and roll), 2 lighting changes, 1 talking stretch, noise 4
=============  ======  ===========================================================================
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from causalnet.synth.blobface import BlobLongConfig, generate_blob_benchmark
from causalnet.synth.long import LongSynthConfig, generate_long_benchmark

__all__ = ["GENERATORS", "FAMILIES", "JpegFrames", "LongGenerator", "event_counts", "generate_long",
           "generator_config"]

log = logging.getLogger(__name__)

FAMILIES = ("au", "blob")


@dataclass(frozen=True)
class LongGenerator:
    """A named long-recording generator: its ``family`` (``au`` or ``blob``), settings of that family's
    config (``LongSynthConfig`` or ``BlobLongConfig`` fields) and JPEG compression (0 = lossless PNG)."""

    name: str
    family: str
    description: str
    settings: dict = field(default_factory=dict)
    jpeg_quality: int = 0


_AU_SHORT = {"n_subjects": 2, "micro_per_recording": 8, "macro_per_recording": 1, "blinks_per_recording": 3,
             "head_moves_per_recording": 1, "flicker_bursts_per_recording": 1}

GENERATORS: dict[str, LongGenerator] = {g.name: g for g in (
    LongGenerator("au", "au", "synth --long (action units), 200 fps", dict(_AU_SHORT)),
    LongGenerator("au-30", "au", "action units at 30 fps, noise 3, JPEG 60",
                  {**_AU_SHORT, "fps": 30.0, "noise_sigma": 3.0}, jpeg_quality=60),
    LongGenerator("blob", "blob", "independent blob faces, 200 fps, blinks, head turn, lighting change",
                  {"n_subjects": 2, "micro_per_recording": 8}),
    LongGenerator("blob-talk", "blob", "blob faces at 60 fps, talking, lighting changes, JPEG 70",
                  {"n_subjects": 2, "micro_per_recording": 8, "fps": 60.0, "talking_per_recording": 2,
                   "light_changes_per_recording": 2, "micro_amplitude_px": (0.6, 1.8)},
                  jpeg_quality=70),
    LongGenerator("blob-turn", "blob", "blob faces at 100 fps, 3 head turns, lighting changes, noise 4",
                  {"n_subjects": 2, "micro_per_recording": 8, "fps": 100.0, "head_turns_per_recording": 3,
                   "light_changes_per_recording": 2, "talking_per_recording": 1, "noise_sigma": 4.0}),
)}


class JpegFrames:
    """A frame transform (picklable): JPEG-encode and decode at ``quality``."""

    def __init__(self, quality: int) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be within [1, 100], got {quality}")
        self.quality = quality

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _generator(name: str) -> LongGenerator:
    if name not in GENERATORS:
        raise ValueError(f"unknown long-recording generator {name!r}; choose from {sorted(GENERATORS)}")
    return GENERATORS[name]


def generator_config(name: str, overrides: dict | None = None) -> LongSynthConfig | BlobLongConfig:
    """The config of generator ``name``: its family's defaults, its settings, then ``overrides``."""
    gen = _generator(name)
    base = LongSynthConfig() if gen.family == "au" else BlobLongConfig()
    return base.with_overrides({**gen.settings, **(overrides or {})})


def generate_long(name: str, out_dir: str | os.PathLike, overrides: dict | None = None, workers: int = 1,
                  progress: bool = False) -> list[dict]:
    """Write the recordings of generator ``name`` (its config with ``overrides``) into ``out_dir``; return
    their ground truth (the family's records)."""
    gen = _generator(name)
    cfg = generator_config(name, overrides)
    if gen.family == "au":
        assert isinstance(cfg, LongSynthConfig)
        post = JpegFrames(gen.jpeg_quality) if gen.jpeg_quality else None
        recordings = generate_long_benchmark(cfg, out_dir, workers=workers, progress=progress, post=post)
    else:
        assert isinstance(cfg, BlobLongConfig)
        if gen.jpeg_quality:
            cfg = cfg.with_overrides({"jpeg_quality": gen.jpeg_quality})
        recordings = generate_blob_benchmark(cfg, out_dir)
    log.info("generator %s: %d recordings in %s", name, len(recordings), out_dir)
    return recordings


def event_counts(recordings: list[dict]) -> dict[str, int]:
    """Events of each kind in recordings of either family (expressions and distractors)."""
    counts: dict[str, int] = {}
    for r in recordings:
        kinds = ([e["type"] for e in r.get("expressions", [])] + [d["kind"] for d in r.get("distractors", [])]
                 + [e["kind"] for e in r.get("events", [])])
        for k in kinds:
            counts[k] = counts.get(k, 0) + 1
    return counts
