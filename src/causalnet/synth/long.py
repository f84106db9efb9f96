"""Long synthetic recordings for spotting: several micro-expressions at known frames among distractors.

A recording is one subject's face (the same face as in the short-clip benchmark of the same seed)
filmed for several seconds: neutral stretches, ``micro_per_recording`` micro-expressions (the
short benchmark's action units and amplitudes, a rise and a relaxation, at most ~0.35 s) and
distractors that a spotter must not report as micro-expressions:

- **macro-expressions**: the same action units at a larger amplitude, held at their peak, lasting
  well over 0.5 s (annotated, ``type = macro``);
- **blinks**: eye closure with a small lid and brow motion, 80–200 ms (not annotated);
- **head moves**: a quick translation of a few pixels that stays (not annotated), on top of a slow
  random-walk head drift over the whole recording;
- **flicker bursts**: a short stretch of strong frame-to-frame illumination flicker (not annotated),
  on top of the mild flicker of every frame.

Events follow each other with a neutral gap of ``gap_s`` between them (they never overlap), so
every annotated interval is exact. Layout written (see ``docs/spotting.md``)::

    annotations.csv                     subject,video,onset,apex,offset,type,label (MEGC spotting layout)
    videos.csv                          subject,video,frames,n_frames,fps
    frames/<subject>/<video>/0000.png   one PNG per frame
    ground_truth.json                   the config and every event of every recording (distractors too)

Frame indexes count from 0. Everything is seeded per ``(seed, subject, recording)``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from causalnet.checks import Check, between
from causalnet.io import write_json_atomic
from causalnet.synth.config import CLASS_NAMES, SynthConfig
from causalnet.synth.face import Face
from causalnet.synth.generate import _STREAM_STYLE, make_subject, map_subjects, write_frame_folder
from causalnet.synth.motion import BLINK_BUMPS, blink_profile, bumps_field, plateau_profile
from causalnet.synth.render import (
    ClipSpec,
    expression_field,
    pixel_grid,
    render_frame,
    sample_clip_spec,
    sample_subject_style,
)

__all__ = [
    "EVENT_KINDS",
    "EXPRESSION_TYPES",
    "Distractor",
    "Expression",
    "LongSynthConfig",
    "RecordingSpec",
    "annotation_rows",
    "generate_long_benchmark",
    "render_recording",
    "sample_recording",
]

log = logging.getLogger(__name__)

#: Annotated interval types (the MEGC spotting layout's ``type`` column).
EXPRESSION_TYPES = ("micro", "macro")
#: Distractor kinds (not annotated).
EVENT_KINDS = ("blink", "head_move", "flicker")
# Random streams of a recording (the short benchmark uses 0..4 per subject; see generate.py).
_STREAM_TIMELINE, _STREAM_RECORDING = 5, 6


@dataclass(frozen=True)
class LongSynthConfig(SynthConfig):
    """A :class:`SynthConfig` (faces, action units, amplitudes, noise, flicker) plus the timeline
    of long recordings. Micro-expression timing uses ``rise_s``/``fall_s`` (longer defaults than
    the short clips': 0.11–0.35 s from onset to offset)."""

    n_subjects: int = 8
    recordings_per_subject: int = 1
    rise_s: tuple[float, float] = (0.05, 0.15)
    fall_s: tuple[float, float] = (0.06, 0.2)
    #: slow head drift: standard deviation (output pixels) and correlation time (seconds) of a smooth
    #: random trajectory over the whole recording
    drift_px: float = 1.5
    drift_s: float = 1.0
    #: neutral lead-in and tail of a recording, and the neutral gap between two events (seconds)
    lead_s: tuple[float, float] = (0.5, 0.8)
    gap_s: tuple[float, float] = (0.35, 0.9)
    micro_per_recording: int = 6
    macro_per_recording: int = 1
    blinks_per_recording: int = 4
    head_moves_per_recording: int = 2
    flicker_bursts_per_recording: int = 1
    #: macro-expressions: peak displacement (output pixels, × subject expressiveness) and timing
    macro_amplitude_px: tuple[float, float] = (2.5, 5.0)
    macro_rise_s: tuple[float, float] = (0.15, 0.4)
    macro_hold_s: tuple[float, float] = (0.3, 1.2)
    macro_fall_s: tuple[float, float] = (0.2, 0.5)
    #: quick head moves: displacement (output pixels, random direction) and duration
    head_move_px: tuple[float, float] = (2.0, 5.0)
    head_move_s: tuple[float, float] = (0.15, 0.4)
    #: flicker bursts: std of the per-frame gain during the burst, and its duration
    flicker_burst: float = 0.04
    flicker_burst_s: tuple[float, float] = (0.1, 0.3)

    PRESETS: ClassVar[dict[str, Callable[[], LongSynthConfig]]]
    #: the clip benchmark's ranges, and those of the timeline (counts and durations bounded: memory, time)
    FIELD_CHECKS: ClassVar[dict[str, Check]] = {
        **SynthConfig.FIELD_CHECKS,
        "drift_s": between(0.01, 100), "lead_s": between(0, 60), "gap_s": between(0, 60),
        "recordings_per_subject": between(1, 100), "micro_per_recording": between(0, 1000),
        "macro_per_recording": between(0, 1000), "blinks_per_recording": between(0, 1000),
        "head_moves_per_recording": between(0, 1000), "flicker_bursts_per_recording": between(0, 1000),
        "macro_amplitude_px": between(0, 100), "macro_rise_s": between(0.001, 10), "macro_hold_s": between(0, 60),
        "macro_fall_s": between(0.001, 10), "head_move_px": between(0, 100), "head_move_s": between(0.001, 10),
        "flicker_burst": between(0, 1), "flicker_burst_s": between(0.001, 10),
    }


LongSynthConfig.PRESETS = {
    "default": LongSynthConfig,
    # For tests: two subjects, short recordings, small faces.
    "tiny": lambda: LongSynthConfig(
        n_subjects=2, image_size=64, micro_per_recording=2, macro_per_recording=1, blinks_per_recording=1,
        head_moves_per_recording=1, flicker_bursts_per_recording=0, lead_s=(0.2, 0.3), gap_s=(0.2, 0.3),
        macro_hold_s=(0.3, 0.4), fps=100.0,
    ),
    "easy": lambda: LongSynthConfig().without_nuisances().with_overrides(
        {"blinks_per_recording": 0, "head_moves_per_recording": 0, "flicker_bursts_per_recording": 0,
         "macro_per_recording": 0}
    ),
}


@dataclass
class Expression:
    """An annotated expression of a recording: ``spec`` holds its action units, amplitude and the
    onset/apex/offset as recording frame indexes; the peak is held from ``apex`` to ``hold_end``."""

    kind: str
    spec: ClipSpec
    hold_end: int

    def to_dict(self) -> dict:
        d = {"type": self.kind, "hold_end": self.hold_end}
        d.update(self.spec.to_dict())
        return d


@dataclass
class Distractor:
    """A non-annotated event: ``blink``, ``head_move`` (translation ``dx, dy`` output pixels) or
    ``flicker`` (gain std ``strength``), from frame ``start`` for ``frames`` frames."""

    kind: str
    start: int
    frames: int
    dx: float = 0.0
    dy: float = 0.0
    strength: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RecordingSpec:
    """The exact ground truth of one long recording."""

    subject: str
    video: str
    n_frames: int
    fps: float
    expressions: list[Expression] = field(default_factory=list)
    distractors: list[Distractor] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "subject": self.subject,
            "video": self.video,
            "n_frames": self.n_frames,
            "fps": self.fps,
            "expressions": [e.to_dict() for e in self.expressions],
            "distractors": [d.to_dict() for d in self.distractors],
        }


