"""The :class:`Keyframes` value type: onset, apex and offset frame indexes of one clip.

Indexes count the clip's frames from 0 (the first frame of the clip in natural sort order), as in
the generic ``annotations.csv`` layout of the specification (§4).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence

__all__ = ["Keyframes"]


def _as_index(name: str, value: object) -> int:
    """Check that ``value`` is an integral, non-negative frame index and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"key-frame {name} must be an integer frame index, got {value!r} ({type(value).__name__})"
        )
    index = int(value)
    if index < 0:
        raise ValueError(f"key-frame {name} must be >= 0, got {index}")
    return index


@dataclasses.dataclass(frozen=True)
class Keyframes:
    """Onset, apex and offset frame indexes of one clip (0-based, counted within the clip).

    The constructor checks that each index is a non-negative integer (numpy integers are accepted
    and stored as ``int``). It does not impose ``onset <= apex <= offset``: annotations and
    perturbed key-frames may legitimately violate it (see :attr:`is_ordered` and
    :meth:`validate`).
    """

    onset: int
    apex: int
    offset: int

    def __post_init__(self) -> None:
        for name in ("onset", "apex", "offset"):
            object.__setattr__(self, name, _as_index(name, getattr(self, name)))

    @classmethod
    def from_sequence(cls, values: Sequence[int]) -> Keyframes:
        """Build from a length-3 sequence ``(onset, apex, offset)``."""
        if len(values) != 3:
            raise ValueError(f"expected (onset, apex, offset), got {len(values)} values: {values!r}")
        return cls(values[0], values[1], values[2])

    @classmethod
    def with_middle_apex(cls, onset: int, offset: int) -> Keyframes:
        """Key-frames for a clip without an apex annotation (SMIC): apex = ``(onset + offset) // 2``."""
        onset, offset = _as_index("onset", onset), _as_index("offset", offset)
        return cls(onset, (onset + offset) // 2, offset)

    def as_tuple(self) -> tuple[int, int, int]:
        """``(onset, apex, offset)``."""
        return (self.onset, self.apex, self.offset)

    @property
    def is_ordered(self) -> bool:
        """Whether ``onset <= apex <= offset``."""
        return self.onset <= self.apex <= self.offset

    def validate(self, n_frames: int, *, require_order: bool = True) -> Keyframes:
        """Check the indexes against a clip of ``n_frames`` frames; return ``self`` if valid.

        Raises ``ValueError`` naming the offending index when one lies outside ``[0, n_frames-1]``
        or, with ``require_order``, when ``onset <= apex <= offset`` does not hold.
        """
        n_frames = _check_n_frames(n_frames)
        for name, value in zip(("onset", "apex", "offset"), self.as_tuple(), strict=True):
            if value > n_frames - 1:
                raise ValueError(
                    f"key-frame {name}={value} lies outside the clip's frames [0, {n_frames - 1}]"
                )
        if require_order and not self.is_ordered:
            raise ValueError(
                f"key-frames are not ordered (onset <= apex <= offset): "
                f"onset={self.onset}, apex={self.apex}, offset={self.offset}"
            )
        return self

    def clip(self, n_frames: int) -> Keyframes:
        """A copy with every index clipped to ``[0, n_frames-1]`` (for annotations past the clip's end)."""
        last = _check_n_frames(n_frames) - 1
        return Keyframes(min(self.onset, last), min(self.apex, last), min(self.offset, last))


def _check_n_frames(n_frames: object) -> int:
    """Validate a clip length (a positive integer) and return it as ``int``."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, numbers.Integral):
        raise TypeError(f"n_frames must be an integer, got {n_frames!r}")
    if int(n_frames) < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    return int(n_frames)
