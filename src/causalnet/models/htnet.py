"""An HTNet-style baseline: the hierarchical transformer encoder on the onset→apex flow alone.

HTNet (Wang et al., 2024) is the key-frame-based peer that CausalNet grew out of (SPEC §3: the
encoders "of the HTNet kind"). This baseline keeps that encoder family
(:class:`~causalnet.models.encoder.HierarchicalEncoder`, the same code as CausalNet's motion encoder)
and HTNet's input: one optical-flow image computed between the onset and the apex — image 0 of the
common input ``x [B, 4, 3, 28, 28]``; images 1–3 are ignored. Head: LayerNorm over the final
feature's channels, mean over its (1×1) grid, linear classifier.

Data flow: ``x[:, image] [B, 3, 28, 28]`` → ``x * input_scale + input_shift`` → encoder
``[B, h, w, C]`` → LayerNorm → mean over ``h, w`` → ``[B, C]`` → ``Linear(C, classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from einops import reduce
from torch import Tensor, nn

from causalnet.checks import ANY, Check, between
from causalnet.config import PresetMixin
from causalnet.models.encoder import HierarchicalEncoder
from causalnet.models.registry import register_model
from causalnet.models.views import NUM_INPUT_IMAGES, check_input

__all__ = ["HTNet", "HTNetConfig"]


@dataclass
class HTNetConfig(PresetMixin):
    """Hyperparameters of the HTNet-style baseline. Presets: ``paper`` (HTNet's size), ``compact`` (CPU).

    Attributes:
        num_classes: output classes.
        image_size, patch_size, in_channels: input geometry (28, 7, 3).
        dim, depths, heads, mlp_ratio, dropout, fast: the hierarchical encoder
            (:class:`~causalnet.models.encoder.HierarchicalEncoder`); widths ``dim * 2**i``.
        image: which of the four input images the model reads (0 = onset→apex flow, as HTNet).
        input_scale, input_shift: the model sees ``x * input_scale + input_shift``.
    """

    num_classes: int = 3
    image_size: int = 28
    patch_size: int = 7
    in_channels: int = 3
    dim: int = 256
    depths: tuple[int, ...] = (2, 2, 10)
    heads: int = 3
    mlp_ratio: int = 4
    dropout: float = 0.0
    fast: bool = True
    image: int = 0
    input_scale: float = 1.0
    input_shift: float = 0.0

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "num_classes": between(2, 1000), "image_size": between(1, 256), "patch_size": between(1, 64),
        "in_channels": between(1, 16), "dim": between(1, 1024), "depths": between(1, 32, items=(1, 4)),
        "heads": between(1, 64), "mlp_ratio": between(1, 16), "dropout": between(0, 1, hi_open=True),
        "image": between(0, NUM_INPUT_IMAGES - 1), "input_scale": ANY, "input_shift": ANY,
    }

    def __post_init__(self) -> None:
        if not 0 <= self.image < NUM_INPUT_IMAGES:
            raise ValueError(f"image must be in 0..{NUM_INPUT_IMAGES - 1}, got {self.image}")
        if min(self.depths) < 1:
            raise ValueError("every depth must be >= 1")


def _paper() -> HTNetConfig:
    # HTNet's published configuration: widths 256 -> 512 -> 1024, heads 3 -> 6 -> 12, block repeats (2, 2, 10),
    # raw 0-255 inputs.
    return HTNetConfig()


def _compact() -> HTNetConfig:
    # Rule (docs/robustness.md): exactly the compact CausalNet's encoder (width 16, one block per level, one
    # head, inputs mapped to [-1, 1]); HTNet's own head. Fixed before any robustness run.
    return HTNetConfig(dim=16, depths=(1, 1, 1), heads=1, input_scale=1 / 127.5, input_shift=-1.0)


HTNetConfig.PRESETS = {"paper": _paper, "compact": _compact}


@register_model("htnet", HTNetConfig)
class HTNet(nn.Module):
    """HTNet-style baseline: ``forward(x [B, 4, 3, 28, 28]) -> logits [B, num_classes]`` from image ``image``."""

    def __init__(self, config: HTNetConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or HTNetConfig()
        self.encoder = HierarchicalEncoder(image_size=cfg.image_size, patch_size=cfg.patch_size,
                                           in_channels=cfg.in_channels, dim=cfg.dim, depths=cfg.depths,
                                           heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout,
                                           fast=cfg.fast)
        self.norm = nn.LayerNorm(self.encoder.out_dim)
        self.classifier = nn.Linear(self.encoder.out_dim, cfg.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled, normalised encoder feature ``[B, C]`` of the selected image."""
        cfg = self.config
        check_input(x, cfg.in_channels, cfg.image_size)
        fmap = self.encoder(x[:, cfg.image] * cfg.input_scale + cfg.input_shift)  # [B, h, w, C]
        return reduce(self.norm(fmap), "b h w c -> b c", "mean")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.forward_features(x))