def _rng(cfg: SynthConfig, subject: int, stream: int, recording: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, subject, stream, recording]))


def video_name(subject: str, recording: int) -> str:
    """``s01_r1``: the subject and the recording number (from 1)."""
    return f"{subject}_r{recording + 1}"


def sample_recording(cfg: LongSynthConfig, subject_index: int, subject: str, recording: int) -> RecordingSpec:
    """Draw the timeline of one recording (events in random order with neutral gaps between them)."""
    rng = _rng(cfg, subject_index, _STREAM_TIMELINE, recording)
    style = sample_subject_style(_rng(cfg, subject_index, _STREAM_STYLE, 0), cfg)  # as in the short benchmark
    n_cls = len(CLASS_NAMES)
    micro_labels = [(i + subject_index + recording) % n_cls for i in range(cfg.micro_per_recording)]
    kinds = (
        [("micro", lab) for lab in micro_labels]
        + [("macro", int(rng.integers(n_cls))) for _ in range(cfg.macro_per_recording)]
        + [(k, None) for k, n in (("blink", cfg.blinks_per_recording), ("head_move", cfg.head_moves_per_recording),
                                  ("flicker", cfg.flicker_bursts_per_recording)) for _ in range(n)]
    )
    order = rng.permutation(len(kinds))
    no_blink = dataclasses.replace(cfg, blink_prob=0.0)
    macro_cfg = dataclasses.replace(no_blink, amplitude_px=cfg.macro_amplitude_px)
    video = video_name(subject, recording)
    spec = RecordingSpec(subject=subject, video=video, n_frames=0, fps=cfg.fps)
    t = cfg.frames(rng.uniform(*cfg.lead_s))
    for j, i in enumerate(order):
        kind, label = kinds[i]
        if j > 0:
            t += cfg.frames(rng.uniform(*cfg.gap_s))
        if kind in EXPRESSION_TYPES:
            clip = sample_clip_spec(rng, macro_cfg if kind == "macro" else no_blink, style, subject, video, label)
            if kind == "micro":
                rise, hold, fall = clip.apex - clip.onset, 0, clip.offset - clip.apex
            else:
                rise, hold, fall = (cfg.frames(rng.uniform(*r)) for r in (cfg.macro_rise_s, cfg.macro_hold_s,
                                                                           cfg.macro_fall_s))
            clip = dataclasses.replace(clip, onset=t, apex=t + rise, offset=t + rise + hold + fall, n_frames=0)
            spec.expressions.append(Expression(kind, clip, hold_end=t + rise + hold))
            t = clip.offset + 1
        else:
            if kind == "blink":
                d = Distractor("blink", t, cfg.frames(rng.uniform(*cfg.blink_s)))
            elif kind == "head_move":
                angle, size = rng.uniform(0, 2 * np.pi), rng.uniform(*cfg.head_move_px)
                d = Distractor("head_move", t, cfg.frames(rng.uniform(*cfg.head_move_s)),
                               dx=float(size * np.cos(angle)), dy=float(size * np.sin(angle)))
            else:
                d = Distractor("flicker", t, cfg.frames(rng.uniform(*cfg.flicker_burst_s)), strength=cfg.flicker_burst)
            spec.distractors.append(d)
            t = d.start + d.frames
    spec.n_frames = t + cfg.frames(rng.uniform(*cfg.lead_s))
    for e in spec.expressions:
        e.spec.n_frames = spec.n_frames
    return spec


