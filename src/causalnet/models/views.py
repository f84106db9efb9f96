"""Input views: what the four images of a model's input ``x [B, 4, 3, 28, 28]`` hold.

Every registered model takes the same tensor shape, so the training loop, the LOSO runner and the
robustness engine treat all models alike. A model class says which view it expects with a class
attribute ``input_view`` (default :data:`FLOW_VIEW`):

- :data:`FLOW_VIEW` — the four images of SPEC §2 (onset→apex flow, apex→offset flow, their direction
  maps), facial-block mosaics, raw 0–255 BGR values. What the published layout and
  ``causalnet preprocess`` hold. CausalNet reads all four; the HTNet-style and Off-ApexNet baselines
  read image 0 only.
- :data:`APEX_VIEW` — image 0 is the *apex frame* itself: the aligned grayscale face shrunk to 28×28
  (area interpolation), facial-block mosaic, its grey value copied into the 3 channels (0–255);
  images 1–3 are zero. Produced by the robustness engine from raw clips
  (:mod:`causalnet.robustness.inputs`); a folder in the published layout holds no apex frames.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["APEX_VIEW", "FLOW_VIEW", "INPUT_VIEWS", "NUM_INPUT_IMAGES", "check_input", "input_view_of"]

FLOW_VIEW = "flow"
APEX_VIEW = "apex"
INPUT_VIEWS = (FLOW_VIEW, APEX_VIEW)
NUM_INPUT_IMAGES = 4


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
