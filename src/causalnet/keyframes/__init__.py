"""Key-frames: the error model of the robustness experiments and an automatic apex spotter.

- :class:`Keyframes` — onset, apex, offset frame indexes of one clip.
- :class:`KeyframeNoise` — independent rounded Gaussian errors, σ scaled by frame rate, clipped to
  the clip, with a documented policy for inverted orders (:mod:`causalnet.keyframes.noise`).
- :func:`spot_apex` / :func:`spot_keyframes` — LBP feature difference + divide-and-conquer apex
  spotting in the manner of Liong et al. (:mod:`causalnet.keyframes.spotting`).
"""

from causalnet.keyframes.lbp import block_histograms, chi_squared, uniform_lbp
from causalnet.keyframes.noise import ORDER_POLICIES, KeyframeNoise, clip_rng
from causalnet.keyframes.spotting import (
    REFERENCES,
    SpotterConfig,
    divide_and_conquer,
    feature_difference_curve,
    keyframes_around_apex,
    spot_apex,
    spot_keyframes,
)
from causalnet.keyframes.types import Keyframes

__all__ = [
    "ORDER_POLICIES",
    "REFERENCES",
    "KeyframeNoise",
    "Keyframes",
    "SpotterConfig",
    "block_histograms",
    "chi_squared",
    "clip_rng",
    "divide_and_conquer",
    "feature_difference_curve",
    "keyframes_around_apex",
    "spot_apex",
    "spot_keyframes",
    "uniform_lbp",
]
