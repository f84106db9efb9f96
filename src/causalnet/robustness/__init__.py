"""Robustness to key-frame errors (paper Sec. 4.2, SPEC §5): the experiment behind Table 4, and more.

- :mod:`~causalnet.robustness.config` — :class:`RobustnessConfig` (σ levels, spotting, runs, noise
  seed, jitter and test-time-ensemble settings) and model specs (``causalnet+jitter+tta``).
- :mod:`~causalnet.robustness.triples` — every key-frame triple an experiment needs per clip.
- :mod:`~causalnet.robustness.inputs` — the four images of any triple from the raw frames, with the
  face found once per clip and the flow images cached on disk per frame pair.
- :mod:`~causalnet.robustness.engine` — :class:`RobustnessRun`: each model trained once per LOSO fold
  on annotated key-frames, tested under every condition; resumable.
- :mod:`~causalnet.robustness.report` — table.md, uf1_vs_sigma.png, predictions.csv, results.json.

>>> from causalnet.data.builders import read_plan
>>> from causalnet.robustness import RobustnessConfig, RobustnessRun, clips_from_plan, parse_model_specs
>>> clips, _ = clips_from_plan(read_plan("generic", "synth_raw"))              # doctest: +SKIP
>>> run = RobustnessRun("runs/rob", clips, prep, RobustnessConfig.preset("quick"),  # doctest: +SKIP
...                     parse_model_specs("causalnet,htnet"), experiments, ("negative", "positive", "surprise"))
>>> run.prepare(workers=2); run.train(workers=2); results = run.finish()        # doctest: +SKIP
"""

from causalnet.robustness.config import (
    SPOTTING,
    ModelSpec,
    RobustnessConfig,
    parse_model_specs,
    sigma_condition,
)
from causalnet.robustness.engine import RobustnessRun, Training, clips_from_plan, pool
from causalnet.robustness.inputs import ClipCache, FaceAligner, InputStore
from causalnet.robustness.triples import ClipInfo, TripleNeeds, clip_triples

__all__ = [
    "SPOTTING",
    "ClipCache",
    "ClipInfo",
    "FaceAligner",
    "InputStore",
    "ModelSpec",
    "RobustnessConfig",
    "RobustnessRun",
    "Training",
    "TripleNeeds",
    "clip_triples",
    "clips_from_plan",
    "parse_model_specs",
    "sigma_condition",
    "pool",
]