def slow_drift(rng: np.random.Generator, n: int, std_px: float, smooth_frames: float) -> np.ndarray:
    """A smooth random head trajectory ``[n, 2]`` (output pixels): white noise low-passed by a Gaussian of
    ``smooth_frames`` frames, scaled to standard deviation ``std_px`` per axis. Unlike a random walk it
    moves steadily at the frame scale (its velocity changes over about ``smooth_frames`` frames)."""
    if std_px <= 0 or n < 2:
        return np.zeros((n, 2))
    pad = int(4 * smooth_frames) + 1
    noise = rng.standard_normal((n + 2 * pad, 2))
    x = np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (x / max(smooth_frames, 1e-6)) ** 2)
    walk = np.stack([np.convolve(noise[:, i], kernel, mode="same")[pad : pad + n] for i in range(2)], axis=1)
    walk -= walk.mean(axis=0)
    return walk * (std_px / (walk.std(axis=0) + 1e-9))


def _smooth_step(n: int, start: int, frames: int) -> np.ndarray:
    """0 before ``start``, a raised-cosine ramp over ``frames`` frames, 1 after."""
    t = (np.arange(n, dtype=np.float64) - start) / max(frames, 1)
    return np.where(t <= 0, 0.0, np.where(t >= 1, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(t, 0, 1))))


