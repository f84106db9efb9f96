"""Off-ApexNet and an apex-frame-only CNN: small key-frame-based baselines.

**Off-ApexNet** (Gan et al., 2019) classifies a micro-expression from the optical flow between the
onset and the apex frame: one small CNN stream per flow component (horizontal u, vertical v), each
two convolution + max-pool stages, the streams' features concatenated and passed through fully
connected layers. Here it reads image 0 of the common input ``x [B, 4, 3, 28, 28]`` (the onset→apex
optical-flow image: BGR channel 2 = u, channel 1 = v, channel 0 = strain); images 1–3 are ignored.
The streams are one grouped convolution (``groups`` = number of streams), so each stream has its
own weights.

**Apex-frame-only model** (``apexnet``): the same CNN on one grey channel of the *apex frame*
(input view :data:`~causalnet.models.views.APEX_VIEW`: image 0 holds the aligned apex face), so it
depends on the apex index alone — the extreme key-frame-based peer.

Data flow: ``x[:, image, channels] [B, S, 28, 28]`` → scale/shift → ``S`` streams of
``conv k×k → ReLU → max-pool`` per width → ``[B, S · w_last · 7 · 7]`` → ``Linear → ReLU
(→ dropout)`` per ``fc_widths`` → ``Linear(·, classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from einops import rearrange
from torch import Tensor, nn

from causalnet.checks import ANY, Check, between
from causalnet.config import PresetMixin
from causalnet.models.registry import register_model
from causalnet.models.views import APEX_VIEW, FLOW_VIEW, NUM_INPUT_IMAGES, check_input

__all__ = ["ApexNet", "ApexNetConfig", "OffApexNet", "OffApexNetConfig"]

#: BGR channel indexes of the optical-flow image (see causalnet.flow.optical_flow): u and v.
FLOW_U_CHANNEL = 2
FLOW_V_CHANNEL = 1


@dataclass
class OffApexNetConfig(PresetMixin):
    """Hyperparameters of Off-ApexNet. Presets: ``paper`` (the published sizes), ``compact`` (CPU).

    Attributes:
        num_classes: output classes.
        image_size, in_channels: input geometry (28, 3).
        image: which of the four input images the model reads (0 = onset→apex flow).
        channels: channels of that image, one CNN stream each (default u, v as Off-ApexNet).
        conv_widths: filters of each convolution stage (per stream).
        kernel_size: side of the convolution kernels ("same" padding).
        pool: max-pool size and stride after each convolution.
        fc_widths: widths of the fully connected hidden layers.
        dropout: dropout after each hidden fully connected layer.
        input_scale, input_shift: the model sees ``x * input_scale + input_shift``.
    """

    num_classes: int = 3
    image_size: int = 28
    in_channels: int = 3
    image: int = 0
    channels: tuple[int, ...] = (FLOW_U_CHANNEL, FLOW_V_CHANNEL)
    conv_widths: tuple[int, ...] = (6, 16)
    kernel_size: int = 5
    pool: int = 2
    fc_widths: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.0
    input_scale: float = 1.0 / 255.0
    input_shift: float = 0.0

    #: allowed ranges (checked on construction); sizes are bounded so a crafted config cannot allocate absurd memory
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "num_classes": between(2, 1000), "image_size": between(1, 256), "in_channels": between(1, 16),
        "image": between(0, NUM_INPUT_IMAGES - 1), "channels": between(0, 15, items=(1, 16)),
        "conv_widths": between(1, 1024, items=(1, 4)), "kernel_size": between(1, 15, odd=True),
        "pool": between(1, 8), "fc_widths": between(1, 8192, items=(0, 4)), "dropout": between(0, 1, hi_open=True),
        "input_scale": ANY, "input_shift": ANY,
    }

    def __post_init__(self) -> None:
        if not 0 <= self.image < NUM_INPUT_IMAGES:
            raise ValueError(f"image must be in 0..{NUM_INPUT_IMAGES - 1}, got {self.image}")
        if not self.channels or any(not 0 <= c < self.in_channels for c in self.channels):
            raise ValueError(f"channels must be a non-empty tuple of indexes < {self.in_channels}: {self.channels}")
        if not self.conv_widths or self.kernel_size % 2 == 0 or self.pool < 1:
            raise ValueError("need >= 1 convolution stage, an odd kernel_size and pool >= 1")
        if self.image_size % self.pool ** len(self.conv_widths):
            raise ValueError(f"image_size {self.image_size} is not divisible by pool^{len(self.conv_widths)}")

    @property
    def feature_side(self) -> int:
        """Side of each stream's final feature map (7 for 28 px and two 2×2 pools)."""
        return self.image_size // self.pool ** len(self.conv_widths)


