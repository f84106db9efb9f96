"""CausalNet (Zhang, Tang, Chen, ICCV 2025) built from a typed config (SPEC §3).

Data flow for a batch ``x [B, 4, 3, 28, 28]`` (the four mosaic images, 0-255 BGR values):

- the motion encoder (shared by images 0 and 1, run as one batch) gives ``m1, m2 [B, 4, D]``
  (its ``1024 x 1 x 1`` output reshaped to ``D x 2 x 2`` tokens);
- with CMPLM, the direction encoder (shared by images 2 and 3) gives ``d1, d2``, CMPLM turns them
  into position embeddings ``p1, p2`` and ``m1 += p1``, ``m2 += p2``;
- the causal attention block gives ``y1_for, y2_for, y1_back, y2_back``; causal relation mining
  (or, without CRM, a plain sum) fuses the long-range pair into ``y_long``;
- the head maps ``[y_long, y1_for, y1_back]`` (``12 x D``) through ``Linear(12D, 2048)`` and
  ``Linear(2048, classes)`` (no non-linearity between them, as the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import ANY, Check, at_least, between, positive
from causalnet.config import PresetMixin
from causalnet.models.cab import CausalAttentionBlock, CausalRelationMining
from causalnet.models.cmplm import CMPLM
from causalnet.models.encoder import HierarchicalEncoder
from causalnet.models.layout import PatchLayout, patchify
from causalnet.models.masking import SparseMask
from causalnet.models.registry import register_model

NUM_IMAGES = 4  # onset->apex flow, apex->offset flow, and their direction maps


@dataclass
class CausalNetConfig(PresetMixin):
    """Every hyperparameter of CausalNet. Presets: ``paper`` (the reference), ``compact`` (CPU).

    Build from a preset: a field's default is the behaviour from before the field existed, so that
    configs stored in old run folders and checkpoints keep meaning what they meant (the ``paper``
    preset sets the reference's value of each such field).

    Attributes:
        num_classes: output classes (3 for the composite benchmark).
        image_size, patch_size, in_channels: input geometry (28, 7, 3).
        dim: width of the encoders' first level; doubles per level. The final feature
            (``dim * 2**(levels-1)`` channels) is reshaped to ``token_grid**2`` tokens of width D.
        depths: block repeats per encoder level, ``(l1, l2, l3)``.
        heads: heads of the first encoder level; doubles per level.
        mlp_ratio: MLP expansion of every transformer layer.
        token_grid: side of the token grid seen by CMPLM and CAB (2).
        gamma: decay rate of the pseudo-attention.
        mask_radius: squared-distance threshold ``r`` of the sparse mask.
        cmplm_depth: CMPLM layers; ``None`` = ``depths[-1]`` as in the reference.
        cmplm_heads, cab_heads, crm_heads: attention heads of the causal modules (reference: 8 each).
        cmplm_sequential: reference's sequential CMPLM update (stream 2 sees updated stream 1).
        cmplm_attention_first: a CMPLM layer runs both cross attentions before both MLPs, so stream 2
            attends to stream 1 *before* stream 1's MLP (reference: True); False: stream 1's whole update
            (attention + MLP) precedes stream 2's.
        mlp_norm: a LayerNorm before the MLP of every CMPLM and CAB layer (reference: False).
        qkv_bias: biases in the query/key/value maps of CMPLM, CAB and CRM (reference: True; the
            output maps always have one, the encoders' ``to_qkv`` never).
        cab_depth: CAB layers (1 in the paper's best setting).
        head_hidden: width of the head's hidden linear layer.
        head_activation: GELU between the head's linear layers (the reference has none).
        dropout: dropout everywhere (0 in the reference).
        input_scale, input_shift: the model sees ``x * input_scale + input_shift`` (the reference feeds
            raw 0-255 values: 1 and 0; ``1/127.5`` and ``-1`` map them to [-1, 1]).
        cmplm, stca, crm, pseudo_attention: the ablation switches of paper Table 3.
        fast: skip the provably irrelevant query/key maps of single-token attention blocks.
    """

    num_classes: int = 3
    image_size: int = 28
    patch_size: int = 7
    in_channels: int = 3
    dim: int = 256
    depths: tuple[int, ...] = (3, 3, 9)
    heads: int = 3
    mlp_ratio: int = 4
    token_grid: int = 2
    gamma: float = 0.5
    mask_radius: float = 1.0
    cmplm_depth: int | None = None
    cmplm_heads: int = 8
    cmplm_sequential: bool = True
    cmplm_attention_first: bool = False
    mlp_norm: bool = True
    qkv_bias: bool = False
    cab_depth: int = 1
    cab_heads: int = 8
    crm_heads: int = 1
    head_hidden: int = 2048
    head_activation: bool = False
    dropout: float = 0.0
    input_scale: float = 1.0
    input_shift: float = 0.0
    cmplm: bool = True
    stca: bool = True
    crm: bool = True
    pseudo_attention: bool = True
    fast: bool = True

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "num_classes": between(2, 1000), "image_size": between(1, 256), "patch_size": between(1, 64),
        "in_channels": between(1, 16), "dim": between(1, 1024), "depths": between(1, 32, items=(1, 4)),
        "heads": between(1, 64), "mlp_ratio": between(1, 16), "token_grid": between(1, 8), "gamma": positive(),
        "mask_radius": at_least(0), "cmplm_depth": between(1, 32), "cmplm_heads": between(1, 64),
        "cab_depth": between(1, 16), "cab_heads": between(1, 64), "crm_heads": between(1, 64),
        "head_hidden": between(1, 16384), "dropout": between(0, 1, hi_open=True), "input_scale": ANY,
        "input_shift": ANY,
    }

    def __post_init__(self) -> None:
        if self.final_channels % self.token_grid**2:
            raise ValueError(f"the final feature ({self.final_channels}) cannot form a {self.token_grid}^2 grid")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")
        if min(self.depths) < 1 or self.cab_depth < 1:
            raise ValueError("every depth must be >= 1")

    @property
    def final_channels(self) -> int:
        """Size of an encoder's flattened output (1024 = 1024 x 1 x 1 for the reference)."""
        levels = len(self.depths)
        side = self.image_size // self.patch_size // 2 ** (levels - 1)  # each aggregation halves the grid
        return self.dim * 2 ** (levels - 1) * side**2

    @property
    def token_dim(self) -> int:
        """D, the width of the tokens CMPLM and CAB work on."""
        return self.final_channels // self.token_grid**2

    @property
    def num_tokens(self) -> int:
        return self.token_grid**2


def _paper() -> CausalNetConfig:
    # The reference function (SPEC §3, shared/reference/README.md): 276,590,089 parameters.
    return CausalNetConfig(cmplm_attention_first=True, mlp_norm=False, qkv_bias=True, crm_heads=8)


def _compact() -> CausalNetConfig:
    # A small CPU configuration chosen by rule, not by test scores (docs/results.md): width 16
    # (D = 16), one block per level, GELU head of width 64, no dropout, inputs mapped to [-1, 1].
    return CausalNetConfig(dim=16, depths=(1, 1, 1), heads=1, cmplm_heads=2, cab_heads=2, head_hidden=64,
                           head_activation=True, dropout=0.0, input_scale=1 / 127.5, input_shift=-1.0)


CausalNetConfig.PRESETS = {"paper": _paper, "compact": _compact}


@register_model("causalnet", CausalNetConfig)
class CausalNet(nn.Module):
    """CausalNet: ``forward(x [B, 4, 3, 28, 28]) -> logits [B, num_classes]``."""

    def __init__(self, config: CausalNetConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or CausalNetConfig()
        d = cfg.token_dim
        grid = (cfg.token_grid, cfg.token_grid)
        enc = dict(image_size=cfg.image_size, patch_size=cfg.patch_size, in_channels=cfg.in_channels,
                   dim=cfg.dim, depths=cfg.depths, heads=cfg.heads, mlp_ratio=cfg.mlp_ratio,
                   dropout=cfg.dropout, fast=cfg.fast)
        mask = SparseMask(grid, cfg.mask_radius, cfg.gamma, pseudo=cfg.pseudo_attention)
        self.motion_encoder = HierarchicalEncoder(**enc)
        if cfg.cmplm:
            self.direction_encoder = HierarchicalEncoder(**enc)
            depth = cfg.cmplm_depth if cfg.cmplm_depth is not None else cfg.depths[-1]
            self.cmplm = CMPLM(d, depth, cfg.cmplm_heads, mask, cfg.mlp_ratio, cfg.dropout, cfg.cmplm_sequential,
                               cfg.cmplm_attention_first, cfg.mlp_norm, cfg.qkv_bias)
        self.cab = CausalAttentionBlock(d, cfg.cab_depth, cfg.cab_heads, mask, cfg.mlp_ratio, cfg.dropout,
                                        stca=cfg.stca, mlp_norm=cfg.mlp_norm, bias=cfg.qkv_bias)
        self.crm = CausalRelationMining(d, cfg.crm_heads, cfg.qkv_bias) if cfg.crm else None
        self.head = nn.Sequential(
            nn.Linear(3 * cfg.num_tokens * d, cfg.head_hidden),
            nn.GELU() if cfg.head_activation else nn.Identity(),
            nn.Linear(cfg.head_hidden, cfg.num_classes),
        )

    def encode_pair(self, encoder: HierarchicalEncoder, patches: Tensor) -> tuple[Tensor, Tensor]:
        """Run a shared encoder on a pair of patchified images ``[B, 2, h, w, P]`` as one batch -> two ``[B, n, D]``
        token sets."""
        fmap = encoder.forward_patches(rearrange(patches, "b t h w p -> (b t) h w p"))
        tokens = rearrange(fmap, "m h w c -> m (c h w)")
        tokens = rearrange(tokens, "(b t) (d g1 g2) -> t b (g1 g2) d", t=2, g1=self.config.token_grid,
                           g2=self.config.token_grid)
        return tokens[0], tokens[1]

    def motion_tokens(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        """Motion features of images 0 and 1 (prepared input, :meth:`prepare_input`), with CMPLM's position
        embeddings added when enabled."""
        m1, m2 = self.encode_pair(self.motion_encoder, patches[:, :2])
        if self.config.cmplm:
            p1, p2 = self.cmplm(*self.encode_pair(self.direction_encoder, patches[:, 2:]))
            m1, m2 = m1 + p1, m2 + p2
        return m1, m2

    def normalise(self, x: Tensor) -> Tensor:
        """Map raw 0-255 inputs to the range the network works in."""
        return x * self.config.input_scale + self.config.input_shift

    def prepare_input(self, x: Tensor) -> Tensor:
        """Raw images ``[B, 4, C, S, S]`` -> normalised patches ``[B, 4, S/p, S/p, p*p*C]``, what the encoders
        embed (pixel-wise, so a training loop can prepare a fold's inputs once: :meth:`input_layout`)."""
        _check_input(x, self.config)
        return patchify(self.normalise(x), self.config.patch_size)

    def input_layout(self) -> PatchLayout:
        """Training inputs prepared once per fold (:mod:`causalnet.models.layout`)."""
        cfg = self.config
        return PatchLayout(self.prepare_input, cfg.in_channels, cfg.image_size, cfg.patch_size)

    def forward_features(self, x: Tensor, prepared: bool = False) -> Tensor:
        """Pre-head feature ``[B, 3 * n * D]``: flattened ``[y_long, y1_for, y1_back]`` (``prepared``: ``x`` is
        :meth:`prepare_input`'s output)."""
        patches = x if prepared else self.prepare_input(x)
        y1_for, y2_for, y1_back, y2_back = self.cab(*self.motion_tokens(patches))
        y_long = self.crm(y2_for, y2_back) if self.crm is not None else y2_for + y2_back
        return rearrange(torch.cat([y_long, y1_for, y1_back], dim=1), "b n d -> b (n d)")

    def forward(self, x: Tensor, prepared: bool = False) -> Tensor:
        return self.head(self.forward_features(x, prepared))


def _check_input(x: Tensor, cfg: CausalNetConfig) -> None:
    expected = (NUM_IMAGES, cfg.in_channels, cfg.image_size, cfg.image_size)
    if x.dim() != 5 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"expected input [B, {', '.join(map(str, expected))}], got {list(x.shape)}")
