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

from typing import Protocol

from torch import Tensor

__all__ = ["APEX_VIEW", "FLOW_STRAIN_CHANNEL", "FLOW_U_CHANNEL", "FLOW_VIEW", "FLOW_V_CHANNEL", "INPUT_VIEWS",
           "NUM_INPUT_IMAGES", "ONSET_APEX_VIEW", "check_input", "input_planes", "input_view_of"]

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


class PlaneSelection(Protocol):
    """The config fields :func:`input_planes` reads (every baseline config has them)."""

    image_size: int
    in_channels: int
    image: int
    channels: tuple[int, ...]
    input_scale: float
    input_shift: float


def input_planes(x: Tensor, cfg: PlaneSelection, image: int | None = None) -> Tensor:
    """Checked, scaled planes ``[B, len(cfg.channels), S, S]`` of one input image.

    ``x [B, 4, in_channels, S, S]`` → ``x[:, image, cfg.channels] * cfg.input_scale + cfg.input_shift``
    (``image`` defaults to ``cfg.image``).
    """
    check_input(x, cfg.in_channels, cfg.image_size)
    index = cfg.image if image is None else image
    return x[:, index, list(cfg.channels)] * cfg.input_scale + cfg.input_shift
