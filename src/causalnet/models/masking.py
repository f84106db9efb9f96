"""Sparse mask, pseudo-attention and the masked attention of SPEC §3 (paper Eq. 5-10).

On a grid of ``h x w`` tokens (2 x 2 in CausalNet) the sparse mask keeps key ``j`` for query ``i``
when the squared distance of their grid cells is at most ``radius``; with radius 1 on a 2 x 2 grid
exactly one key per query is masked (the diagonally opposite cell). The pseudo-attention matrix is
0 where the mask keeps a key and ``-gamma * j`` (``j`` the key's 1-based column index) where it
masks one. Attention weights are

    A = softmax((Q K^T * scale) * M + P) * M

whose rows no longer sum to one. With identical tokens the row sums fall strictly with the row
index, which encodes absolute position (after StableMask).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor


def sparse_mask(height: int, width: int, radius: float = 1.0) -> Tensor:
    """Binary mask ``M`` of shape ``[h*w, h*w]``: 1 where the cells are within ``radius`` (squared)."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    coords = rearrange(torch.stack([ys, xs], dim=-1), "h w c -> (h w) c").float()
    dist2 = (coords[:, None, :] - coords[None, :, :]).pow(2).sum(-1)
    return (dist2 <= radius).float()


def pseudo_attention(mask: Tensor, gamma: float) -> Tensor:
    """Pseudo-attention ``P``: 0 where ``mask`` is 1, ``-gamma * j`` (1-based key column) where 0."""
    columns = torch.arange(1, mask.shape[-1] + 1, dtype=mask.dtype).expand_as(mask)
    return torch.where(mask > 0, torch.zeros_like(mask), -gamma * columns)


def masked_attention_weights(scores: Tensor, mask: Tensor | None, pseudo: Tensor | None) -> Tensor:
    """``softmax(scores * M + P) * M`` over the last axis; plain softmax when ``mask`` is None.

    ``scores``: ``[..., n_query, n_key]`` (already scaled); ``mask``/``pseudo``: ``[n_query, n_key]``.
    """
    if mask is None:
        return scores.softmax(dim=-1)
    logits = scores * mask
    if pseudo is not None:
        logits = logits + pseudo
    return logits.softmax(dim=-1) * mask


class SparseMask(torch.nn.Module):
    """Holds ``M`` and ``P`` for a token grid as buffers (no parameters).

    Args:
        grid: ``(height, width)`` of the token grid.
        radius: squared-distance threshold ``r`` of the mask.
        gamma: decay rate of the pseudo-attention (``> 0``).
        pseudo: if False, ``P = 0`` (the "without pseudo-attention" ablation).
    """

    def __init__(self, grid: tuple[int, int] = (2, 2), radius: float = 1.0, gamma: float = 0.5,
                 pseudo: bool = True) -> None:
        super().__init__()
        if gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.grid, self.radius, self.gamma, self.use_pseudo = grid, radius, gamma, pseudo
        self.reset_buffers()

    def reset_buffers(self) -> None:
        """(Re)compute ``M`` and ``P`` (tiny constants: computed on the CPU, then moved to the default
        device; call it again after building on ``meta`` to get real buffers)."""
        with torch.device("cpu"):
            mask = sparse_mask(*self.grid, radius=self.radius)
            pseudo_mask = pseudo_attention(mask, self.gamma) if self.use_pseudo else torch.zeros_like(mask)
        device = torch.get_default_device()
        self.register_buffer("mask", mask.to(device), persistent=False)
        self.register_buffer("pseudo", pseudo_mask.to(device), persistent=False)

    def forward(self, scores: Tensor) -> Tensor:
        """Masked attention weights for ``scores`` ``[..., n, n]``."""
        return masked_attention_weights(scores, self.mask, self.pseudo)
