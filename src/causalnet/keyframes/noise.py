"""Key-frame error model of the robustness experiments (paper Sec. 4.2, specification §5).

Each of onset, apex and offset receives an independent error ``e ~ N(0, σ_eff²)``, rounded to the
nearest integer; ``σ_eff = σ · fps / reference_fps`` (SMIC at 100 fps gets σ/2 against the 200 fps
reference of CASME II and SAMM); the perturbed indexes are clipped to the clip's frames
``[0, n_frames-1]``. Independent errors can invert the order of the key-frames; what then happens is
the ``order`` policy:

- ``"sort"`` (default): the three perturbed indexes are sorted, so ``onset <= apex <= offset``; if the
  clip has at least two frames and all three coincide, the offset (or, at the clip's last frame, the
  onset) is moved by one frame so that ``onset < offset``. The multiset of perturbed indexes is the
  one of the independent-error model; only their roles are reassigned.
- ``"keep"``: the clipped indexes are returned as drawn, in whatever order (consumers then compute,
  e.g., a "backward" onset→apex flow).
- ``"resample"``: the three errors are redrawn until the result is ordered with ``onset < offset``
  (the error distribution conditioned on a valid order), at most ``max_resample`` draws; after that
  the ``"sort"`` policy is applied to the last draw.

Randomness: :meth:`KeyframeNoise.perturb` draws from a given :class:`numpy.random.Generator`;
:meth:`KeyframeNoise.perturb_clip` derives a generator from ``(seed, clip id)`` (:func:`clip_rng`), so
that a clip's errors do not depend on which clips were processed before it. The errors are drawn as
three standard normals scaled by ``σ_eff``, so that for a fixed seed and clip the errors at
σ = 10, 20, 30 are scaled copies of each other (common random numbers across σ).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import numbers
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from causalnet.checks import Check, between, one_of, positive
from causalnet.config import PresetMixin
from causalnet.keyframes.types import Keyframes, _check_n_frames

__all__ = ["ORDER_POLICIES", "ClipId", "KeyframeNoise", "clip_rng"]

logger = logging.getLogger(__name__)

ORDER_POLICIES: tuple[str, ...] = ("sort", "keep", "resample")
"""Accepted values of :attr:`KeyframeNoise.order`."""

ClipId = str | int | Sequence[str | int]
"""A clip identifier: a string such as ``"casme2/sub01/EP02_01f"``, an int, or a tuple of parts."""

_CLIP_HASH_BYTES = 16  # 128 bits of the clip id enter the seed sequence


def clip_rng(seed: int, clip_id: ClipId) -> np.random.Generator:
    """A generator determined only by ``(seed, clip_id)``.

    ``clip_id`` is hashed with BLAKE2b (stable across processes, unlike Python's ``hash``); a tuple
    ``("smic", "s01", "s01_ne_01")`` is joined with a separator first. ``seed`` is a non-negative
    integer (e.g. the run index of a 3-run robustness experiment).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(clip_id, str | numbers.Integral):
        parts = [str(clip_id)]
    else:
        parts = [str(p) for p in clip_id]
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=_CLIP_HASH_BYTES).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


