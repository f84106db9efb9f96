"""Micro-attention (Wang, Peng, Bi, Chen, Neurocomputing 2020): an apex-frame CNN with micro-attention units.

Input: the apex frame (input view :data:`~causalnet.models.views.APEX_VIEW`). The published model
reads the RGB apex face at 224×224; the apex view holds the aligned *grey* face (its value in all 3
channels), 28×28 — the ``paper`` preset up-samples it bilinearly to ``resize`` = 224 so every layer
has its published size; the ``compact`` preset reads the 28-px face directly, its stem without the
max-pool (any 28–112 px ``image_size`` works with ``resize=0``).

Layers (facts: the paper, and the layer sizes of Off-TANet's re-implementation, 53.38 M parameters):

- stem: ``7×7`` convolution, stride 2, 32 channels, ReLU, then a ``3×3`` stride-2 max-pool;
- three micro-attention units of widths 64, 128, 256, each followed by a 2×2 max-pool. A unit
  (``C → W``): ``a = conv3×3-BN-ReLU(x)``, ``b = conv3×3-BN-ReLU(a)``, ``m = conv1×1(x)`` (the
  shortcut), ``y = b + m``; its attention map is computed from the concatenated features:
  ``s = mean_channels(conv1×1([a, b, m]))`` (``3W → 3W``), softmax over all positions; output
  ``y + y · s``;
- FC ``flattened → 4096 → classes`` with ReLU and dropout 0.5.

Our choices where the paper is silent: ``ceil_mode`` max-pools (identical for the published sizes),
inputs scaled to [0, 1] (``paper``) or [−1, 1] (``compact``) instead of ImageNet statistics, no
ImageNet pre-training (every baseline here trains from scratch).

Data flow (paper preset): ``x [B, 4, 3, 28, 28]`` → apex planes ``[B, 3, 28, 28]`` → resize
``[B, 3, 224, 224]`` → stem ``[B, 32, 56, 56]`` → units ``[B, 64, 28, 28]``, ``[B, 128, 14, 14]``,
``[B, 256, 7, 7]`` → flattened ``[B, 12544]`` (:meth:`MicroAttention.forward_features`) → FC head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import Check, between
from causalnet.models.cnn import conv_bn_relu, mlp_head, pooled_side, resize_planes
from causalnet.models.registry import register_model
from causalnet.models.views import APEX_VIEW, ImageInputConfig, input_planes

__all__ = ["MicroAttention", "MicroAttentionConfig", "MicroAttentionUnit"]


@dataclass
class MicroAttentionConfig(ImageInputConfig):
    """Hyperparameters of Micro-attention. Presets: ``paper`` (published sizes, 224 px), ``compact`` (28 px, CPU).

    Attributes (besides :class:`~causalnet.models.views.ImageInputConfig`'s input fields):
        image, channels: image 0 (the apex face of the apex view), all three channels (grey in the apex view).
        resize: side the planes are resized to (bilinear) before the stem; 0 = as they come.
        stem_width, stem_kernel, stem_stride: the first convolution (32, 7, 2).
        stem_pool: a ``3×3`` stride-2 max-pool after the stem.
        widths: widths of the micro-attention units (64, 128, 256).
        fc_widths, dropout: hidden fully connected layers (4096) and their dropout (0.5).
    """

    resize: int = 224
    stem_width: int = 32
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_pool: bool = True
    widths: tuple[int, ...] = (64, 128, 256)
    fc_widths: tuple[int, ...] = (4096,)
    dropout: float = 0.5

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **ImageInputConfig.FIELD_CHECKS,
        "resize": between(0, 512), "stem_width": between(1, 1024), "stem_kernel": between(1, 15, odd=True),
        "stem_stride": between(1, 8), "widths": between(1, 1024, items=(1, 4)),
        "fc_widths": between(1, 8192, items=(0, 4)), "dropout": between(0, 1, hi_open=True),
    }

    @property
    def feature_side(self) -> int:
        """Side of the final map (7 for 224 px: stem and pool /4, one 2×2 pool per unit)."""
        side = -(-(self.resize or self.image_size) // self.stem_stride)
        side = pooled_side(side, int(self.stem_pool))  # 3x3 stride-2 padding-1 pool: same size as a 2x2 ceil pool
        return pooled_side(side, len(self.widths))


def _paper() -> MicroAttentionConfig:
    # The published network (stem 32, units 64/128/256, FC 4096, dropout 0.5) on 224-px planes.
    return MicroAttentionConfig()


def _compact() -> MicroAttentionConfig:
    # Rule (docs/robustness.md): native 28-px input (no up-sampling), down-sampling before the first unit limited
    # to the stride-2 stem (the stem max-pool is dropped: with it a 28-px face would reach the first unit at 7x7);
    # widths scaled so the widest layer is 64 (the compact CausalNet's final width): 32/64/128/256 -> 8/16/32/64;
    # hidden FC cut to one of 64, no dropout, inputs in [-1, 1]. Maps 28 -> 14 -> 7 -> 4 -> 2. Under the compute
    # cap as is. Fixed before any robustness run.
    return MicroAttentionConfig(resize=0, stem_width=8, stem_pool=False, widths=(16, 32, 64), fc_widths=(64,),
                                dropout=0.0, input_scale=1 / 127.5, input_shift=-1.0)


MicroAttentionConfig.PRESETS = {"paper": _paper, "compact": _compact}


class MicroAttentionUnit(nn.Module):
    """``[B, C, H, W]`` → ``[B, W, H, W]``: residual unit whose output is re-weighted by a spatial softmax map."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, width)
        self.conv2 = conv_bn_relu(width, width)
        self.shortcut = nn.Conv2d(in_channels, width, 1)
        self.mix = nn.Conv2d(3 * width, 3 * width, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv1(x)
        b = self.conv2(a)
        m = self.shortcut(x)
        y = b + m
        score = self.mix(torch.cat([a, b, m], dim=1)).mean(dim=1)  # [B, H, W]
        attn = rearrange(rearrange(score, "b h w -> b (h w)").softmax(dim=-1), "b (h w) -> b 1 h w",
                         h=y.shape[2])
        return y + y * attn


@register_model("microattention", MicroAttentionConfig)
class MicroAttention(nn.Module):
    """Micro-attention: ``forward(x [B, 4, 3, S, S]) -> logits`` from the apex face in image 0 (apex view)."""

    input_view: ClassVar[str] = APEX_VIEW

    def __init__(self, config: MicroAttentionConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or MicroAttentionConfig()
        stem: list[nn.Module] = [
            nn.Conv2d(len(cfg.channels), cfg.stem_width, cfg.stem_kernel, cfg.stem_stride, cfg.stem_kernel // 2),
            nn.ReLU()]
        if cfg.stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        units: list[nn.Module] = []
        c_in = cfg.stem_width
        for width in cfg.widths:
            units += [MicroAttentionUnit(c_in, width), nn.MaxPool2d(2, ceil_mode=True)]
            c_in = width
        self.units = nn.Sequential(*units)
        self.head = mlp_head(cfg.widths[-1] * cfg.feature_side**2, cfg.fc_widths, cfg.dropout, cfg.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Flattened final map ``[B, widths[-1] · side²]``."""
        planes = resize_planes(input_planes(x, self.config), self.config.resize)
        return rearrange(self.units(self.stem(planes)), "b c h w -> b (c h w)")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
