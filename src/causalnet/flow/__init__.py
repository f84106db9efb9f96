"""From raw frames to CausalNet's four input images (SPEC §2).

- :mod:`~causalnet.flow.frames` — frame folders (natural sort order) and video files.
- :mod:`~causalnet.flow.face` — dlib face detection, 68 landmarks, alignment on the onset frame.
- :mod:`~causalnet.flow.optical_flow` — TV-L1 flow, optical strain, the optical-flow image.
- :mod:`~causalnet.flow.direction` — direction maps (supplementary Algorithm 1).
- :mod:`~causalnet.flow.pipeline` — one clip's key-frames → ``[4, 28, 28, 3]`` uint8 (BGR).
- :mod:`~causalnet.flow.synthetic` — frames with known motion for tests and benchmarks.

>>> from causalnet.flow import PreprocessConfig, images_from_path
>>> images = images_from_path("clip_frames/", onset=0, apex=12, offset=30,
...                           cfg=PreprocessConfig(face_method="none"))  # doctest: +SKIP
"""

from causalnet.flow.config import FACE_METHODS, PreprocessConfig
from causalnet.flow.direction import direction_map, direction_map_from_flow, hue_of
from causalnet.flow.face import (
    FaceBackendError,
    FaceNotFoundError,
    align_faces,
    alignment_matrix,
    detect_landmarks,
    landmark_model_path,
)
from causalnet.flow.frames import FrameFolder, FrameSource, VideoFile, list_frames, natural_key, open_frames
from causalnet.flow.optical_flow import (
    CHANNEL_STRAIN,
    CHANNEL_U,
    CHANNEL_V,
    flow_channels,
    flow_image,
    optical_strain,
    tvl1_flow,
)
from causalnet.flow.pipeline import clip_images, images_from_path, images_from_source

__all__ = [
    "CHANNEL_STRAIN",
    "CHANNEL_U",
    "CHANNEL_V",
    "FACE_METHODS",
    "FaceBackendError",
    "FaceNotFoundError",
    "FrameFolder",
    "FrameSource",
    "PreprocessConfig",
    "VideoFile",
    "align_faces",
    "alignment_matrix",
    "clip_images",
    "detect_landmarks",
    "direction_map",
    "direction_map_from_flow",
    "flow_channels",
    "flow_image",
    "hue_of",
    "images_from_path",
    "images_from_source",
    "landmark_model_path",
    "list_frames",
    "natural_key",
    "open_frames",
    "optical_strain",
    "tvl1_flow",
]
