"""Off-TANet (Zhang, Liu, Zhou, PRICAI 2021): a 59 k-parameter CNN with triplet attention on the apex−onset flow.

Input: the optical flow u, v and the optical strain of image 0 (the onset→apex optical-flow image;
BGR channels 2, 1, 0). The published network reads 112×112 flow; here it reads the 28×28 published
images (up-sampled bilinearly to ``resize`` = 112 inside the ``paper`` preset, so every layer has its
published size) or any ``image_size`` a pipeline provides (``resize=0`` reads it as is).

Layers (published sizes; facts from the paper and its authors' release):

- stem: ``7×7`` convolution, stride 2, 8 channels → ReLU → BatchNorm (that order);
- two residual blocks (18, 28 channels): ``conv3×3-BN-ReLU`` twice + a ``1×1`` convolution shortcut,
  then a 2×2 max-pool;
- the attention block (28 → 8 channels): ``conv3×3-BN-ReLU`` (28), channel attention (CBAM-style,
  average- and max-pooled descriptors through a shared ``28 → 1 → 28`` bottleneck), spatial
  attention (``3×3`` convolution on the channel mean and max), 4-head self-attention with a fixed
  positional code, ``conv3×3-BN-ReLU`` (28 → 8), plus a ``1×1`` shortcut, then a 2×2 max-pool;
- FC ``392 → 64 → 64 → classes`` with ReLU and dropout 0.5 (``392 = 8 · 7 · 7``).

Paper preset: 59,403 parameters, as published. Our choices where the paper is silent or its
release is idiosyncratic: the self-attention is standard token attention over the ``h · w``
positions (4 heads of 7 channels, query/key/value ``1×1`` projections with bias, no output
projection — the published parameter count) whose logits add a content–position term
``q · p`` (BoTNet-style) with ``p`` the fixed sinusoidal code of the key's row-major index; the
max-pools use ``ceil_mode`` (identical for the published even sizes, keeps the last row/column of
odd maps).

Data flow (paper preset, 28-px input): ``x [B, 4, 3, 28, 28]`` → planes ``[B, 3, 28, 28]`` →
resize ``[B, 3, 112, 112]`` → stem ``[B, 8, 56, 56]`` → residual blocks ``[B, 18, 28, 28]``,
``[B, 28, 14, 14]`` → attention block ``[B, 8, 7, 7]`` → flattened ``[B, 392]``
(:meth:`OffTANet.forward_features`) → FC head → ``[B, classes]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import Check, between
from causalnet.models.cnn import SpatialGate, conv_bn_relu, mlp_head, pooled_side, resize_planes
from causalnet.models.registry import register_model
from causalnet.models.views import (
    FLOW_STRAIN_CHANNEL,
    FLOW_U_CHANNEL,
    FLOW_V_CHANNEL,
    FLOW_VIEW,
    ImageInputConfig,
    input_planes,
)
from causalnet.models.vit import sincos_code

__all__ = ["OffTANet", "OffTANetConfig"]


@dataclass
class OffTANetConfig(ImageInputConfig):
    """Hyperparameters of Off-TANet. Presets: ``paper`` (published, 59,403 parameters), ``compact`` (CPU).

    Attributes (besides :class:`~causalnet.models.views.ImageInputConfig`'s input fields):
        channels: channels of image ``image`` (u, v, strain).
        resize: side the planes are resized to (bilinear) before the stem; 0 = as they come.
        stem_width, stem_kernel, stem_stride: the first convolution (8, 7, 2).
        res_widths: widths of the residual blocks (18, 28).
        attention_width: output width of the attention block (8).
        heads: self-attention heads (their width: ``res_widths[-1] / heads``).
        channel_hidden: bottleneck width of the channel attention (1 = ``28 / 28``).
        spatial_kernel: kernel of the spatial attention's convolution (3).
        fc_widths, dropout: hidden fully connected layers (64, 64) and their dropout (0.5).
    """

    channels: tuple[int, ...] = (FLOW_U_CHANNEL, FLOW_V_CHANNEL, FLOW_STRAIN_CHANNEL)
    resize: int = 112
    stem_width: int = 8
    stem_kernel: int = 7
    stem_stride: int = 2
    res_widths: tuple[int, ...] = (18, 28)
    attention_width: int = 8
    heads: int = 4
    channel_hidden: int = 1
    spatial_kernel: int = 3
    fc_widths: tuple[int, ...] = (64, 64)
    dropout: float = 0.5

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **ImageInputConfig.FIELD_CHECKS,
        "resize": between(0, 512), "stem_width": between(1, 1024), "stem_kernel": between(1, 15, odd=True),
        "stem_stride": between(1, 8), "res_widths": between(1, 1024, items=(1, 4)),
        "attention_width": between(1, 1024), "heads": between(1, 64), "channel_hidden": between(1, 1024),
        "spatial_kernel": between(1, 15, odd=True), "fc_widths": between(1, 8192, items=(0, 4)),
        "dropout": between(0, 1, hi_open=True),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.res_widths[-1] % self.heads:
            raise ValueError(f"the last residual width {self.res_widths[-1]} must be divisible by heads {self.heads}")

    @property
    def attention_side(self) -> int:
        """Side of the attention block's input map (14 for the published 112-px input)."""
        stem = -(-(self.resize or self.image_size) // self.stem_stride)
        return pooled_side(stem, len(self.res_widths))

    @property
    def feature_side(self) -> int:
        """Side of the final map (7 for the published 112-px input)."""
        return pooled_side(self.attention_side, 1)


def _paper() -> OffTANetConfig:
    # The published network (59,403 parameters) on 112-px planes, up-sampled from the 28-px published images.
    return OffTANetConfig()


def _compact() -> OffTANetConfig:
    # Rule (docs/robustness.md): the published layers, strides and widths (all <= 64; FC 64-64 kept) on the native
    # 28-px input (no up-sampling): maps 28 -> 14 (stem) -> 7 -> 4 -> 2; no dropout, inputs in [-1, 1]. Under the
    # compute cap as is. Fixed before any robustness run.
    return OffTANetConfig(resize=0, dropout=0.0, input_scale=1 / 127.5, input_shift=-1.0)


OffTANetConfig.PRESETS = {"paper": _paper, "compact": _compact}


class ResidualBlock(nn.Module):
    """``[B, C, H, W]`` → ``[B, W, ⌈H/2⌉, ⌈W/2⌉]``: two ``conv3×3-BN-ReLU`` + a ``1×1`` shortcut, then max-pool 2."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(in_channels, width), conv_bn_relu(width, width))
        self.shortcut = nn.Conv2d(in_channels, width, 1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.body(x) + self.shortcut(x))


class ChannelGate(nn.Module):
    """CBAM channel attention: ``[B, C, H, W]`` → weights ``[B, C, 1, 1]`` from the mean and max over positions."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(),
                                 nn.Linear(hidden, channels, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        weights = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))  # [B, C]
        return torch.sigmoid(rearrange(weights, "b c -> b c 1 1"))


class PositionalSelfAttention(nn.Module):
    """Multi-head self-attention over the ``h · w`` positions of ``[B, C, h, w]`` (same shape out).

    Logits ``q · (k + p) / √d`` per head (``d = C / heads``), with ``p [h · w, d]`` the fixed sinusoidal
    code of each key's row-major index; heads concatenated, no output projection.
    """

    def __init__(self, channels: int, heads: int, side: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(channels, 3 * channels)
        self.register_buffer("code", sincos_code(torch.arange(side * side), channels // heads), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2:]
        tokens = rearrange(x, "b c h w -> b (h w) c")
        q, k, v = rearrange(self.to_qkv(tokens), "b t (n g d) -> n b g t d", n=3, g=self.heads)
        logits = torch.einsum("bgid,bgjd->bgij", q, k + self.code[: h * w]) * q.shape[-1] ** -0.5
        out = torch.einsum("bgij,bgjd->bgid", logits.softmax(dim=-1), v)
        return rearrange(out, "b g (h w) d -> b (g d) h w", h=h, w=w)


class AttentionBlock(nn.Module):
    """Off-TANet's triplet-attention block: ``[B, C, s, s]`` → ``[B, out, ⌈s/2⌉, ⌈s/2⌉]``."""

    def __init__(self, channels: int, out_channels: int, cfg: OffTANetConfig) -> None:
        super().__init__()
        self.conv_in = conv_bn_relu(channels, channels)
        self.channel_gate = ChannelGate(channels, cfg.channel_hidden)
        self.spatial_gate = SpatialGate(cfg.spatial_kernel)
        self.attention = PositionalSelfAttention(channels, cfg.heads, cfg.attention_side)
        self.conv_out = conv_bn_relu(channels, out_channels)
        self.shortcut = nn.Conv2d(channels, out_channels, 1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv_in(x)
        y = y * self.channel_gate(y)
        y = y * self.spatial_gate(y)
        y = self.conv_out(self.attention(y))
        return self.pool(y + self.shortcut(x))


@register_model("offtanet", OffTANetConfig)
class OffTANet(nn.Module):
    """Off-TANet: ``forward(x [B, 4, 3, S, S]) -> logits`` from the u, v and strain channels of image 0."""

    input_view: ClassVar[str] = FLOW_VIEW

    def __init__(self, config: OffTANetConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or OffTANetConfig()
        self.stem = nn.Sequential(
            nn.Conv2d(len(cfg.channels), cfg.stem_width, cfg.stem_kernel, cfg.stem_stride, cfg.stem_kernel // 2),
            nn.ReLU(), nn.BatchNorm2d(cfg.stem_width))
        blocks, c_in = [], cfg.stem_width
        for width in cfg.res_widths:
            blocks.append(ResidualBlock(c_in, width))
            c_in = width
        blocks.append(AttentionBlock(c_in, cfg.attention_width, cfg))
        self.blocks = nn.Sequential(*blocks)
        self.head = mlp_head(cfg.attention_width * cfg.feature_side**2, cfg.fc_widths, cfg.dropout, cfg.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Flattened final map ``[B, attention_width · side²]`` (392 at the published size)."""
        planes = resize_planes(input_planes(x, self.config), self.config.resize)
        return rearrange(self.blocks(self.stem(planes)), "b c h w -> b (c h w)")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