def _offapex_paper() -> OffApexNetConfig:
    # Off-ApexNet's published structure: u and v streams, 5x5 convolutions with 6 and 16 filters, 2x2 max-pool,
    # two fully connected layers of 1024.
    return OffApexNetConfig()


def _offapex_compact() -> OffApexNetConfig:
    # Rule (docs/robustness.md): the published structure with the hidden fully connected layers cut to one of 64
    # (the compact CausalNet's head width), no dropout, inputs mapped to [-1, 1]. Fixed before any robustness run.
    return OffApexNetConfig(fc_widths=(64,), dropout=0.0, input_scale=1 / 127.5, input_shift=-1.0)


OffApexNetConfig.PRESETS = {"paper": _offapex_paper, "compact": _offapex_compact}


class StreamCNN(nn.Module):
    """The shared implementation: per-channel CNN streams (a grouped convolution), then an MLP head."""

    def __init__(self, cfg: OffApexNetConfig) -> None:
        super().__init__()
        self.config = cfg
        streams = len(cfg.channels)
        layers: list[nn.Module] = []
        width_in = 1
        for width in cfg.conv_widths:
            layers += [nn.Conv2d(streams * width_in, streams * width, cfg.kernel_size, padding=cfg.kernel_size // 2,
                                 groups=streams),
                       nn.ReLU(), nn.MaxPool2d(cfg.pool)]
            width_in = width
        self.streams = nn.Sequential(*layers)
        features = streams * width_in * cfg.feature_side**2
        head: list[nn.Module] = []
        for width in cfg.fc_widths:
            head += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(cfg.dropout)]
            features = width
        head.append(nn.Linear(features, cfg.num_classes))
        self.head = nn.Sequential(*head)

    def forward_features(self, x: Tensor) -> Tensor:
        """Concatenated stream features ``[B, streams * w_last * side * side]`` (stream-major)."""
        cfg = self.config
        check_input(x, cfg.in_channels, cfg.image_size)
        planes = x[:, cfg.image, list(cfg.channels)] * cfg.input_scale + cfg.input_shift  # [B, S, H, W]
        return rearrange(self.streams(planes), "b c h w -> b (c h w)")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


@register_model("offapexnet", OffApexNetConfig)
class OffApexNet(StreamCNN):
    """Off-ApexNet: ``forward(x [B, 4, 3, 28, 28]) -> logits`` from the u and v channels of image 0."""

    input_view: ClassVar[str] = FLOW_VIEW

    def __init__(self, config: OffApexNetConfig | None = None) -> None:
        super().__init__(config or OffApexNetConfig())


@dataclass
class ApexNetConfig(OffApexNetConfig):
    """The apex-frame-only CNN: Off-ApexNet's structure on one grey channel of the apex frame.

    Presets: ``paper`` (Off-ApexNet's sizes, one stream) and ``compact`` (as Off-ApexNet's compact).
    """

    channels: tuple[int, ...] = (0,)


def _apex_paper() -> ApexNetConfig:
    return ApexNetConfig()


def _apex_compact() -> ApexNetConfig:
    # Same rule as Off-ApexNet's compact preset.
    return ApexNetConfig(fc_widths=(64,), dropout=0.0, input_scale=1 / 127.5, input_shift=-1.0)


ApexNetConfig.PRESETS = {"paper": _apex_paper, "compact": _apex_compact}


@register_model("apexnet", ApexNetConfig)
class ApexNet(StreamCNN):
    """Apex-frame-only baseline: ``forward(x [B, 4, 3, 28, 28]) -> logits`` from the apex face in image 0.

    Expects the :data:`~causalnet.models.views.APEX_VIEW` input (see :mod:`causalnet.models.views`).
    """

    input_view: ClassVar[str] = APEX_VIEW

    def __init__(self, config: ApexNetConfig | None = None) -> None:
        super().__init__(config or ApexNetConfig())
