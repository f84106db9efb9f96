"""An MMNet-style baseline (Li, Sui, Zhu, Zhao, IJCAI 2022): motion trunk + position calibration from the onset.

Input: the onset and apex faces (input view :data:`~causalnet.models.views.ONSET_APEX_VIEW`: image
0 = onset, image 1 = apex, aligned grey faces, 28×28 mosaics).

- **Main branch** (muscle motion): the difference ``apex − onset`` (up-sampled to ``resize`` px in
  the ``paper`` preset, MMNet's 224) goes through a ResNet-18-like trunk of *continuous-attention*
  (CA) blocks: a ``3×3`` stride-2 stem (conv-BN-ReLU), then one CA block per stage. A CA block is a
  residual block (``conv3×3-BN-ReLU → conv1×1-BN``, shortcut ``conv1×1-BN`` when the shape
  changes, ReLU after the sum) followed by a spatial attention map (channel mean and
  max → ``1×1`` conv → BN → sigmoid) that is multiplied with the previous block's map (max-pooled to
  this block's size): the attention is carried *continuously* through the trunk.
- **Position calibration** (sub-branch): the onset face, average-pooled to the trunk's final grid
  (``h × w``), becomes ``h · w`` tokens (one per pixel: ``Linear(1, D)`` + a learned position
  embedding), goes through a small transformer and gives position embeddings ``[B, D, h, w]``
  that are *added* to the trunk's final map.
- **Head**: the fused map flattened → ``Linear(D · h · w, classes)``.

Facts from the paper / its release: apex−onset input at 224 px, a stride-2 first convolution, CA
blocks with spatial attention multiplied along the trunk, stage widths 128/128/256/512 with one
block each and strides 1, 2, 2, 2 (a 14×14 final grid), a ViT on the onset frame down-sized to
14×14 (patch 1, depth 3, 4 heads, MLP ratio 2) whose tokens are added to the final map, a
flattening linear head. Our choices for the 28-px mosaics of grey faces: one grey channel, one stem
convolution (MMNet: a stride-2 conv to 180 channels, then ``3×3`` to 128), the onset down-sized by
average pooling, no class token in the position branch, the encoders' attention code (no
query/key/value bias), no AU-label auxiliary head, no ImageNet pre-training.

Data flow (paper preset): ``x [B, 4, 3, 28, 28]`` → onset ``o``, apex ``a`` ``[B, 1, 28, 28]`` (scaled)
→ trunk(resize(``a − o``) ``[B, 1, 224, 224]``) ``[B, 512, 14, 14]`` + position branch(``o``)
``[B, 512, 14, 14]`` → flattened ``[B, 512 · 196]`` (:meth:`MMNet.forward_features`) → ``Linear`` →
``[B, classes]``. Compact preset: no resize, trunk ``14 → 14 → 7 → 4 → 2``, ``[B, 64 · 4]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import Check, between, one_of
from causalnet.models.cnn import SpatialGate, conv_bn_relu, resize_planes
from causalnet.models.registry import register_model
from causalnet.models.views import ONSET_APEX_VIEW, ImageInputConfig, input_planes
from causalnet.models.vit import TransformerStack

__all__ = ["CABlock", "MMNet", "MMNetConfig"]

#: images of the onset–apex view
ONSET_IMAGE, APEX_IMAGE = 0, 1


@dataclass
class MMNetConfig(ImageInputConfig):
    """Hyperparameters of the MMNet-style baseline. Presets: ``paper`` (MMNet's widths), ``compact`` (CPU).

    Attributes (besides :class:`~causalnet.models.views.ImageInputConfig`'s input fields; each face is seen as
    ``face * input_scale + input_shift``):
        image: the onset image of the view (0; the apex is image 1). Fixed by the view.
        channels: channels of the faces the model reads (one: the view's faces are grey).
        resize: side the apex−onset difference is resized to (bilinear) before the stem; 0 = as it comes.
        stem_width, stem_stride: the ``3×3`` stem convolution (128, 2).
        widths, strides: one CA block per stage (MMNet: 128, 128, 256, 512; strides 1, 2, 2, 2).
        pos_depth, pos_heads, pos_mlp_ratio: the position-calibration transformer (3, 4, 2).
        dropout: dropout in the transformer's MLPs.
    """

    channels: tuple[int, ...] = (0,)
    resize: int = 224
    stem_width: int = 128
    stem_stride: int = 2
    widths: tuple[int, ...] = (128, 128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    pos_depth: int = 3
    pos_heads: int = 4
    pos_mlp_ratio: int = 2
    dropout: float = 0.0

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **ImageInputConfig.FIELD_CHECKS, "image": one_of(ONSET_IMAGE), "resize": between(0, 512),
        "stem_width": between(1, 1024), "stem_stride": between(1, 8), "widths": between(1, 1024, items=(1, 6)),
        "strides": between(1, 2, items=(1, 6)), "pos_depth": between(1, 32), "pos_heads": between(1, 64),
        "pos_mlp_ratio": between(1, 16), "dropout": between(0, 1, hi_open=True),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.strides) != len(self.widths):
            raise ValueError(f"need one stride per stage width: widths {self.widths}, strides {self.strides}")
        if self.widths[-1] % self.pos_heads:
            raise ValueError(f"the last width {self.widths[-1]} must be divisible by pos_heads {self.pos_heads}")

    @property
    def feature_side(self) -> int:
        """Side of the trunk's final grid (14 for 224 px: stem and strides 2, 1, 2, 2, 2)."""
        side = self.resize or self.image_size
        for stride in (self.stem_stride, *self.strides):
            side = -(-side // stride)
        return side


def _paper() -> MMNetConfig:
    # MMNet's sizes on a 224-px difference: stride-2 stem of 128, CA stages 128/128/256/512 (strides 1, 2, 2, 2),
    # a 14x14 final grid and its position transformer (depth 3, 4 heads, MLP ratio 2).
    return MMNetConfig()


def _compact() -> MMNetConfig:
    # Rule (docs/robustness.md): native 28-px input (no resize), the published strides (first stage at 14x14);
    # widths scaled so the widest layer is 64 (the compact CausalNet's final width): /8 -> stem 16, stages
    # 16/16/32/64, transformer width 64 with heads of width 16 (4, as published); inputs in [-1, 1]. Under the
    # compute cap as is. Fixed before any robustness run.
    return MMNetConfig(resize=0, stem_width=16, widths=(16, 16, 32, 64), input_scale=1 / 127.5, input_shift=-1.0)


MMNetConfig.PRESETS = {"paper": _paper, "compact": _compact}


class CABlock(nn.Module):
    """Continuous-attention block: ``(x [B, C, H, W], prior map | None)`` → ``(y [B, W, h, w], map [B, 1, h, w])``."""

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width))
        self.shortcut = (nn.Sequential(nn.Conv2d(in_channels, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                         if stride != 1 or in_channels != width else nn.Identity())
        self.gate = SpatialGate(kernel_size=1, batch_norm=True)

    def forward(self, x: Tensor, prior: Tensor | None) -> tuple[Tensor, Tensor]:
        y = F.relu(self.body(x) + self.shortcut(x))
        attn = self.gate(y)
        if prior is not None:
            attn = attn * (F.max_pool2d(prior, 3, self.stride, 1) if self.stride > 1 else prior)
        return y * attn, attn


@register_model("mmnet", MMNetConfig)
class MMNet(nn.Module):
    """MMNet-style baseline: ``forward(x [B, 4, 3, 28, 28]) -> logits`` from the onset (image 0) and apex (image 1)."""

    input_view: ClassVar[str] = ONSET_APEX_VIEW

    def __init__(self, config: MMNetConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or MMNetConfig()
        planes, dim, side = len(cfg.channels), cfg.widths[-1], cfg.feature_side
        self.stem = conv_bn_relu(planes, cfg.stem_width, stride=cfg.stem_stride, bias=False)
        blocks, c_in = [], cfg.stem_width
        for width, stride in zip(cfg.widths, cfg.strides, strict=True):
            blocks.append(CABlock(c_in, width, stride))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.pos_embed_in = nn.Linear(planes, dim)
        self.pos_tokens = nn.Parameter(torch.randn(side * side, dim) * 0.02)
        self.pos_transformer = TransformerStack(dim, cfg.pos_depth, cfg.pos_heads, cfg.pos_mlp_ratio, cfg.dropout)
        self.pos_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim * side * side, cfg.num_classes)

    def motion(self, onset: Tensor, apex: Tensor) -> Tensor:
        """Main branch: ``apex − onset`` ``[B, P, S, S]`` → trunk map ``[B, D, h, w]``."""
        y, attn = self.stem(resize_planes(apex - onset, self.config.resize)), None
        for block in self.blocks:
            y, attn = block(y, attn)
        return y

    def positions(self, onset: Tensor) -> Tensor:
        """Position calibration: onset ``[B, P, S, S]`` → position embeddings ``[B, D, h, w]``."""
        side = self.config.feature_side
        small = F.adaptive_avg_pool2d(onset, side)
        tokens = self.pos_embed_in(rearrange(small, "b p h w -> b (h w) p")) + self.pos_tokens
        return rearrange(self.pos_norm(self.pos_transformer(tokens)), "b (h w) d -> b d h w", h=side)

    def forward_features(self, x: Tensor) -> Tensor:
        """The fused map ``trunk(apex − onset) + positions(onset)``, flattened ``[B, D · h · w]``."""
        onset, apex = input_planes(x, self.config, ONSET_IMAGE), input_planes(x, self.config, APEX_IMAGE)
        return rearrange(self.motion(onset, apex) + self.positions(onset), "b d h w -> b (d h w)")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