def render_recording(face: Face, spec: RecordingSpec, cfg: LongSynthConfig,
                     rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The recording's frames, one at a time (BGR uint8 ``[image_size, image_size, 3]``): nothing but
    the current frame and the per-event displacement fields is held in memory."""
    n, big = spec.n_frames, face.size
    scale = big / cfg.image_size
    fields = [expression_field(face, e.spec, scale) for e in spec.expressions]
    profiles = [plateau_profile(n, e.spec.onset, e.spec.apex, e.hold_end, e.spec.offset) for e in spec.expressions]
    closure = np.zeros(n)
    shift = slow_drift(rng, n, cfg.drift_px, cfg.drift_s * cfg.fps)
    gain = 1.0 + cfg.flicker * rng.standard_normal(n)
    for d in spec.distractors:
        if d.kind == "blink":
            closure += blink_profile(n, d.start, d.frames)
        elif d.kind == "head_move":
            shift += _smooth_step(n, d.start, d.frames)[:, None] * np.array([d.dx, d.dy])
        else:
            burst = slice(d.start, d.start + d.frames)
            gain[burst] += d.strength * rng.standard_normal(d.frames)
    shift *= scale
    blink_big = bumps_field(BLINK_BUMPS, face.landmarks, big) * np.float32(cfg.blink_px * scale)
    grid = pixel_grid(big)
    for t in range(n):
        disp = None
        for f, p in zip(fields, profiles, strict=True):
            if p[t] > 0:
                disp = f * np.float32(p[t]) if disp is None else disp + f * np.float32(p[t])
        yield render_frame(face, disp, closure[t], blink_big, shift[t], gain[t], cfg, rng, grid)


def annotation_rows(recordings: list[dict]) -> list[dict]:
    """The annotated intervals of recordings (``RecordingSpec.to_dict()``) in the MEGC spotting layout."""
    return [
        {"subject": r["subject"], "video": r["video"], "onset": e["onset"], "apex": e["apex"], "offset": e["offset"],
         "type": e["type"], "label": e["label"]}
        for r in recordings for e in sorted(r["expressions"], key=lambda e: e["onset"])
    ]


def _generate_long_subject(cfg: LongSynthConfig, subject: int, out_dir: str,
                           post: Callable[[np.ndarray], np.ndarray] | None = None) -> list[dict]:
    subj = make_subject(dataclasses.replace(cfg, clips_per_subject=1), subject)
    specs = []
    for r in range(cfg.recordings_per_subject):
        spec = sample_recording(cfg, subject, subj.name, r)
        frames = render_recording(subj.face, spec, cfg, _rng(cfg, subject, _STREAM_RECORDING, r))
        if post is not None:
            frames = (post(f) for f in frames)
        write_frame_folder(frames, Path(out_dir) / "frames" / subj.name / spec.video)
        specs.append(spec.to_dict())
    log.debug("subject %s: %d recordings written", subj.name, len(specs))
    return specs


def generate_long_benchmark(cfg: LongSynthConfig, out_dir: str | os.PathLike, workers: int = 1,
                            progress: bool = False, post: Callable[[np.ndarray], np.ndarray] | None = None,
                            ) -> list[dict]:
    """Write ``cfg.n_subjects × cfg.recordings_per_subject`` recordings into ``out_dir`` (layout in the
    module docstring); return every recording's ground truth. ``annotations.csv`` is written last.
    ``post`` (a picklable callable, optional) transforms every rendered frame (e.g. JPEG compression)."""
    from causalnet.data.annotations import write_annotations, write_videos

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotations.csv").unlink(missing_ok=True)  # absent until the benchmark is complete
    fn = _generate_long_subject if post is None else functools.partial(_generate_long_subject, post=post)
    per_subject = map_subjects(fn, cfg, out, workers, progress)
    recordings = [r for subj in per_subject for r in subj]
    write_json_atomic(out / "ground_truth.json", {"config": cfg.to_dict(), "classes": list(CLASS_NAMES),
                                                  "recordings": recordings})
    write_videos(out / "videos.csv", [
        {"subject": r["subject"], "video": r["video"], "frames": f"frames/{r['subject']}/{r['video']}",
         "n_frames": r["n_frames"], "fps": r["fps"]} for r in recordings
    ])
    rows = annotation_rows(recordings)
    write_annotations(out / "annotations.csv", rows)
    log.info("wrote %d recordings, %d annotated intervals", len(recordings), len(rows))
    return recordings


def write_mp4(out_dir: str | os.PathLike, recordings: list[dict]) -> list[Path]:
    """Encode every recording's frames as ``<out_dir>/videos/<video>.mp4`` (MPEG-4 part 2, ``mp4v``, at the
    recording's frame rate), as a camera would hand a practitioner a file; returns the paths.

    Each file is written to a temporary sibling and renamed, so a crash leaves no half video.
    """
    import cv2

    from causalnet.checks import safe_path_part
    from causalnet.io import atomic_path

    out, paths = Path(out_dir), []
    for rec in recordings:
        frames_dir = out / "frames" / safe_path_part(rec["subject"], what="subject") / safe_path_part(
            rec["video"], what="video")
        files = sorted(frames_dir.iterdir())
        first = cv2.imread(str(files[0]))
        path = out / "videos" / f"{safe_path_part(rec['video'], what='video')}.mp4"
        with atomic_path(path) as tmp:
            target = tmp.with_suffix(".mp4")  # OpenCV picks the container from the file name
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), float(rec["fps"]),
                                     (first.shape[1], first.shape[0]))
            if not writer.isOpened():
                raise ValueError(f"{path}: OpenCV cannot write MP4 (mp4v) video here")
            try:
                for file in files:
                    writer.write(cv2.imread(str(file)))
            finally:
                writer.release()
            os.replace(target, tmp)
        paths.append(path)
    return paths
