"""Recognising a spotted interval with a trained checkpoint, with test-time key-frame ensembling.

For an interval (onset, apex, offset) the class probabilities are those of the checkpoint on the
interval's four images (TV-L1 flows onset→apex and apex→offset of the aligned faces, direction maps,
facial-block mosaic: the ``causalnet preprocess`` / ``causalnet predict`` pipeline) — averaged over
``tta_k`` key-frame triples: the spotted one and ``tta_k - 1`` triples perturbed around it with
σ = ``tta_sigma`` frames at 200 fps (scaled with the frame rate), pooled by
:func:`causalnet.eval.pool.pool`: each weighted by the model's confidence on it
(``pooling="confidence"``, the robustness engine's ``+ttaconf``; ``mean``: plain average). A
checkpoint trained with test-time mirror averaging (``train.mirror_tta``) also averages each triple
with its mirror image. Flows shared by several triples are computed once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from causalnet.checks import Check, between, one_of, positive
from causalnet.config import PresetMixin
from causalnet.eval.pool import POOLINGS, pool
from causalnet.flow.config import PreprocessConfig
from causalnet.keyframes import KeyframeNoise, Keyframes

__all__ = ["POOLINGS", "RecogniseConfig", "Recogniser"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RecogniseConfig(PresetMixin):
    """Test-time key-frame ensembling (defaults: the robustness engine's ``tta_k``/``tta_sigma``).

    Attributes:
        tta_k: triples per interval (1 = the spotted triple only).
        tta_sigma: σ of the perturbation, frames at ``reference_fps``.
        reference_fps: frame rate at which ``tta_sigma`` applies.
        pooling: ``confidence`` or ``mean`` (see :data:`POOLINGS`).
        seed: seed of the perturbations (each interval's are keyed by its video and apex).
        macro: also classify macro-expression intervals.
    """

    tta_k: int = 8
    tta_sigma: float = 10.0
    reference_fps: float = 200.0
    pooling: str = "confidence"
    seed: int = 0
    macro: bool = False

    PRESETS: ClassVar[dict] = {"default": lambda: RecogniseConfig(), "none": lambda: RecogniseConfig(tta_k=1)}
    #: allowed ranges, checked on construction
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "tta_k": between(1, 64), "tta_sigma": between(0, 1000), "reference_fps": positive(hi=100_000),
        "pooling": one_of(*POOLINGS), "seed": between(0, 2**32 - 1),
    }

    def __post_init__(self) -> None:
        if self.tta_k > 1 and self.tta_sigma <= 0:
            raise ValueError(f"RecogniseConfig.tta_sigma must be > 0 with tta_k > 1, got {self.tta_sigma}")

    def margin(self, fps: float) -> int:
        """Frames the perturbed key-frames may reach beyond the interval (3 σ)."""
        if self.tta_k == 1:
            return 0
        return int(np.ceil(3 * self.tta_sigma * fps / self.reference_fps))


class Recogniser:
    """A checkpoint ready to classify intervals of aligned faces.

    Args:
        checkpoint: a safetensors checkpoint (``causalnet train --save-model`` / ``--checkpoints``).
        prep: the face/flow settings (must be those the model was trained with).
        cfg: the ensembling settings.
        threads: torch threads.
        device: where the model runs (``auto|cpu|cuda|cuda:N``).
    """

    def __init__(self, checkpoint: str | os.PathLike, prep: PreprocessConfig, cfg: RecogniseConfig | None = None,
                 threads: int = 1, device: str = "auto") -> None:
        import torch

        from causalnet.device import resolve_device
        from causalnet.models import load_checkpoint
        from causalnet.models.format import class_names, uses_mirror_tta

        torch.set_num_threads(max(1, threads))
        self.device = resolve_device(device)
        self.model = load_checkpoint(checkpoint).to(self.device)
        self.extra = getattr(self.model, "extra", {}) or {}
        self.prep, self.cfg = prep, cfg or RecogniseConfig()
        self.mirror = uses_mirror_tta(self.extra)
        self.n_classes = int(self.model.config.num_classes)
        self.class_names = class_names(self.extra, self.n_classes)
        self.noise = KeyframeNoise(sigma=self.cfg.tta_sigma, reference_fps=self.cfg.reference_fps)
        self.flows = 0  # TV-L1 flows computed so far

    def triples(self, kf: Keyframes, first: int, last: int, fps: float, clip_id: tuple) -> list[Keyframes]:
        """The ensemble's key-frame triples (the given one first), within frames ``[first, last]``."""
        out = [kf]
        n = last - first + 1
        local = Keyframes(kf.onset - first, kf.apex - first, kf.offset - first)
        for j in range(1, self.cfg.tta_k):
            t = self.noise.perturb_clip(local, n, fps, self.cfg.seed, (*clip_id, j))
            out.append(Keyframes(t.onset + first, t.apex + first, t.offset + first))
        return out

    def probabilities(self, face: Callable[[int], np.ndarray], triples: list[Keyframes]) -> np.ndarray:
        """Per-triple class probabilities ``[K, C]``; ``face(i)`` is the aligned face of frame ``i``."""
        from causalnet.data.mosaic import images_to_input
        from causalnet.flow.optical_flow import tvl1_flow
        from causalnet.flow.pipeline import flow_pair_images, stack_images
        from causalnet.inference import predict_proba

        pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

        def pair(i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
            if (i, j) not in pairs:
                pairs[(i, j)] = flow_pair_images(tvl1_flow(face(i), face(j), self.prep), self.prep)
                self.flows += 1
            return pairs[(i, j)]

        images = np.stack([stack_images(pair(t.onset, t.apex), pair(t.apex, t.offset)) for t in triples])
        x = images_to_input(images)  # [K, 4, 3, 28, 28]
        return predict_proba(self.model, x, mirror=self.mirror, device=self.device)

    def classify(self, face: Callable[[int], np.ndarray], kf: Keyframes, first: int, last: int, fps: float,
                 clip_id: tuple) -> np.ndarray:
        """Pooled class probabilities ``[C]`` of an interval (frames ``[first, last]`` available)."""
        return pool(self.probabilities(face, self.triples(kf, first, last, fps, clip_id)), self.cfg.pooling)
