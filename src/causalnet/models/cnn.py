"""Small convolutional building blocks shared by the CNN baselines (channel-first ``[B, C, H, W]`` maps).

- :func:`mlp_head`: flattened features → ``Linear → ReLU (→ dropout)`` per hidden width → ``Linear(·, classes)``.
- :func:`conv_bn_relu`: ``Conv2d (same padding) → BatchNorm2d → ReLU``.
- :class:`SpatialGate`: a sigmoid spatial attention map from the channel-wise mean and max (CBAM's
  spatial attention; Off-TANet and MMNet's CA blocks use it with different kernels).
- :func:`resize_planes`: bilinear resize of ``[B, C, S, S]`` planes (a model's published input size).
- :func:`pooled_side`: the side of a map after ``n`` 2×2 max-pools.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SpatialGate", "conv_bn_relu", "mlp_head", "pooled_side", "resize_planes"]


def mlp_head(features: int, widths: tuple[int, ...], dropout: float, num_classes: int) -> nn.Sequential:
    """``[B, features]`` → ``Linear → ReLU → Dropout`` per entry of ``widths`` → ``Linear(·, num_classes)``."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(dropout)]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 bias: bool = True) -> nn.Sequential:
    """``Conv2d(k, stride, padding k//2) → BatchNorm2d → ReLU``."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class SpatialGate(nn.Module):
    """``[B, C, H, W]`` → attention map ``[B, 1, H, W]`` in (0, 1).

    The channel-wise mean and max ``[B, 2, H, W]`` go through a ``k×k`` convolution (no bias), an
    optional BatchNorm and a sigmoid. The caller multiplies its features with the map.
    """

    def __init__(self, kernel_size: int = 7, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.BatchNorm2d(1) if batch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.norm(self.conv(pooled)))


def resize_planes(x: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``[B, C, S, S]`` to ``[B, C, size, size]`` (no-op when ``size`` is 0 or ``S``)."""
    if size <= 0 or x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def pooled_side(side: int, pools: int, ceil: bool = True) -> int:
    """Side of a ``side × side`` map after ``pools`` 2×2 stride-2 max-pools (``ceil_mode`` as given)."""
    for _ in range(pools):
        side = math.ceil(side / 2) if ceil else side // 2
    return side
