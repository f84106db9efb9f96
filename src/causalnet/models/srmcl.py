"""An SRMCL-style baseline (Bao et al., IEEE TAFFC 2024): a ViT on the onset→apex flow with two auxiliary losses.

SRMCL ("Boosting micro-expression recognition via self-expression reconstruction and memory
contrastive learning") trains a ViT on the TV-L1 flow between onset and apex with

- **self-expression reconstruction (SER)**: the encoded patch tokens are randomly masked (a share
  ``mask_ratio`` replaced by a learned mask token, ``mask_rounds`` times in a row), a light
  transformer decoder reconstructs the input patches, and the mean squared error on the masked
  patches is an auxiliary loss; the classifier sees the *masked* sequence during training
  (random patch dropout) and the full one at test time;
- **prototype-based memory contrastive learning (PMCL)**: a memory of one L2-normalised prototype
  per class; each sample's normalised feature is classified against the prototypes (logits
  ``z · p_c / τ``, cross-entropy), and after each step every prototype moves to
  ``m · p_c + (1 − m) · mean of the batch's class-c features`` and is re-normalised.

Loss: ``CE(head) + recon_weight · SER + memory_weight · PMCL``. Facts from the paper and its release:
onset→apex flow input, a ViT encoder with a class token and fixed 2-D sin-cos position codes (14×14
tokens, width 768, depth 3, 16 heads, MLP ratio 2), a final transformer layer before the class
token feeds the head (LayerNorm + linear), decoder width 512 / depth 3 / 16 heads, mask ratio 0.75,
two masking rounds, loss weights 0.5 and 0.5, temperature 0.05, prototype momentum 0.1. Our
choices: patches of 2×2 on the 28-px image (the release's 14×14 grid from 224 px and 16-px
patches), the flow image's u, v, strain channels, the package's attention code (no query/key/value
bias), masks drawn independently in each round from the encoded tokens, no ImageNet/MAE
pre-training.

**Training hook.** SRMCL's auxiliary losses need the labels and a different (masked) training
forward: the model provides :meth:`SRMCL.forward_train` ``(x, y) -> (logits, auxiliary_loss)``, and
the one training loop (:func:`causalnet.train.loop.fit`, through
:func:`causalnet.models.auxiliary.functional_training_outputs`) adds the returned loss to its
cross-entropy, so SRMCL trains with both auxiliary losses.

Data flow: ``x [B, 4, 3, 28, 28]`` → planes ``[B, 3, 28, 28]`` → patches ``[B, 196, 12]`` → tokens
``[B, 1 + 196, D]`` (class token + fixed codes) → encoder → last layer → class token ``[B, D]``
(:meth:`SRMCL.forward_features`) → LayerNorm + ``Linear`` → ``[B, classes]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import Check, at_least, between, positive
from causalnet.models.registry import register_model
from causalnet.models.views import (
    FLOW_STRAIN_CHANNEL,
    FLOW_U_CHANNEL,
    FLOW_V_CHANNEL,
    FLOW_VIEW,
    ImageInputConfig,
    input_planes,
)
from causalnet.models.vit import TransformerStack, sincos_grid

__all__ = ["SRMCL", "SRMCLConfig"]


@dataclass
class SRMCLConfig(ImageInputConfig):
    """Hyperparameters of the SRMCL-style baseline. Presets: ``paper`` (the release's sizes), ``compact`` (CPU).

    Attributes (besides :class:`~causalnet.models.views.ImageInputConfig`'s input fields):
        image, channels: the image read (0 = onset→apex flow) and its channels (u, v, strain).
        patch_size: side of a patch (2: a 14×14 token grid on 28 px).
        dim, depth, heads, mlp_ratio, dropout: the encoder (a last layer of the same kind follows it).
        decoder_dim, decoder_depth, decoder_heads: the reconstruction decoder.
        mask_ratio, mask_rounds: share of patch tokens masked, and how many masking rounds.
        recon_weight, memory_weight: weights of the reconstruction and memory-contrastive losses.
        temperature, memory_momentum: the memory's logit temperature and prototype momentum.
    """

    channels: tuple[int, ...] = (FLOW_U_CHANNEL, FLOW_V_CHANNEL, FLOW_STRAIN_CHANNEL)
    patch_size: int = 2
    dim: int = 768
    depth: int = 3
    heads: int = 16
    mlp_ratio: int = 2
    dropout: float = 0.0
    decoder_dim: int = 512
    decoder_depth: int = 3
    decoder_heads: int = 16
    mask_ratio: float = 0.75
    mask_rounds: int = 2
    recon_weight: float = 0.5
    memory_weight: float = 0.5
    temperature: float = 0.05
    memory_momentum: float = 0.1

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **ImageInputConfig.FIELD_CHECKS,
        "patch_size": between(1, 64), "dim": between(4, 2048), "depth": between(1, 32), "heads": between(1, 64),
        "mlp_ratio": between(1, 16), "dropout": between(0, 1, hi_open=True), "decoder_dim": between(2, 2048),
        "decoder_depth": between(1, 32), "decoder_heads": between(1, 64),
        "mask_ratio": between(0, 1, lo_open=True, hi_open=True), "mask_rounds": between(1, 8),
        "recon_weight": at_least(0), "memory_weight": at_least(0), "temperature": positive(),
        "memory_momentum": between(0, 1, hi_open=True),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.dim % 4 or self.decoder_dim % 2:
            raise ValueError("dim must be a multiple of 4 and decoder_dim even (2-D sin-cos position codes)")

    @property
    def grid(self) -> int:
        """Side of the token grid (14 for 28 px and 2-px patches)."""
        return self.image_size // self.patch_size

    @property
    def masked_tokens(self) -> int:
        """Patch tokens masked in each round."""
        return max(1, round(self.mask_ratio * self.grid**2))


def _paper() -> SRMCLConfig:
    # The release's sizes: width 768, depth 3 (+ last layer), 16 heads, MLP 2; decoder 512 / 3 / 16 heads.
    return SRMCLConfig()


def _compact() -> SRMCLConfig:
    # Rule (docs/robustness.md): widths scaled so the widest layer is 64 (the compact CausalNet's final width):
    # 768 -> 64 and the narrower decoder to half of it, 32; heads of width 16 (the compact CausalNet's head width):
    # 4 and 2; depths, masking and losses as published; inputs in [-1, 1]. Over the compute cap with 2-px patches
    # (45.8 M multiply-adds per sample) and 4-px patches (11.7 M with the training hook), so 7-px patches: a 4x4
    # token grid, 3.6 M <= 4x the compact CausalNet's 1.34 M. Fixed before any robustness run.
    return SRMCLConfig(patch_size=7, dim=64, heads=4, decoder_dim=32, decoder_heads=2, input_scale=1 / 127.5,
                       input_shift=-1.0)


SRMCLConfig.PRESETS = {"paper": _paper, "compact": _compact}


@register_model("srmcl", SRMCLConfig)
class SRMCL(nn.Module):
    """SRMCL-style ViT: ``forward(x [B, 4, 3, 28, 28]) -> logits`` from image 0; ``forward_train`` adds the losses."""

    input_view: ClassVar[str] = FLOW_VIEW

    def __init__(self, config: SRMCLConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or SRMCLConfig()
        patch = cfg.patch_size**2 * len(cfg.channels)
        self.patch_embed = nn.Linear(patch, cfg.dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.register_buffer("pos_code", sincos_grid(cfg.grid, cfg.grid, cfg.dim), persistent=False)
        self.encoder = TransformerStack(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.dim)
        self.last = TransformerStack(cfg.dim, 1, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.head = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.num_classes))
        # self-expression reconstruction (used by forward_train only)
        self.mask_token = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.decoder_embed = nn.Linear(cfg.dim, cfg.decoder_dim)
        self.register_buffer("decoder_pos_code", sincos_grid(cfg.grid, cfg.grid, cfg.decoder_dim), persistent=False)
        self.decoder = TransformerStack(cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads, cfg.mlp_ratio,
                                        cfg.dropout)
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim)
        self.decoder_pred = nn.Linear(cfg.decoder_dim, patch)
        # prototype memory: one normalised prototype per class, updated by forward_train (not by gradients)
        self.register_buffer("prototypes", torch.zeros(cfg.num_classes, cfg.dim))

    def patches(self, x: Tensor) -> Tensor:
        """Scaled image-``image`` planes as patch vectors ``[B, T, p · p · channels]`` (row-major grid)."""
        p = self.config.patch_size
        return rearrange(input_planes(x, self.config), "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)

    def encode(self, patches: Tensor) -> Tensor:
        """Patch vectors ``[B, T, ·]`` → normalised encoder tokens ``[B, 1 + T, D]`` (class token first)."""
        tokens = self.patch_embed(patches) + self.pos_code
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return self.norm(self.encoder(torch.cat([cls, tokens], dim=1)))

    def forward_features(self, x: Tensor) -> Tensor:
        """Class token after the last layer ``[B, D]`` (full, unmasked sequence)."""
        return self.last(self.encode(self.patches(x)))[:, 0]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))

    # -- training with the auxiliary losses -----------------------------------------------------
    def forward_train(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """A training step's ``(logits [B, classes], auxiliary loss [])``; updates the prototype memory.

        The logits come from the masked sequence (SER's random patch dropout); the auxiliary loss is
        ``recon_weight · reconstruction MSE + memory_weight · memory cross-entropy``. The caller adds its
        own (cross-entropy) loss on the logits.
        """
        patches = self.patches(x)
        seq = self.encode(patches)
        recon = seq.new_zeros(())
        for _ in range(self.config.mask_rounds):
            seq, mask = self._mask(seq)
            recon = recon + self._reconstruction_loss(seq, patches, mask)
        features = self.last(seq)[:, 0]
        memory = self._memory_loss(features, y)
        return self.head(features), self.config.recon_weight * recon + self.config.memory_weight * memory

    def _mask(self, seq: Tensor) -> tuple[Tensor, Tensor]:
        """Replace ``masked_tokens`` random patch tokens per sample by the mask token; mask ``[B, T]`` (masked)."""
        tokens = seq[:, 1:]
        noise = torch.rand(tokens.shape[:2], device=seq.device)
        mask = noise.argsort(dim=1).argsort(dim=1) < self.config.masked_tokens
        tokens = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        return torch.cat([seq[:, :1], tokens], dim=1), mask

    def _reconstruction_loss(self, seq: Tensor, patches: Tensor, mask: Tensor) -> Tensor:
        """Mean squared error of the decoded patches on the masked positions."""
        decoded = self.decoder(self.decoder_embed(seq)[:, 1:] + self.decoder_pos_code)
        error = (self.decoder_pred(self.decoder_norm(decoded)) - patches).pow(2).mean(dim=-1)  # [B, T]
        return (error * mask).sum() / mask.sum()

    def _memory_loss(self, features: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy of the normalised features against the class prototypes; then the prototype update."""
        z = F.normalize(features.float(), dim=-1)
        loss = F.cross_entropy(z @ self.prototypes.clone().t() / self.config.temperature, y)
        with torch.no_grad():
            onehot = F.one_hot(y, self.config.num_classes).to(z.dtype)  # [B, C]
            counts = onehot.sum(dim=0)[:, None]
            means = onehot.t() @ z.detach() / counts.clamp(min=1)
            m = self.config.memory_momentum
            moved = F.normalize(m * self.prototypes + (1 - m) * means, dim=-1)
            self.prototypes.copy_(torch.where(counts > 0, moved, self.prototypes))
        return loss
