"""Small building blocks shared by the encoders and the causal modules (channel-last tokens)."""

from __future__ import annotations

from torch import Tensor, nn


class FeedForward(nn.Module):
    """Position-wise MLP ``Linear(d, r*d) -> GELU -> Linear(r*d, d)`` on ``[..., d]`` tokens."""

    def __init__(self, dim: int, ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim * ratio), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(dim * ratio, dim), nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PreNormResidual(nn.Module):
    """``x + fn(LayerNorm(x))`` on channel-last tokens."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fn(self.norm(x))
