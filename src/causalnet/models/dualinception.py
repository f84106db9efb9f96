"""Dual-Inception (Zhou et al., MEGC 2019): two Inception streams on the horizontal and vertical flow.

Each stream reads one flow component of image 0 (the onset→apex optical-flow image, 28×28: BGR
channel 2 = u, channel 1 = v) and runs two Inception-style blocks. A block has four branches —
``1×1``; ``1×1 → 3×3``; ``1×1 → 5×5``; ``3×3 max-pool (stride 1) → 1×1`` — each with ``width``
filters (6 in the first block, 16 in the second), every convolution followed by a ReLU, the
branches concatenated (``4 · width`` channels) and max-pooled 2×2. The two streams' maps are
flattened, concatenated and classified by ``FC 1024 → classes``.

Facts from the paper (and the layer sizes of Off-TANet's re-implementation, 6.45 M parameters):
branches, filter counts, pooling, FC 1024, 28×28 inputs. Our choices where it is silent: a ReLU on
every branch (GoogLeNet's convention), "same" padding, the 1×1 reductions as wide as the block.

Data flow: ``x [B, 4, 3, 28, 28]`` → planes ``[B, 2, 28, 28]`` (u, v; scaled) → per stream
``[B, 1, 28, 28]`` → block 1 ``[B, 24, 14, 14]`` → block 2 ``[B, 64, 7, 7]`` → flattened, streams
concatenated ``[B, 2 · 64 · 49 = 6272]`` (:meth:`DualInception.forward_features`) → ``Linear →
ReLU`` per ``fc_widths`` → ``Linear(·, classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import Check, between
from causalnet.models.cnn import mlp_head, pooled_side
from causalnet.models.registry import register_model
from causalnet.models.views import FLOW_U_CHANNEL, FLOW_V_CHANNEL, FLOW_VIEW, ImageInputConfig, input_planes

__all__ = ["DualInception", "DualInceptionConfig", "InceptionBlock"]


@dataclass
class DualInceptionConfig(ImageInputConfig):
    """Hyperparameters of Dual-Inception. Presets: ``paper`` (the published sizes), ``compact`` (CPU).

    Attributes (besides :class:`~causalnet.models.views.ImageInputConfig`'s input fields):
        channels: channels of image ``image``, one Inception stream each (default u, v).
        widths: filters per branch of each Inception block (6, 16).
        fc_widths: widths of the hidden fully connected layers (1024).
        dropout: dropout after each hidden fully connected layer.
    """

    channels: tuple[int, ...] = (FLOW_U_CHANNEL, FLOW_V_CHANNEL)
    widths: tuple[int, ...] = (6, 16)
    fc_widths: tuple[int, ...] = (1024,)
    dropout: float = 0.0

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **ImageInputConfig.FIELD_CHECKS, "widths": between(1, 1024, items=(1, 4)),
        "fc_widths": between(1, 8192, items=(0, 4)), "dropout": between(0, 1, hi_open=True),
    }

    @property
    def feature_side(self) -> int:
        """Side of each stream's final map (7 for 28 px and two blocks)."""
        return pooled_side(self.image_size, len(self.widths))


def _paper() -> DualInceptionConfig:
    # The published network: u and v streams, Inception blocks of 6 and 16 filters per branch, FC 1024.
    return DualInceptionConfig()


def _compact() -> DualInceptionConfig:
    # Rule (docs/robustness.md): the published 28-px network with hidden FC layers cut to one of 64 (the compact
    # CausalNet's head width), no dropout, inputs mapped to [-1, 1]; over the compute cap (6.4 M multiply-adds per
    # sample > 4x the compact CausalNet's 1.34 M), so the branch widths are halved once: 6/16 -> 3/8. Fixed before
    # any robustness run.
    return DualInceptionConfig(widths=(3, 8), fc_widths=(64,), input_scale=1 / 127.5, input_shift=-1.0)


DualInceptionConfig.PRESETS = {"paper": _paper, "compact": _compact}


class InceptionBlock(nn.Module):
    """``[B, C, H, W]`` → ``[B, 4 · width, ⌈H/2⌉, ⌈W/2⌉]``: four branches concatenated, then a 2×2 max-pool."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()

        def conv(c_in: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, width, k, padding=k // 2), nn.ReLU()]

        self.branches = nn.ModuleList([
            nn.Sequential(*conv(in_channels, 1)),
            nn.Sequential(*conv(in_channels, 1), *conv(width, 3)),
            nn.Sequential(*conv(in_channels, 1), *conv(width, 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *conv(in_channels, 1)),
        ])
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(torch.cat([branch(x) for branch in self.branches], dim=1))


@register_model("dualinception", DualInceptionConfig)
class DualInception(nn.Module):
    """Dual-Inception: ``forward(x [B, 4, 3, 28, 28]) -> logits`` from the u and v channels of image 0."""

    input_view: ClassVar[str] = FLOW_VIEW

    def __init__(self, config: DualInceptionConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or DualInceptionConfig()
        self.streams = nn.ModuleList([self._stream(cfg.widths) for _ in cfg.channels])
        features = len(cfg.channels) * 4 * cfg.widths[-1] * cfg.feature_side**2
        self.head = mlp_head(features, cfg.fc_widths, cfg.dropout, cfg.num_classes)

    @staticmethod
    def _stream(widths: tuple[int, ...]) -> nn.Sequential:
        blocks, c_in = [], 1
        for width in widths:
            blocks.append(InceptionBlock(c_in, width))
            c_in = 4 * width
        return nn.Sequential(*blocks)

    def forward_features(self, x: Tensor) -> Tensor:
        """Flattened maps of the streams, concatenated ``[B, streams · 4 · w_last · side²]`` (stream-major)."""
        planes = input_planes(x, self.config)  # [B, S, H, W]
        maps = [stream(planes[:, s: s + 1]) for s, stream in enumerate(self.streams)]
        return torch.cat([rearrange(m, "b c h w -> b (c h w)") for m in maps], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
