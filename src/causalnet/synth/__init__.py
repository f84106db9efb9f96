"""A synthetic micro-expression benchmark with exact ground-truth key-frames.

Each subject is a procedurally drawn face (:mod:`causalnet.synth.face`); each clip warps that face
with action-unit-like local motions (:mod:`causalnet.synth.motion`) whose intensity rises from the
onset to the apex and relaxes back to the offset, under sensor noise, head drift, illumination
flicker and blinks (:mod:`causalnet.synth.render`). :func:`generate_benchmark` writes the generic
raw layout that ``causalnet preprocess --format generic`` reads. See ``docs/synthetic.md``.
"""

from causalnet.synth.config import CLASS_NAMES, SynthConfig
from causalnet.synth.face import Face, draw_face
from causalnet.synth.generate import (
    ANNOTATION_COLUMNS,
    SynthSubject,
    generate_benchmark,
    make_subject,
    render_subject_clip,
)
from causalnet.synth.motion import ACTION_UNITS, AU_REGIONS, CLASSES, intensity_profile
from causalnet.synth.render import ClipSpec, RenderedClip, render_clip

__all__ = [
    "ACTION_UNITS",
    "ANNOTATION_COLUMNS",
    "AU_REGIONS",
    "CLASSES",
    "CLASS_NAMES",
    "ClipSpec",
    "Face",
    "RenderedClip",
    "SynthConfig",
    "SynthSubject",
    "draw_face",
    "generate_benchmark",
    "intensity_profile",
    "make_subject",
    "render_clip",
    "render_subject_clip",
]
