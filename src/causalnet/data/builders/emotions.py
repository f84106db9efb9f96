"""Emotion → class maps: MEGC 2019 (three classes) and MMEW (five classes).

Emotion names are compared lower-cased with surrounding blanks removed. A *known* emotion absent
from a scheme's map (``others``, ``other``, ``tense``; ``anger`` under ``mmew5``, ...) means the clip
is left out of that class scheme. An emotion no scheme knows (a typo such as ``hapiness``) is not
silently left out: the readers report it with its file and line (:func:`is_known_emotion`).

- **MEGC 2019 / composite (SPEC §4)**: 0 negative = repression, anger, contempt, disgust, fear,
  sadness (SMIC: ``negative``); 1 positive = happiness (SMIC: ``positive``); 2 surprise.
- **MMEW, five classes** (the 279-clip protocol: anger and sadness, too rare, are left out):
  0 disgust, 1 fear, 2 happiness, 3 others, 4 surprise (alphabetical order).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "LABEL_SCHEMES",
    "MEGC2019_CLASSES",
    "MEGC2019_MAP",
    "MMEW5_CLASSES",
    "MMEW5_MAP",
    "KNOWN_EMOTIONS",
    "NO_CLASS_EMOTIONS",
    "class_names",
    "emotion_to_label",
    "is_known_emotion",
    "normalise_emotion",
]

MEGC2019_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")
MEGC2019_MAP: Mapping[str, int] = MappingProxyType(
    {
        "repression": 0,
        "anger": 0,
        "contempt": 0,
        "disgust": 0,
        "fear": 0,
        "sadness": 0,
        "negative": 0,
        "happiness": 1,
        "positive": 1,
        "surprise": 2,
    }
)

MMEW5_CLASSES: tuple[str, ...] = ("disgust", "fear", "happiness", "others", "surprise")
MMEW5_MAP: Mapping[str, int] = MappingProxyType(
    {
        "disgust": 0,
        "fear": 1,
        "happiness": 2,
        "others": 3,
        "other": 3,
        "surprise": 4,
    }
)

#: Label schemes by name: (class names, emotion map).
LABEL_SCHEMES: Mapping[str, tuple[tuple[str, ...], Mapping[str, int]]] = MappingProxyType(
    {
        "megc3": (MEGC2019_CLASSES, MEGC2019_MAP),
        "mmew5": (MMEW5_CLASSES, MMEW5_MAP),
    }
)


#: Emotions of the official annotations that no scheme gives a class ("others" and similar, SPEC §4).
NO_CLASS_EMOTIONS: frozenset[str] = frozenset({"others", "other", "tense"})

#: Every emotion name the readers accept: a class under some scheme, or one of :data:`NO_CLASS_EMOTIONS`.
KNOWN_EMOTIONS: frozenset[str] = frozenset(
    {name for _, mapping in LABEL_SCHEMES.values() for name in mapping} | NO_CLASS_EMOTIONS
)


def is_known_emotion(emotion: str) -> bool:
    """Whether ``emotion`` is a known emotion name (a class under some scheme, or ``others`` & co.)."""
    return normalise_emotion(emotion) in KNOWN_EMOTIONS


def normalise_emotion(name: str) -> str:
    """Lower-case, trimmed emotion name (``' Happiness '`` → ``'happiness'``)."""
    return " ".join(str(name).strip().lower().split())


def emotion_to_label(emotion: str, scheme: str = "megc3") -> int | None:
    """The class index of ``emotion`` under ``scheme`` (``megc3`` or ``mmew5``), or None if excluded."""
    if scheme not in LABEL_SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose from {sorted(LABEL_SCHEMES)}")
    return LABEL_SCHEMES[scheme][1].get(normalise_emotion(emotion))


def class_names(scheme: str = "megc3") -> tuple[str, ...]:
    """Class names in label order for a scheme."""
    if scheme not in LABEL_SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose from {sorted(LABEL_SCHEMES)}")
    return LABEL_SCHEMES[scheme][0]
