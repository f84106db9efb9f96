"""Plain ViT pieces for the transformer baselines (MMNet-style position branch, SRMCL-style encoder).

Token sequences are ``[B, T, D]``. The attention is :class:`~causalnet.models.encoder.BlockAttention`
(the encoders' multi-head self-attention) with one block spanning the whole sequence, so every
transformer layer of the package is the same code: pre-norm attention + MLP with residuals.

- :func:`sincos_code`: fixed sinusoidal codes of integer positions (Vaswani et al.).
- :func:`sincos_grid`: fixed 2-D codes of an ``h × w`` token grid (half the channels for the row,
  half for the column; MAE's fixed position embedding).
- :class:`TransformerStack`: ``depth`` pre-norm layers on ``[B, T, D]`` tokens.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.models.encoder import BlockAttention
from causalnet.models.layers import FeedForward, PreNormResidual

__all__ = ["TransformerStack", "sincos_code", "sincos_grid"]


def sincos_code(positions: Tensor, dim: int) -> Tensor:
    """``[T]`` positions → ``[T, dim]``: ``sin(p / 10000^(2i/dim))`` at channel ``2i``, ``cos`` at ``2i + 1``."""
    i = torch.arange(dim)
    freq = 10000.0 ** (-(i - i % 2).float() / dim)
    angle = positions.float()[:, None] * freq[None, :]
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))


def sincos_grid(h: int, w: int, dim: int) -> Tensor:
    """``[h · w, dim]`` fixed codes of a row-major token grid (``dim`` even: rows, then columns)."""
    if dim % 2:
        raise ValueError(f"a 2-D sin-cos code needs an even dim, got {dim}")
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    return torch.cat([sincos_code(rows, dim // 2), sincos_code(cols, dim // 2)], dim=1)


class TransformerStack(nn.Module):
    """``[B, T, D]`` → ``[B, T, D]``: ``depth`` × (pre-norm multi-head self-attention, pre-norm MLP), residual."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.layers = nn.Sequential(*[
            nn.Sequential(PreNormResidual(dim, BlockAttention(dim, heads, blocks=1, fast=False)),
                          PreNormResidual(dim, FeedForward(dim, mlp_ratio, dropout)))
            for _ in range(depth)
        ])

    def forward(self, tokens: Tensor) -> Tensor:
        # BlockAttention works on [B, H, W, D] grids; one row holds the whole sequence.
        return rearrange(self.layers(rearrange(tokens, "b t d -> b 1 t d")), "b 1 t d -> b t d")
