"""Typed configuration of a robustness experiment and the model specs it compares.

A *model spec* is a registered model name with optional robustness techniques appended:

- ``+jitter`` — key-frame jitter augmentation at training time: each training clip also gets
  ``jitter_variants`` input sets re-derived from randomly perturbed key-frames, and every training
  step draws one of the clip's inputs (annotated or perturbed) at random
  (:func:`causalnet.train.loop.fit`, ``variants``).
- ``+tta`` — test-time key-frame ensembling: the class probabilities are averaged over ``tta_k``
  key-frame triples around the given (possibly perturbed) one — the given triple itself and
  ``tta_k - 1`` triples perturbed again with ``tta_sigma``.
- ``+ttaconf`` — the same ensemble, each triple's probabilities weighted by the model's confidence
  on it (``max_c p_c − 1/C``; no label is used): triples whose flows miss the expression tend to
  give flat predictions and then count less.

``causalnet``, ``causalnet+jitter``, ``causalnet+tta`` and ``causalnet+jitter+tta`` need two trainings
(with and without jitter); test-time ensembling re-uses the trained models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from causalnet.checks import Check, between, one_of, positive
from causalnet.config import PresetMixin, config_hash, config_signature
from causalnet.data.builders.build import APEX_METHODS
from causalnet.keyframes import ORDER_POLICIES, KeyframeNoise, SpotterConfig

__all__ = ["APEX_METHODS", "SPOTTING", "TECHNIQUES", "TTA_POOLINGS", "ModelSpec", "RobustnessConfig", "config_hash",
           "parse_model_specs", "sigma_condition"]

#: Name of the automatic-spotting test condition.
SPOTTING = "spotting"
#: Suffixes of a model spec.
TECHNIQUES = ("jitter", "tta", "ttaconf")
#: Pooling of the test-time ensemble, by technique name.
TTA_POOLINGS = {"tta": "mean", "ttaconf": "confidence"}


def sigma_condition(sigma: float) -> str:
    """The condition name of a noise level: ``sigma0``, ``sigma10``, ``sigma12.5``."""
    return f"sigma{sigma:g}"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the comparison: a registered model and the techniques applied to it.

    Attributes:
        name: registered model name (``causalnet``, ``htnet``, ``offapexnet``, ``apexnet``).
        jitter: trained with key-frame jitter augmentation.
        tta: evaluated with test-time key-frame ensembling.
        tta_pooling: ``mean`` (``+tta``) or ``confidence`` (``+ttaconf``) pooling of the ensemble.
    """

    name: str
    jitter: bool = False
    tta: bool = False
    tta_pooling: str = "mean"

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``"causalnet+jitter+tta"`` → ``ModelSpec("causalnet", True, True)``."""
        name, *techniques = [part.strip() for part in text.strip().split("+")]
        if not name:
            raise ValueError(f"model spec {text!r}: empty model name")
        unknown = [t for t in techniques if t not in TECHNIQUES]
        if unknown:
            raise ValueError(f"model spec {text!r}: unknown technique(s) {unknown}; choose from {list(TECHNIQUES)}")
        poolings = [TTA_POOLINGS[t] for t in techniques if t in TTA_POOLINGS]
        if len(poolings) > 1:
            raise ValueError(f"model spec {text!r}: choose one of +tta and +ttaconf")
        return cls(name, "jitter" in techniques, bool(poolings), poolings[0] if poolings else "mean")

    @property
    def label(self) -> str:
        """The spec as written: ``name[+jitter][+tta|+ttaconf]``."""
        tta = [t for t, pooling in TTA_POOLINGS.items() if self.tta and pooling == self.tta_pooling]
        return "+".join([self.name, *(["jitter"] if self.jitter else []), *tta])

    @property
    def training(self) -> str:
        """The training this spec's predictions come from (``name`` or ``name+jitter``)."""
        return f"{self.name}+jitter" if self.jitter else self.name


