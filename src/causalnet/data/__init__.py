"""Data: the composite benchmark loader and the facial-block mosaic."""

from causalnet.data.composite import (
    CLASS_NAMES,
    CSV_NAME,
    DATASETS,
    IMAGE_DIR,
    ClipSet,
    image_paths,
    load_composite,
    read_index,
)
from causalnet.data.mosaic import facial_mosaic

__all__ = ["CLASS_NAMES", "CSV_NAME", "DATASETS", "IMAGE_DIR", "ClipSet", "facial_mosaic", "image_paths",
           "load_composite", "read_index"]
