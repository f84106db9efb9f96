"""One clip → CausalNet's four input images (SPEC §2).

``clip_images`` takes the onset, apex and offset frames and returns ``[4, 28, 28, 3]`` uint8 in
the BGR order ``cv2.imwrite`` writes:

    0  onset→apex optical-flow image   (strain, v, u; see :mod:`causalnet.flow.optical_flow`)
    1  apex→offset optical-flow image
    2  direction map of the onset→apex flow   (see :mod:`causalnet.flow.direction`)
    3  direction map of the apex→offset flow

Steps: align the face on the onset frame and crop all three frames the same way
(:mod:`causalnet.flow.face`), grayscale TV-L1 flow onset→apex and apex→offset, optical strain,
per-channel min–max normalisation to 0..255, shrink to 28×28, direction maps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from causalnet.flow.config import PreprocessConfig
from causalnet.flow.direction import direction_map, direction_map_from_flow
from causalnet.flow.face import align_faces
from causalnet.flow.frames import FrameSource, open_frames
from causalnet.flow.optical_flow import CHANNEL_U, CHANNEL_V, flow_channels, tvl1_flow

__all__ = [
    "N_IMAGES",
    "clip_images",
    "flow_pair_images",
    "images_from_faces",
    "images_from_path",
    "images_from_source",
    "stack_images",
]

log = logging.getLogger(__name__)

N_IMAGES = 4


def flow_pair_images(flow: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(optical-flow image, direction map), each uint8 ``[out, out, 3]`` BGR, of one flow ``[H, W, 2]``."""
    channels = flow_channels(flow, cfg)
    of_image = np.rint(channels).astype(np.uint8)
    if cfg.direction_from == "normalised":
        direction = direction_map(channels[..., CHANNEL_U] / 255.0, channels[..., CHANNEL_V] / 255.0)
    else:
        direction = direction_map_from_flow(flow, cfg)
    return of_image, direction


def clip_images(
    frames: Sequence[np.ndarray], cfg: PreprocessConfig | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """The four images ``[4, out, out, 3]`` uint8 (BGR) of a clip from its three key-frames.

    Args:
        frames: (onset, apex, offset) frames, BGR ``[H, W, 3]`` or gray ``[H, W]`` uint8, one size.
        cfg: pipeline parameters (face handling, TV-L1, output size).
        names: frame names used in error messages (e.g. the files).
    """
    cfg = cfg or PreprocessConfig()
    if len(frames) != 3:
        raise ValueError(f"clip_images needs 3 key-frames (onset, apex, offset), got {len(frames)}")
    return images_from_faces(*align_faces(frames, cfg, names), cfg=cfg)


def images_from_faces(
    onset: np.ndarray, apex: np.ndarray, offset: np.ndarray, cfg: PreprocessConfig | None = None
) -> np.ndarray:
    """The four images ``[4, out, out, 3]`` uint8 (BGR) from aligned grayscale faces ``[S, S]`` uint8."""
    cfg = cfg or PreprocessConfig()
    rise = flow_pair_images(tvl1_flow(onset, apex, cfg), cfg)
    fall = flow_pair_images(tvl1_flow(apex, offset, cfg), cfg)
    return stack_images(rise, fall)


def stack_images(rise: tuple[np.ndarray, np.ndarray], fall: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The four images ``[4, out, out, 3]`` from the (flow image, direction map) pairs of the
    onset→apex (``rise``) and apex→offset (``fall``) flows, in the order of the module docstring."""
    return np.stack([rise[0], fall[0], rise[1], fall[1]])


def images_from_source(
    source: FrameSource, onset: int, apex: int, offset: int, cfg: PreprocessConfig | None = None
) -> np.ndarray:
    """The four images ``[4, out, out, 3]`` of a clip given by a frame source and key-frame indexes.

    Indexes count the source's frames from 0 (natural sort order for a folder).
    """
    indexes = (int(onset), int(apex), int(offset))
    frames = source.read(indexes)
    return clip_images(frames, cfg, [source.name(i) for i in indexes])


def images_from_path(
    path: str | os.PathLike, onset: int, apex: int, offset: int, cfg: PreprocessConfig | None = None
) -> np.ndarray:
    """Like :func:`images_from_source` for a frame folder or a video file path."""
    return images_from_source(open_frames(path), onset, apex, offset, cfg)