@dataclasses.dataclass(frozen=True)
class KeyframeNoise(PresetMixin):
    """Independent, rounded Gaussian errors on onset, apex and offset (see the module docstring).

    Attributes:
        sigma: standard deviation of each error in frames at ``reference_fps`` (paper: 10, 20, 30).
        reference_fps: frame rate at which ``sigma`` applies (CASME II / SAMM: 200 fps).
        scale_with_fps: scale σ by ``fps / reference_fps`` (SMIC at 100 fps gets σ/2, as in the
            paper); ``False`` applies ``sigma`` frames at every frame rate.
        order: policy for orders that the noise inverts: ``"sort"`` (default), ``"keep"`` or
            ``"resample"`` (see the module docstring).
        max_resample: at most this many draws under ``order="resample"`` before falling back to
            ``"sort"``.
    """

    sigma: float = 10.0
    reference_fps: float = 200.0
    scale_with_fps: bool = True
    order: str = "sort"
    max_resample: int = 100

    #: allowed ranges, checked on construction
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "sigma": between(0, 10_000), "reference_fps": positive(hi=100_000), "order": one_of(*ORDER_POLICIES),
        "max_resample": between(1, 100_000),
    }

    PRESETS: ClassVar[dict] = {
        "none": lambda: KeyframeNoise(sigma=0.0),
        "sigma10": lambda: KeyframeNoise(sigma=10.0),
        "sigma20": lambda: KeyframeNoise(sigma=20.0),
        "sigma30": lambda: KeyframeNoise(sigma=30.0),
    }

    def __post_init__(self) -> None:
        if not math.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"sigma must be a finite number >= 0, got {self.sigma!r}")
        if not math.isfinite(self.reference_fps) or self.reference_fps <= 0:
            raise ValueError(f"reference_fps must be > 0, got {self.reference_fps!r}")
        if self.order not in ORDER_POLICIES:
            raise ValueError(f"unknown order policy {self.order!r}; choose from {list(ORDER_POLICIES)}")
        if self.max_resample < 1:
            raise ValueError(f"max_resample must be >= 1, got {self.max_resample}")

    def effective_sigma(self, fps: float) -> float:
        """σ in frames for a clip recorded at ``fps`` frames per second."""
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        return self.sigma * fps / self.reference_fps if self.scale_with_fps else self.sigma

    def perturb(
        self, keyframes: Keyframes, n_frames: int, fps: float, rng: np.random.Generator | int
    ) -> Keyframes:
        """Perturbed key-frames of one clip.

        Args:
            keyframes: the annotated key-frames; each index must lie in ``[0, n_frames-1]``.
            n_frames: number of frames in the clip (>= 1).
            fps: the clip's frame rate (scales σ, see :meth:`effective_sigma`).
            rng: a generator (its state advances) or an integer seed. Note that the same integer
                seed for every clip gives every clip the same errors; use :meth:`perturb_clip` for
                per-clip streams.

        Returns:
            The perturbed key-frames, clipped to the clip and arranged by the ``order`` policy.
        """
        n_frames = _check_n_frames(n_frames)
        if not isinstance(keyframes, Keyframes):
            raise TypeError(f"keyframes must be a Keyframes, got {type(keyframes).__name__}")
        keyframes.validate(n_frames, require_order=False)
        sigma = self.effective_sigma(fps)
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        base = np.asarray(keyframes.as_tuple(), dtype=np.int64)

        attempts = self.max_resample if self.order == "resample" else 1
        for _ in range(attempts):
            errors = np.rint(generator.standard_normal(3) * sigma).astype(np.int64)
            drawn = np.clip(base + errors, 0, n_frames - 1)
            if self.order == "keep":
                return Keyframes(*drawn.tolist())
            if self.order == "resample" and _is_valid_order(drawn, n_frames):
                return Keyframes(*drawn.tolist())
        if self.order == "resample":
            logger.debug(
                "no ordered draw in %d attempts for %s (n_frames=%d); sorting the last draw",
                attempts,
                keyframes,
                n_frames,
            )
        return Keyframes(*_sorted_distinct_ends(drawn, n_frames))

    def perturb_clip(
        self, keyframes: Keyframes, n_frames: int, fps: float, seed: int, clip_id: ClipId
    ) -> Keyframes:
        """:meth:`perturb` with the generator :func:`clip_rng` ``(seed, clip_id)``.

        The result depends only on the arguments, never on the order in which clips are processed.
        """
        return self.perturb(keyframes, n_frames, fps, clip_rng(seed, clip_id))


def _is_valid_order(indexes: np.ndarray, n_frames: int) -> bool:
    """``onset <= apex <= offset``, and ``onset < offset`` when the clip has >= 2 frames."""
    onset, apex, offset = (int(v) for v in indexes)
    return onset <= apex <= offset and (onset < offset or n_frames < 2)


def _sorted_distinct_ends(indexes: np.ndarray, n_frames: int) -> tuple[int, int, int]:
    """Sort three indexes; if all coincide in a clip of >= 2 frames, separate onset and offset by one."""
    onset, apex, offset = sorted(int(v) for v in indexes)
    if n_frames >= 2 and onset == offset:
        if offset < n_frames - 1:
            offset += 1
        else:
            onset -= 1
    return onset, apex, offset
