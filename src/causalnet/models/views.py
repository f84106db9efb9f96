"""Input views: what the four images of a model's input ``x [B, 4, 3, 28, 28]`` hold.

Every registered model takes the same tensor shape, so the training loop, the LOSO runner and the
robustness engine treat all models alike. A model class says which view it expects with a class
attribute ``input_view`` (default :data:`FLOW_VIEW`):

- :data:`FLOW_VIEW` — the four images of SPEC §2 (onset→apex flow, apex→offset flow, their direction
  maps), facial-block mosaics, raw 0–255 BGR values. What the published layout and
  ``causalnet preprocess`` hold. CausalNet reads all four; the HTNet-style, Off-ApexNet,
  Dual-Inception, Off-TANet and SRMCL-style baselines read image 0 only.
- :data:`APEX_VIEW` — image 0 is the *apex frame* itself: the aligned grayscale face shrunk to 28×28
  (area interpolation), facial-block mosaic, its grey value copied into the 3 channels (0–255);
  images 1–3 are zero.
- :data:`ONSET_APEX_VIEW` — image 0 is the *onset* face and image 1 the *apex* face, each made
  exactly as the apex view's image 0 (aligned grayscale face, 28×28 by area interpolation,
  facial-block mosaic, grey value in the 3 channels, 0–255); images 2–3 are zero. Both faces are
  warped with the one transform found on the clip's annotated onset frame, so their difference is
  the facial motion (MMNet's input).

The apex and onset–apex views are produced by the robustness engine from raw clips
(:mod:`causalnet.robustness.inputs`); a folder in the published layout holds no frames, so
``causalnet train`` on such a folder feeds every model the flow view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from causalnet.checks import ANY, Check, between
from causalnet.config import PresetMixin

__all__ = ["APEX_VIEW", "FLOW_STRAIN_CHANNEL", "FLOW_U_CHANNEL", "FLOW_VIEW", "FLOW_V_CHANNEL", "INPUT_VIEWS",
           "NUM_INPUT_IMAGES", "ONSET_APEX_VIEW", "ImageInputConfig", "check_input", "input_planes",
           "input_view_of"]

FLOW_VIEW = "flow"
APEX_VIEW = "apex"
ONSET_APEX_VIEW = "onset_apex"
INPUT_VIEWS = (FLOW_VIEW, APEX_VIEW, ONSET_APEX_VIEW)
NUM_INPUT_IMAGES = 4
#: BGR channels of a flow-view optical-flow image (images 0, 1; see :mod:`causalnet.flow.optical_flow`).
FLOW_U_CHANNEL, FLOW_V_CHANNEL, FLOW_STRAIN_CHANNEL = 2, 1, 0


def input_view_of(model_cls: type) -> str:
    """The input view a model class expects (``input_view`` class attribute, default :data:`FLOW_VIEW`)."""
    view = getattr(model_cls, "input_view", FLOW_VIEW)
    if view not in INPUT_VIEWS:
        raise ValueError(f"{model_cls.__name__}: unknown input view {view!r}; choose from {INPUT_VIEWS}")
    return view


def check_input(x: Tensor, in_channels: int, image_size: int) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is ``[B, 4, in_channels, image_size, image_size]``."""
    expected = (NUM_INPUT_IMAGES, in_channels, image_size, image_size)
    if x.dim() != 5 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"expected input [B, {', '.join(map(str, expected))}], got {list(x.shape)}")


@dataclass
class ImageInputConfig(PresetMixin):
    """The input fields every baseline config shares (a base class: model configs add their own fields).

    Attributes:
        num_classes: output classes.
        image_size, in_channels: geometry of the input the model receives (28, 3).
        image: which of the four input images the model reads (0 = onset→apex flow / the apex face).
        channels: channels of that image the model reads.
        input_scale, input_shift: the model sees ``x * input_scale + input_shift``.
    """

    num_classes: int = 3
    image_size: int = 28
    in_channels: int = 3
    image: int = 0
    channels: tuple[int, ...] = (0, 1, 2)
    input_scale: float = 1.0 / 255.0
    input_shift: float = 0.0

    #: allowed ranges of the shared fields (a subclass adds its own: ``{**ImageInputConfig.FIELD_CHECKS, ...}``)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        "num_classes": between(2, 1000), "image_size": between(1, 256), "in_channels": between(1, 16),
        "image": between(0, NUM_INPUT_IMAGES - 1), "channels": between(0, 15, items=(1, 16)),
        "input_scale": ANY, "input_shift": ANY,
    }

    def __post_init__(self) -> None:
        if any(c >= self.in_channels for c in self.channels):
            raise ValueError(f"channels must be indexes < in_channels {self.in_channels}: {self.channels}")


ImageInputConfig.PRESETS = {"default": ImageInputConfig}


def input_planes(x: Tensor, cfg: ImageInputConfig, image: int | None = None) -> Tensor:
    """Checked, scaled planes ``[B, len(cfg.channels), S, S]`` of one input image.

    ``x [B, 4, in_channels, S, S]`` → ``x[:, image, cfg.channels] * cfg.input_scale + cfg.input_shift``
    (``image`` defaults to ``cfg.image``).
    """
    check_input(x, cfg.in_channels, cfg.image_size)
    index = cfg.image if image is None else image
    return x[:, index, list(cfg.channels)] * cfg.input_scale + cfg.input_shift
