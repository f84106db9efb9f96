"""Which key-frame triples a robustness experiment needs for each clip.

Every input row of the experiment is one clip's four images computed from one key-frame triple.
A row is named by a :data:`RowKey` ``(kind, run, k)``:

- ``("annotated", 0, 0)`` — the annotated key-frames (training inputs, and condition ``sigma0``);
- ``("jitter", run, j)``, ``j = 1..V`` — training-time jitter variants of run ``run``;
- ``(condition, run, k)`` — test inputs of a condition (``sigma<σ>`` or ``spotting``) in run ``run``:
  ``k = 0`` is the condition's triple, ``k = 1..K-1`` the test-time ensemble around it.

Every triple is a pure function of the clip, the configuration and the seeds (the streams of
:func:`causalnet.keyframes.clip_rng` are keyed by the clip id and a tag), so the preprocessing
workers and the main process derive the same triples independently, in any order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from causalnet.keyframes import Keyframes, keyframes_around_apex
from causalnet.robustness.config import SPOTTING, RobustnessConfig

__all__ = ["ANNOTATED", "JITTER", "ClipInfo", "RowKey", "TripleNeeds", "annotated_keyframes", "clip_triples",
           "spotted_keyframes"]

log = logging.getLogger(__name__)

ANNOTATED = "annotated"
JITTER = "jitter"
TTA_TAG = "tta"

RowKey = tuple[str, int, int]


@dataclass(frozen=True)
class ClipInfo:
    """One clip of the experiment, as read by a dataset builder.

    Attributes:
        index: position in the experiment's clip list.
        dataset, sub, clip: ids (``sub`` is the LOSO subject).
        frames_dir: folder of the clip's frames (natural sort order).
        n_frames: frames in the folder.
        fps: frame rate (0 = unknown: the error model's reference rate is assumed).
        label: class index.
        onset, apex, offset: annotated indexes; ``apex`` None = not annotated (SMIC).
    """

    index: int
    dataset: str
    sub: str
    clip: str
    frames_dir: str
    n_frames: int
    fps: float
    label: int
    onset: int
    apex: int | None
    offset: int

    @property
    def key(self) -> tuple[str, str, str]:
        """``(dataset, sub, clip)``: the clip id that seeds its key-frame errors."""
        return (self.dataset, self.sub, self.clip)

    @property
    def name(self) -> str:
        return "/".join(self.key)

    def rate(self, reference_fps: float) -> float:
        """The frame rate used to scale σ (the reference rate when unknown)."""
        return self.fps if self.fps > 0 else reference_fps


@dataclass(frozen=True)
class TripleNeeds:
    """What the experiment's model specs need beyond the test conditions' own triples.

    Attributes:
        runs: number of runs (each draws its own errors).
        jitter: some spec trains with jitter augmentation.
        tta: some spec uses the test-time ensemble.
    """

    runs: int
    jitter: bool = False
    tta: bool = False


def annotated_keyframes(info: ClipInfo, spotted_apex: int | None, apex_method: str) -> Keyframes:
    """The clip's annotated key-frames; a missing apex is the middle frame or the spotted one."""
    apex = info.apex
    if apex is None:
        if apex_method == "spot":
            if spotted_apex is None:
                raise ValueError(f"{info.name}: no apex annotation and no spotted apex")
            apex = spotted_apex
        else:
            apex = (info.onset + info.offset) // 2
    return Keyframes(info.onset, apex, info.offset).validate(info.n_frames, require_order=False)


def spotted_keyframes(info: ClipInfo, spotted_apex: int, rcfg: RobustnessConfig) -> Keyframes:
    """Key-frames of the spotting condition: the spotted apex, onset/offset = apex ∓ the spotter's window."""
    return keyframes_around_apex(spotted_apex, info.n_frames, rcfg.spotter_config(), info.rate(rcfg.reference_fps))


def clip_triples(info: ClipInfo, annotated: Keyframes, spotted: Keyframes | None, rcfg: RobustnessConfig,
                 needs: TripleNeeds) -> dict[RowKey, Keyframes]:
    """Every key-frame triple the experiment uses for one clip, by row key (see the module docstring)."""
    n, fps, key = info.n_frames, info.rate(rcfg.reference_fps), info.key
    rows: dict[RowKey, Keyframes] = {(ANNOTATED, 0, 0): annotated}
    tta_noise = rcfg.noise(rcfg.tta_sigma)
    for run in range(needs.runs):
        seed = rcfg.noise_seed + run
        if needs.jitter:
            for j in range(1, rcfg.jitter_variants + 1):
                sigma = rcfg.jitter_sigmas[(j - 1) % len(rcfg.jitter_sigmas)]
                rows[(JITTER, run, j)] = rcfg.noise(sigma).perturb_clip(annotated, n, fps, seed, (JITTER, j, *key))
        for condition in rcfg.conditions:
            if condition == SPOTTING:
                if spotted is None:
                    raise ValueError(f"{info.name}: the spotting condition needs the spotted key-frames")
                given = spotted
            else:
                sigma = rcfg.condition_sigma(condition)
                given = annotated if sigma == 0 else rcfg.noise(sigma).perturb_clip(annotated, n, fps, seed, key)
            rows[(condition, run, 0)] = given
            if needs.tta:
                for k in range(1, rcfg.tta_k):
                    tag = (TTA_TAG, condition, k, *key)
                    rows[(condition, run, k)] = tta_noise.perturb_clip(given, n, fps, seed, tag)
    return rows

