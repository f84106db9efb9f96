"""Frames in: a folder of frame images in natural sort order, or a video file read with OpenCV.

Frame *indexes* count a clip's frames from 0 in natural sort order (``img2`` before ``img10``);
the official datasets' frame *numbers* (in the file names) are mapped to indexes by the dataset
builders. Only the frames asked for are decoded.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from causalnet.checks import check_regular_file

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameFolder",
    "FrameSource",
    "VideoFile",
    "frame_number",
    "list_frames",
    "natural_key",
    "open_frames",
    "read_image",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".m4v")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key ordering embedded numbers by value: ``img2.jpg`` < ``img10.jpg``."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.lower(), p) for p in parts)


def frame_number(path: str | os.PathLike) -> int | None:
    """The last number in a frame file's stem (``img46.jpg`` → 46, ``006_05562.jpg`` → 5562), or None."""
    numbers = _DIGITS.findall(Path(path).stem)
    return int(numbers[-1]) if numbers else None


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """The image files of a frame folder in natural sort order (hidden files ignored).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: frame folder not found")
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    if not files:
        raise ValueError(f"{folder}: no frame images ({', '.join(IMAGE_EXTENSIONS)}) in the folder")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(path: str | os.PathLike, gray: bool = False) -> np.ndarray:
    """Read one frame as a BGR uint8 array ``[H, W, 3]`` (``gray``: ``[H, W]``), with errors naming the file."""
    path = check_regular_file(path, "frame image")  # a device such as /dev/zero is refused, not read
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ValueError(f"{path}: unreadable image (corrupt or not an image file)")
    return img


class FrameSource:
    """A clip's frames: ``len(source)`` frames, ``source.read(indexes)`` decodes some of them,
    ``source.iter_frames()`` streams them all in order (one frame in memory at a time)."""

    path: Path
    #: frame rate stored with the frames (0.0 = unknown, e.g. a frame folder)
    fps: float = 0.0

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, indexes: Sequence[int]) -> list[np.ndarray]:  # pragma: no cover - interface
        """The frames at ``indexes`` (BGR uint8 ``[H, W, 3]`` each), in the order asked."""
        raise NotImplementedError

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:  # pragma: no cover - interface
        """Every frame in order: BGR uint8 ``[H, W, 3]``, or ``[H, W]`` with ``gray``."""
        raise NotImplementedError

    def name(self, index: int) -> str:
        """A human-readable name of one frame for messages (file path, or ``video#index``)."""
        return f"{self.path}#{index}"

    def check_indexes(self, indexes: Sequence[int]) -> None:
        """Raise a ValueError naming the clip when an index is outside ``[0, len-1]``."""
        n = len(self)
        for i in indexes:
            if not 0 <= int(i) < n:
                raise ValueError(
                    f"{self.path}: frame index {i} out of range (the clip has {n} frames, indexes 0..{n - 1})"
                )


class FrameFolder(FrameSource):
    """A folder of frame images; frame ``i`` is the i-th file in natural sort order."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder)
        self.files = list_frames(self.path)

    def __len__(self) -> int:
        return len(self.files)

    def name(self, index: int) -> str:
        return str(self.files[index]) if 0 <= index < len(self.files) else super().name(index)

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:
        for path in self.files:
            yield read_image(path, gray)

    def read(self, indexes: Sequence[int]) -> list[np.ndarray]:
        self.check_indexes(indexes)
        cache: dict[int, np.ndarray] = {}
        for i in indexes:
            if i not in cache:
                cache[i] = read_image(self.files[i])
        return [cache[i] for i in indexes]


class VideoFile(FrameSource):
    """A video file decoded with OpenCV; frames are decoded sequentially up to the last one asked."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_regular_file(path, "video file")
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise ValueError(f"{self.path}: OpenCV cannot open this video (unknown format or codec)")
            self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        finally:
            cap.release()

    def __len__(self) -> int:
        """The frame count the container reports (exact counts come from decoding, see :meth:`read`)."""
        return self._count

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise ValueError(f"{self.path}: OpenCV cannot open this video (unknown format or codec)")
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if gray and frame.ndim == 3 else frame
        finally:
            cap.release()

    def read(self, indexes: Sequence[int]) -> list[np.ndarray]:
        wanted = sorted({int(i) for i in indexes})
        if wanted and wanted[0] < 0:
            raise ValueError(f"{self.path}: frame index {wanted[0]} out of range (indexes start at 0)")
        found: dict[int, np.ndarray] = {}
        cap = cv2.VideoCapture(str(self.path))
        try:
            last = wanted[-1] if wanted else -1
            index = 0
            while index <= last:
                ok, frame = cap.read()
                if not ok:
                    raise ValueError(
                        f"{self.path}: frame index {last} out of range (the video has "
                        f"{index} decodable frames, indexes 0..{index - 1})"
                    )
                if index in wanted:
                    found[index] = frame
                index += 1
        finally:
            cap.release()
        return [found[int(i)] for i in indexes]


def open_frames(path: str | os.PathLike) -> FrameSource:
    """A :class:`FrameFolder` for a directory, a :class:`VideoFile` for a file."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            log.warning("%s: unusual video extension; trying OpenCV anyway", path)
        return VideoFile(path)
    if path.exists():
        check_regular_file(path, "video file")  # a device, a FIFO: "not a regular file"
    raise FileNotFoundError(f"{path}: no such frame folder or video file")
