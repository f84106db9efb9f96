"""CAB: the Causal Attention Block and causal relation mining (SPEC §3, paper Sec. 3.3).

For one temporal ordering ``(t1, t2)`` of the two phase features (``[B, n, D]`` each, ``n`` tokens
on the 2x2 grid) a CAB layer does

1. a shared pre-LayerNorm of both tokens;
2. spatial attention: masked self-attention (sparse mask + pseudo-attention) within each temporal
   token, residual onto the *normalised* tokens (reference);
3. temporal causal attention: at each spatial position the query of ``t2`` attends to the keys and
   values of ``t1`` and ``t2`` (softmax over two); ``t1`` is left alone, so the earlier phase never
   sees the later one;
4. a shared MLP with residual on both (the reference applies it directly; ``mlp_norm=True`` puts a
   LayerNorm before it).

The forward ordering ``(x1, x2)`` and the backward ordering ``(x2, x1)`` share every weight and run
as one batch. Without STCA (ablation) a layer is ordinary unmasked, non-causal self-attention over
all ``2n`` tokens. ``bias`` gives the query/key/value maps biases (the reference's).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.models.layers import FeedForward
from causalnet.models.masking import SparseMask


class MultiHeadAttention(nn.Module):
    """Self-attention over ``[B, n, D]`` tokens, masked with a :class:`SparseMask` when one is given."""

    def __init__(self, dim: int, heads: int, mask: SparseMask | None = None, bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale, self.mask = heads, (dim // heads) ** -0.5, mask
        self.to_qkv = nn.Linear(dim, dim * 3, bias=bias)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.to_qkv(x), "b n (qkv h d) -> qkv b h n d", qkv=3, h=self.heads)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale
        attn = self.mask(scores) if self.mask is not None else scores.softmax(dim=-1)
        return self.to_out(rearrange(torch.einsum("bhij,bhjd->bhid", attn, v), "b h n d -> b n (h d)"))


class TemporalCausalAttention(nn.Module):
    """Per spatial position, the later token ``t2[p]`` attends to ``(t1[p], t2[p])`` (Eq. 11)."""

    def __init__(self, dim: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_kv = nn.Linear(dim, dim * 2, bias=bias)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, t2: Tensor, t1: Tensor) -> Tensor:
        q = rearrange(self.to_q(t2), "b n (h d) -> b n h d", h=self.heads)
        kv = self.to_kv(torch.stack([t1, t2], dim=2))
        k, v = rearrange(kv, "b n t (kv h d) -> kv b n h t d", kv=2, h=self.heads)
        attn = (torch.einsum("bnhd,bnhtd->bnht", q, k) * self.scale).softmax(dim=-1)
        return self.to_out(rearrange(torch.einsum("bnht,bnhtd->bnhd", attn, v), "b n h d -> b n (h d)"))


class CABLayer(nn.Module):
    """One spatial-temporal causal attention layer over an ordered pair ``(t1, t2)``."""

    def __init__(self, dim: int, heads: int, mask: SparseMask, mlp_ratio: int, dropout: float,
                 mlp_norm: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.spatial = MultiHeadAttention(dim, heads, mask, bias)
        self.temporal = TemporalCausalAttention(dim, heads, bias)
        self.ff_norm = nn.LayerNorm(dim) if mlp_norm else nn.Identity()
        self.ff = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        n1, n2 = self.norm(t1), self.norm(t2)
        s1, s2 = n1 + self.spatial(n1), n2 + self.spatial(n2)
        s2 = s2 + self.temporal(s2, s1)
        return s1 + self.ff(self.ff_norm(s1)), s2 + self.ff(self.ff_norm(s2))


class FullAttentionLayer(nn.Module):
    """The "without STCA" ablation: unmasked, non-causal pre-norm self-attention over both tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float, mlp_norm: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, mask=None, bias=bias)
        self.ff_norm = nn.LayerNorm(dim) if mlp_norm else nn.Identity()
        self.ff = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([t1, t2], dim=1)
        x = x + self.attn(self.norm(x))
        x = x + self.ff(self.ff_norm(x))
        return x.split(t1.shape[1], dim=1)


class CausalAttentionBlock(nn.Module):
    """Runs both orderings through shared layers.

    ``forward(x1, x2)`` returns ``(y1_for, y2_for, y1_back, y2_back)``, each ``[B, n, D]``:
    short-range onset->apex, long-range (forward), short-range apex->offset, long-range (backward).
    """

    def __init__(self, dim: int, depth: int, heads: int, mask: SparseMask, mlp_ratio: int = 4,
                 dropout: float = 0.0, stca: bool = True, mlp_norm: bool = True, bias: bool = False) -> None:
        super().__init__()
        make = (lambda: CABLayer(dim, heads, mask, mlp_ratio, dropout, mlp_norm, bias)) if stca else (
            lambda: FullAttentionLayer(dim, heads, mlp_ratio, dropout, mlp_norm, bias))
        self.layers = nn.ModuleList([make() for _ in range(depth)])

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        t1, t2 = torch.cat([x1, x2]), torch.cat([x2, x1])  # forward and backward orderings, one batch
        for layer in self.layers:
            t1, t2 = layer(t1, t2)
        y1_for, y1_back = t1.chunk(2)
        y2_for, y2_back = t2.chunk(2)
        return y1_for, y2_for, y1_back, y2_back


class CausalRelationMining(nn.Module):
    """CRM (Eq. 12): ``out(softmax(q(y_for) k(y_back)^T / sqrt(d)) v(y_for + y_back) + y_for + y_back)``."""

    def __init__(self, dim: int, heads: int = 1, bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(dim, dim, bias=bias)
        self.to_v = nn.Linear(dim, dim, bias=bias)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, y_for: Tensor, y_back: Tensor) -> Tensor:
        split = lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads)
        both = y_for + y_back
        q, k, v = split(self.to_q(y_for)), split(self.to_k(y_back)), split(self.to_v(both))
        attn = (torch.einsum("bhid,bhjd->bhij", q, k) * self.scale).softmax(dim=-1)
        return self.to_out(rearrange(torch.einsum("bhij,bhjd->bhid", attn, v), "b h n d -> b n (h d)") + both)