def parse_model_specs(text: str | Sequence[str]) -> list[ModelSpec]:
    """Comma-separated (or listed) model specs, duplicates removed, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = [ModelSpec.parse(item) for item in items if item.strip()]
    if not specs:
        raise ValueError("no model given")
    return list(dict.fromkeys(specs))


@dataclass(frozen=True)
class RobustnessConfig(PresetMixin):
    """Everything that defines the test conditions and the robustness techniques.

    Attributes:
        sigmas: key-frame error levels σ in frames at ``reference_fps`` (0 = annotated key-frames).
        spotting: add the condition where the key-frames come from the automatic apex spotter
            (apex spotted within the annotated onset–offset range, onset/offset = apex ∓ 25 frames at
            200 fps; SPEC §5).
        runs: repetitions; run ``r`` uses training seed ``train.seed`` with run index ``r`` (as
            ``causalnet train --runs``) and key-frame noise seed ``noise_seed + r``.
        noise_seed: base seed of all key-frame perturbations.
        reference_fps, scale_with_fps, order: the error model (:class:`causalnet.keyframes.KeyframeNoise`):
            σ applies at ``reference_fps`` and scales with the clip's frame rate (SMIC: σ/2).
        spotter: :class:`causalnet.keyframes.SpotterConfig` preset; its window ∓25 frames is scaled
            by the clip's frame rate (25 at 200 fps).
        apex_method: apex of clips without an apex annotation: ``middle`` frame or ``spot``.
        jitter_sigmas, jitter_variants: ``+jitter``: each training clip gets ``jitter_variants``
            perturbed key-frame triples, variant ``j`` with σ = ``jitter_sigmas[j % len]``.
        jitter_annotated_share: share of a jittered model's training draws that use the annotated
            inputs (the rest: one of the variants, uniformly); realised as
            ``max(1, round(share · V / (1 − share)))`` copies of the annotated row beside the ``V``
            variants (0.5: as many copies as variants; ``1/(V+1)``: one copy, a uniform draw).
        tta_k, tta_sigma: ``+tta``: probabilities averaged over the given triple and ``tta_k - 1``
            triples perturbed around it with σ = ``tta_sigma``.
    """

    sigmas: tuple[float, ...] = (0.0, 10.0, 20.0, 30.0)
    spotting: bool = False
    runs: int = 1
    noise_seed: int = 0
    reference_fps: float = 200.0
    scale_with_fps: bool = True
    order: str = "sort"
    spotter: str = "default"
    apex_method: str = "middle"
    jitter_sigmas: tuple[float, ...] = (10.0, 20.0, 30.0)
    jitter_variants: int = 6
    jitter_annotated_share: float = 0.5
    tta_k: int = 8
    tta_sigma: float = 10.0

    PRESETS: ClassVar[dict] = {}
    #: allowed ranges, checked on construction (the rules below add distinctness)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "sigmas": between(0, 1000, items=(1, 32)), "runs": between(1, 100), "noise_seed": between(0, 2**32 - 1),
        "reference_fps": positive(hi=100_000), "order": one_of(*ORDER_POLICIES),
        "spotter": one_of(*SpotterConfig.PRESETS), "apex_method": one_of(*APEX_METHODS),
        "jitter_sigmas": positive(hi=1000, items=(1, 32)), "jitter_variants": between(1, 64),
        "jitter_annotated_share": between(0, 1, lo_open=True, hi_open=True), "tta_k": between(2, 64),
        "tta_sigma": positive(hi=1000),
    }

    def __post_init__(self) -> None:
        for name in ("sigmas", "jitter_sigmas"):  # 10 and 10.0 are one level (and one hash)
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not self.sigmas or any(s < 0 for s in self.sigmas) or len(set(self.sigmas)) != len(self.sigmas):
            raise ValueError(f"sigmas must be distinct numbers >= 0, got {self.sigmas}")
        if self.runs < 1 or self.noise_seed < 0:
            raise ValueError(f"runs must be >= 1 and noise_seed >= 0 (got {self.runs}, {self.noise_seed})")
        if self.jitter_variants < 1 or not self.jitter_sigmas or min(self.jitter_sigmas) <= 0:
            raise ValueError("jitter needs jitter_variants >= 1 and jitter_sigmas > 0")
        if not 0 < self.jitter_annotated_share < 1:
            raise ValueError(f"jitter_annotated_share must be in (0, 1), got {self.jitter_annotated_share}")
        if self.tta_k < 2 or self.tta_sigma <= 0:
            raise ValueError(f"tta needs tta_k >= 2 and tta_sigma > 0 (got {self.tta_k}, {self.tta_sigma})")
        self.noise(0.0)  # validates the error-model fields
        SpotterConfig.preset(self.spotter)

    @property
    def conditions(self) -> list[str]:
        """Test conditions in table order: ``sigma<σ>`` for each σ (ascending), then ``spotting``."""
        names = [sigma_condition(s) for s in sorted(self.sigmas)]
        return [*names, SPOTTING] if self.spotting else names

    def condition_sigma(self, condition: str) -> float | None:
        """σ of a noise condition; None for ``spotting``."""
        for s in self.sigmas:
            if sigma_condition(s) == condition:
                return s
        if condition == SPOTTING:
            return None
        raise ValueError(f"unknown condition {condition!r}; conditions: {self.conditions}")

    def noise(self, sigma: float) -> KeyframeNoise:
        """The key-frame error model at ``sigma``."""
        return KeyframeNoise(sigma=sigma, reference_fps=self.reference_fps, scale_with_fps=self.scale_with_fps,
                             order=self.order)

    def spotter_config(self) -> SpotterConfig:
        """The apex spotter, its ∓window scaled with the clip's frame rate."""
        return dataclasses.replace(SpotterConfig.preset(self.spotter), scale_window_with_fps=True,
                                   reference_fps=self.reference_fps)

    @property
    def annotated_copies(self) -> int:
        """Copies of the annotated row in a jittered sample's variant table (see ``jitter_annotated_share``)."""
        share = self.jitter_annotated_share
        return max(1, round(share * self.jitter_variants / (1 - share)))

    def fold_signature(self, jitter: bool, tta: bool) -> dict[str, Any]:
        """The fields a fold's result depends on: not ``runs`` (a run does not depend on the count), and the
        jitter or test-time-ensemble fields only for trainings that use them."""
        d = config_signature(self)
        d.pop("runs")
        for name in list(d):
            if (name.startswith("jitter_") and not jitter) or (name.startswith("tta_") and not tta):
                d.pop(name)
        return d


RobustnessConfig.PRESETS = {
    # The paper's protocol (SPEC §5): σ = 10, 20, 30 plus the annotated key-frames, spotting, 3 runs.
    "paper": lambda: RobustnessConfig(spotting=True, runs=3),
    # One run of every condition: the demo-sized measurement of docs/robustness.md.
    "quick": lambda: RobustnessConfig(spotting=True, runs=1),
}
