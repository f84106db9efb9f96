"""A synthetic benchmark made ready to train on: generate → preprocess → load.

The one pipeline behind ``causalnet demo`` and the sim-to-real pretraining (``train.init=synthetic``).
It equals the documented commands::

    causalnet synth ... --out RAW
    causalnet preprocess --raw RAW --format generic --face none --out FLOW

followed by loading ``FLOW`` as any preprocessed dataset (:func:`causalnet.data.load_composite`): the
synthetic frames are already aligned faces, so they are only resized (``face_method="none"``) before the
TV-L1 flows and direction maps are computed exactly as for real clips.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from causalnet.data import ClipSet, load_composite
from causalnet.data.builders import build_dataset, read_plan
from causalnet.flow.config import PreprocessConfig
from causalnet.synth.config import SynthConfig
from causalnet.synth.generate import generate_benchmark

__all__ = ["STAGES", "SyntheticBenchmark", "synthetic_benchmark"]

log = logging.getLogger(__name__)

#: The stages, in order, as :func:`synthetic_benchmark` names them to ``on_stage`` and in ``seconds``.
STAGES = ("generate", "preprocess")


@dataclass
class SyntheticBenchmark:
    """What :func:`synthetic_benchmark` made.

    Attributes:
        clips: the preprocessed clips, loaded.
        raw: the generated frames and annotations (the generic raw layout).
        flow: the preprocessed dataset (the published composite layout).
        seconds: wall-clock seconds of each stage (:data:`STAGES`).
    """

    clips: ClipSet
    raw: Path
    flow: Path
    seconds: dict[str, float] = field(default_factory=dict)


def synthetic_benchmark(
    synth: SynthConfig,
    raw: str | os.PathLike,
    flow: str | os.PathLike,
    prep: PreprocessConfig | None = None,
    *,
    workers: int = 1,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> SyntheticBenchmark:
    """Generate the benchmark ``synth`` into ``raw``, preprocess it into ``flow`` and load it.

    Args:
        synth: the synthetic benchmark.
        raw, flow: output folders of the two stages.
        prep: preprocessing; its ``face_method`` must be ``none`` (default: ``face_method="none"``,
            ``face_size`` the frames' side, everything else the defaults).
        workers: processes of each stage.
        progress: show the stages' progress bars.
        on_stage: called with each stage's name (:data:`STAGES`) before it starts.

    Raises:
        ValueError: some clip failed to preprocess (the message lists them), or ``prep`` would look for faces.
    """
    prep = prep if prep is not None else PreprocessConfig(face_method="none", face_size=synth.image_size)
    if prep.face_method != "none":
        raise ValueError(f"synthetic frames are aligned faces: face_method must be 'none', got {prep.face_method!r}")
    raw, flow = Path(raw), Path(flow)
    seconds: dict[str, float] = {}

    def stage(name: str) -> float:
        if on_stage is not None:
            on_stage(name)
        log.debug("synthetic benchmark: %s", name)
        return time.perf_counter()

    start = stage("generate")
    generate_benchmark(synth, raw, workers=workers, progress=progress)
    seconds["generate"] = time.perf_counter() - start

    start = stage("preprocess")
    report = build_dataset(read_plan("generic", raw), flow, prep, workers=workers, progress=progress)
    if report.failed:
        raise ValueError(f"{flow}: {len(report.failed)} synthetic clip(s) failed to preprocess: {report.summary()}")
    seconds["preprocess"] = time.perf_counter() - start
    return SyntheticBenchmark(load_composite(flow), raw, flow, seconds)
