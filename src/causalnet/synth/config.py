"""Typed configuration of the synthetic micro-expression benchmark.

Every knob that sets the difficulty of the task is a field here (see ``docs/synthetic.md``):
the expression amplitude relative to the sensor noise, the nuisances (head drift, illumination
flicker, blinks) and the confusers (weak action units of another class). Durations are in
seconds and converted to frames with :attr:`SynthConfig.fps`, so a clip keeps its real-time
shape at any frame rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from causalnet.checks import FILE_NAME, Check, at_least, between, positive
from causalnet.config import PresetMixin

#: Class names in label order (the MEGC 2019 three-class scheme of SPEC §4).
CLASS_NAMES: tuple[str, ...] = ("negative", "positive", "surprise")


@dataclass(frozen=True)
class SynthConfig(PresetMixin):
    """Parameters of :func:`causalnet.synth.generate_benchmark`.

    Ranges are ``(low, high)`` tuples sampled uniformly. Pixel amounts are in pixels of the
    written frames (``image_size``).
    """

    # --- size of the benchmark -------------------------------------------------------------
    n_subjects: int = 12
    clips_per_subject: int = 12
    seed: int = 0
    dataset: str = "synth"
    #: relative class frequencies (negative, positive, surprise); counts per subject follow them
    class_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)

    # --- rendering -----------------------------------------------------------------------------
    image_size: int = 128
    fps: float = 200.0
    #: faces and warps are rendered at ``supersample`` × the size, then area-downsampled
    supersample: int = 2
    #: amplitude of the static skin texture (fraction of the skin brightness), per-subject range
    skin_texture: tuple[float, float] = (0.04, 0.08)

    # --- timing (seconds) ------------------------------------------------------------------------
    neutral_before_s: tuple[float, float] = (0.02, 0.06)
    rise_s: tuple[float, float] = (0.04, 0.09)
    fall_s: tuple[float, float] = (0.05, 0.12)
    neutral_after_s: tuple[float, float] = (0.02, 0.06)

    # --- expression ----------------------------------------------------------------------------
    #: apex displacement of the strongest point of the main action units, in pixels
    amplitude_px: tuple[float, float] = (0.6, 2.0)
    #: per-subject multiplier of every amplitude (some people are more expressive)
    expressiveness: tuple[float, float] = (0.75, 1.25)
    #: per-clip left/right amplitude ratio range (micro-expressions are often asymmetric)
    asymmetry: tuple[float, float] = (0.7, 1.3)
    #: random rotation of each action unit's motion direction, degrees (per subject and clip)
    direction_jitter_deg: float = 15.0
    #: probability that a class's optional action unit (e.g. AU15 with AU4) joins the clip
    optional_au_prob: float = 0.5
    #: probability that a weak action unit of another class joins the clip (a confuser)
    confuser_prob: float = 0.4
    #: its intensity relative to the clip's main action units
    confuser_intensity: tuple[float, float] = (0.2, 0.5)

    # --- nuisances -------------------------------------------------------------------------------
    #: standard deviation of the additive Gaussian sensor noise, grey levels (0..255)
    noise_sigma: float = 2.5
    #: standard deviation of the slow head drift (translation) over a clip, pixels
    drift_px: float = 0.6
    #: standard deviation of the per-frame global gain (illumination flicker), relative
    flicker: float = 0.01
    #: probability that a clip contains a blink (a distractor of no class)
    blink_prob: float = 0.4
    blink_s: tuple[float, float] = (0.08, 0.2)
    #: downward motion of the upper lid and brow region during a full blink, pixels
    blink_px: float = 1.5

    PRESETS: ClassVar[dict[str, Callable[[], SynthConfig]]]  # filled in below the class
    #: allowed ranges, checked on construction; sizes, rates and durations are bounded (memory)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "n_subjects": between(1, 1000), "clips_per_subject": between(1, 1000), "seed": between(0, 2**32 - 1),
        "dataset": FILE_NAME, "class_weights": at_least(0), "image_size": between(32, 512),
        "fps": positive(hi=1000), "supersample": between(1, 8), "skin_texture": between(0, 1),
        "neutral_before_s": between(0, 2), "rise_s": between(0, 2), "fall_s": between(0, 2),
        "neutral_after_s": between(0, 2), "amplitude_px": between(0, 100), "expressiveness": between(0, 10),
        "asymmetry": between(0, 10), "direction_jitter_deg": between(0, 180), "optional_au_prob": between(0, 1),
        "confuser_prob": between(0, 1), "confuser_intensity": between(0, 10), "noise_sigma": between(0, 255),
        "drift_px": between(0, 100), "flicker": between(0, 1), "blink_prob": between(0, 1),
        "blink_s": between(0, 2), "blink_px": between(0, 100),
    }

    def __post_init__(self) -> None:
        if self.n_subjects < 1 or self.clips_per_subject < 1:
            raise ValueError("n_subjects and clips_per_subject must be >= 1")
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")
        if len(self.class_weights) != len(CLASS_NAMES) or min(self.class_weights) < 0:
            raise ValueError(f"class_weights needs {len(CLASS_NAMES)} non-negative values")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "class_weights" and isinstance(value, tuple) and value[0] > value[1]:
                raise ValueError(f"{f.name}: range {value} has low > high")

    def frames(self, seconds: float) -> int:
        """A duration in seconds as a whole number of frames (at least 1)."""
        return max(1, round(seconds * self.fps))

    def without_nuisances(self) -> SynthConfig:
        """The same benchmark with no noise, drift, flicker, blinks or confusers (for tests)."""
        return dataclasses.replace(
            self, noise_sigma=0.0, drift_px=0.0, flicker=0.0, blink_prob=0.0, confuser_prob=0.0
        )


def _default() -> SynthConfig:
    return SynthConfig()


def _demo() -> SynthConfig:
    # Small enough that generation + preprocessing + LOSO training fit the demo's time budget.
    return SynthConfig(n_subjects=10, clips_per_subject=12, image_size=112)


def _tiny() -> SynthConfig:
    # For tests: a handful of short, small clips.
    return SynthConfig(
        n_subjects=3,
        clips_per_subject=3,
        image_size=64,
        neutral_before_s=(0.01, 0.02),
        rise_s=(0.03, 0.05),
        fall_s=(0.04, 0.06),
        neutral_after_s=(0.01, 0.02),
    )


def _easy() -> SynthConfig:
    return SynthConfig().without_nuisances()


def _hard() -> SynthConfig:
    return SynthConfig(
        amplitude_px=(0.4, 1.5),
        confuser_prob=0.5,
        confuser_intensity=(0.2, 0.6),
        noise_sigma=3.0,
        drift_px=0.8,
        flicker=0.012,
        blink_prob=0.5,
    )


SynthConfig.PRESETS = {
    "default": _default,
    "demo": _demo,
    "tiny": _tiny,
    "easy": _easy,
    "hard": _hard,
}
