"""HTNet/NesT-style hierarchical local-attention encoder (SPEC §3, "Encoders").

Patch size ``p`` on an ``S x S`` image gives an ``S/p``-square token grid; each level runs pre-norm
multi-head self-attention inside non-overlapping local blocks and an MLP, then an aggregation
(3x3 convolution doubling the width, LayerNorm over channels, 3x3 max-pool with stride 2) halves
the grid. Level ``i`` of ``L`` splits the grid into ``2**(L-1-i)`` blocks per side.

Tokens are kept channel-last (``[N, H, W, C]``) so that every 1x1 convolution of the reference is
an ``nn.Linear`` (same parameters, faster on CPUs).

Fast path: with a 28x28 input and patch 7, every block holds a single token, so the softmax over
one key is 1 and attention reduces to ``to_out(v)``; ``fast=True`` skips the query/key projections
(exactly the same output; their gradients are zero on the plain path too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from einops.layers.torch import Rearrange
from torch import Tensor, nn

from causalnet.models.layers import FeedForward, PreNormResidual


class BlockAttention(nn.Module):
    """Multi-head self-attention within ``blocks x blocks`` local blocks of a ``[N, H, W, C]`` grid."""

    def __init__(self, dim: int, heads: int, blocks: int, fast: bool = True) -> None:
        super().__init__()
        dim_head = dim // heads
        self.heads, self.blocks, self.fast = heads, blocks, fast
        self.inner = dim_head * heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, self.inner * 3, bias=False)
        self.to_out = nn.Linear(self.inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        if self.fast and x.shape[1] == self.blocks and x.shape[2] == self.blocks:
            return self.to_out(F.linear(x, self.to_qkv.weight[2 * self.inner:]))
        return self.to_out(self._block_attention(x))

    def _block_attention(self, x: Tensor) -> Tensor:
        b = self.blocks
        tokens = rearrange(x, "n (b1 h) (b2 w) c -> (n b1 b2) (h w) c", b1=b, b2=b)
        q, k, v = rearrange(self.to_qkv(tokens), "m t (qkv h d) -> qkv m h t d", qkv=3, h=self.heads)
        attn = (torch.einsum("mhid,mhjd->mhij", q, k) * self.scale).softmax(dim=-1)
        out = rearrange(torch.einsum("mhij,mhjd->mhid", attn, v), "m h t d -> m t (h d)")
        return rearrange(out, "(n b1 b2) (h w) c -> n (b1 h) (b2 w) c", b1=b, b2=b, h=x.shape[1] // b)


class EncoderLevel(nn.Module):
    """One hierarchy level: a learned per-block position bias, then ``depth`` attention + MLP layers."""

    def __init__(self, dim: int, depth: int, heads: int, blocks: int, tokens_per_block: int,
                 mlp_ratio: int, dropout: float, fast: bool) -> None:
        super().__init__()
        self.blocks = blocks
        self.pos_emb = nn.Parameter(torch.randn(tokens_per_block))
        self.layers = nn.Sequential(*[
            nn.Sequential(
                PreNormResidual(dim, BlockAttention(dim, heads, blocks, fast)),
                PreNormResidual(dim, FeedForward(dim, mlp_ratio, dropout)),
            )
            for _ in range(depth)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x + self._position_bias(x))

    def _position_bias(self, x: Tensor) -> Tensor:
        h, w = x.shape[1] // self.blocks, x.shape[2] // self.blocks
        pos = rearrange(self.pos_emb[: h * w], "(h w) -> h w", h=h, w=w).repeat(self.blocks, self.blocks)
        return pos[None, :, :, None]


class Aggregate(nn.Module):
    """Between levels: 3x3 conv (``dim -> dim_out``), LayerNorm over channels, 3x3 max-pool stride 2."""

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, padding=1)
        self.norm = nn.LayerNorm(dim_out)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(rearrange(x, "n h w c -> n c h w"))
        x = self.norm(rearrange(x, "n c h w -> n h w c"))
        return rearrange(self.pool(rearrange(x, "n h w c -> n c h w")), "n c h w -> n h w c")


class HierarchicalEncoder(nn.Module):
    """Image ``[N, C, S, S]`` -> final feature map ``[N, h, w, dims[-1]]`` (``1 x 1`` for 28/7, 3 levels).

    Args:
        image_size, patch_size, in_channels: input geometry.
        dim: width of the first level; level ``i`` has width ``dim * 2**i`` and ``heads * 2**i`` heads.
        depths: block repeats per level, e.g. ``(3, 3, 9)``.
    """

    def __init__(self, image_size: int, patch_size: int, in_channels: int, dim: int,
                 depths: tuple[int, ...], heads: int, mlp_ratio: int = 4, dropout: float = 0.0,
                 fast: bool = True) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        levels = len(depths)
        fmap = image_size // patch_size
        if fmap % 2 ** (levels - 1):
            raise ValueError(f"a {fmap}x{fmap} token grid cannot be split into {2 ** (levels - 1)} blocks")
        self.patch_embed = nn.Sequential(
            Rearrange("n c (h p1) (w p2) -> n h w (p1 p2 c)", p1=patch_size, p2=patch_size),
            nn.Linear(patch_size * patch_size * in_channels, dim),
        )
        stages: list[nn.Module] = []
        tokens_per_block = (fmap // 2 ** (levels - 1)) ** 2
        for i, depth in enumerate(depths):
            width = dim * 2**i
            stages.append(EncoderLevel(width, depth, heads * 2**i, 2 ** (levels - 1 - i), tokens_per_block,
                                       mlp_ratio, dropout, fast))
            if i < levels - 1:
                stages.append(Aggregate(width, width * 2))
        self.stages = nn.Sequential(*stages)
        self.out_dim = dim * 2 ** (levels - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.patch_embed(x))

    def forward_patches(self, patches: Tensor) -> Tensor:
        """The same from patches already cut (``[N, S/p, S/p, p*p*C]``, :func:`causalnet.models.layout.patchify`)."""
        return self.stages(self.patch_embed[1](patches))
