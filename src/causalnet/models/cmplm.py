"""CMPLM: the Causal Motion Position Learning Module (SPEC §3, paper Sec. 3.2).

The direction features of the contraction (onset->apex) and relaxation (apex->offset) phases
attend to each other with the sparse mask and pseudo-attention; the results are added to the
motion features as position embeddings. Reference details (SPEC §3): one set of attention, norm
and MLP weights serves both directions, keys/values come from the *un-normalised* other stream,
the score scale is ``D**-0.5``, and the update is sequential (stream 2 attends to the already
updated stream 1) unless ``sequential=False``.

The reference's layer (``attention_first=True, mlp_norm=False, bias=True``)::

    a1, a2 = LN(x1), LN(x2)          # both from the layer's inputs
    x1 = x1 + Attn(a1 -> x2)
    x2 = x2 + Attn(a2 -> x1)         # the updated x1 (before its MLP)
    x1, x2 = x1 + MLP(x1), x2 + MLP(x2)

With ``attention_first=False`` stream 1's whole update (attention and MLP) precedes stream 2's;
``mlp_norm=True`` puts a LayerNorm before the MLP.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.models.layers import FeedForward
from causalnet.models.masking import SparseMask


class MaskedCrossAttention(nn.Module):
    """Multi-head cross attention ``[B, n, D] x [B, n, D] -> [B, n, D]`` with the sparse mask."""

    def __init__(self, dim: int, heads: int, mask: SparseMask, scale: float | None = None,
                 bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.scale = scale if scale is not None else (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(dim, dim, bias=bias)
        self.to_v = nn.Linear(dim, dim, bias=bias)
        self.to_out = nn.Linear(dim, dim)
        self.mask = mask

    def forward(self, x_q: Tensor, x_kv: Tensor) -> Tensor:
        split = lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads)
        q, k, v = split(self.to_q(x_q)), split(self.to_k(x_kv)), split(self.to_v(x_kv))
        attn = self.mask(torch.einsum("bhid,bhjd->bhij", q, k) * self.scale)
        return self.to_out(rearrange(torch.einsum("bhij,bhjd->bhid", attn, v), "b h n d -> b n (h d)"))


class CMPLMLayer(nn.Module):
    """One CMPLM layer: shared pre-norm cross attention + shared MLP (optionally pre-norm), for both streams."""

    def __init__(self, dim: int, heads: int, mask: SparseMask, mlp_ratio: int, dropout: float,
                 sequential: bool = True, attention_first: bool = False, mlp_norm: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.sequential, self.attention_first = sequential, attention_first
        self.norm = nn.LayerNorm(dim)
        self.attn = MaskedCrossAttention(dim, heads, mask, scale=dim**-0.5, bias=bias)
        self.ff_norm = nn.LayerNorm(dim) if mlp_norm else nn.Identity()
        self.ff = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        a1, a2 = self.norm(x1), self.norm(x2)
        y1 = x1 + self.attn(a1, x2)
        if not self.attention_first:
            y1 = self.mlp(y1)
        y2 = x2 + self.attn(a2, y1 if self.sequential else x1)
        if self.attention_first:
            y1 = self.mlp(y1)
        return y1, self.mlp(y2)

    def mlp(self, x: Tensor) -> Tensor:
        """``x + MLP(x)`` (``x + MLP(LN(x))`` with ``mlp_norm``)."""
        return x + self.ff(self.ff_norm(x))


class CMPLM(nn.Module):
    """Stack of :class:`CMPLMLayer`: direction tokens ``x_pos1, x_pos2 [B, n, D]`` -> position embeddings."""

    def __init__(self, dim: int, depth: int, heads: int, mask: SparseMask, mlp_ratio: int = 4,
                 dropout: float = 0.0, sequential: bool = True, attention_first: bool = False,
                 mlp_norm: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            CMPLMLayer(dim, heads, mask, mlp_ratio, dropout, sequential, attention_first, mlp_norm, bias)
            for _ in range(depth)
        ])

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        for layer in self.layers:
            x1, x2 = layer(x1, x2)
        return x1, x2
