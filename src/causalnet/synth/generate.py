"""Writing a synthetic benchmark in the generic raw layout (SPEC §4).

Layout written under ``out_dir``::

    annotations.csv                  dataset,subject,clip,onset,apex,offset,label,fps
    frames/<subject>/<clip>/0000.png ...
    ground_truth.json                the generator's config and every clip's full ground truth

Random streams are keyed by ``(seed, subject, clip)``, so a subject's faces and clips do not
depend on how many subjects are generated or in which order, and a run is reproducible bit for bit.
``annotations.csv`` is written last (atomically): a directory that has one is complete.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from causalnet.io import csv_text, write_json_atomic, write_text_atomic
from causalnet.synth.config import CLASS_NAMES, SynthConfig
from causalnet.synth.face import Face, draw_face
from causalnet.synth.render import ClipSpec, RenderedClip, render_clip, sample_clip_spec, sample_subject_style

log = logging.getLogger(__name__)

ANNOTATION_COLUMNS = ("dataset", "subject", "clip", "onset", "apex", "offset", "label", "fps")
# Independent random streams per subject (the last element of the seed sequence's key).
_STREAM_FACE, _STREAM_STYLE, _STREAM_LABELS, _STREAM_CLIP, _STREAM_NUISANCE = 0, 1, 2, 3, 4


@dataclass
class SynthSubject:
    """A subject: its face, its clips' ground truth, and (on demand) their rendered frames."""

    name: str
    index: int
    face: Face
    clips: list[ClipSpec]


def subject_name(index: int, n_subjects: int) -> str:
    """``s01``, ``s02``, ... (zero-padded to the width of the largest index)."""
    return f"s{index + 1:0{max(2, len(str(n_subjects)))}d}"


def clip_name(index: int, n_clips: int) -> str:
    """``c01``, ``c02``, ... (zero-padded to the width of the largest index)."""
    return f"c{index + 1:0{max(2, len(str(n_clips)))}d}"


def frame_name(index: int) -> str:
    """File name of frame ``index`` (zero-padded, so natural and lexical order agree)."""
    return f"{index:04d}.png"


def _rng(cfg: SynthConfig, subject: int, stream: int, clip: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, subject, stream, clip]))


def subject_labels(cfg: SynthConfig, subject: int) -> list[int]:
    """The labels of a subject's clips: counts proportional to ``class_weights``, order shuffled.

    Remainders go to the classes with the largest fractional share, ties broken by a rotation
    that differs per subject, so the benchmark as a whole stays close to the class weights.
    """
    k, n_cls = cfg.clips_per_subject, len(CLASS_NAMES)
    weights = np.asarray(cfg.class_weights, dtype=np.float64)
    if weights.sum() <= 0:
        raise ValueError("class_weights must not all be zero")
    share = k * weights / weights.sum()
    counts = np.floor(share).astype(int)
    order = sorted(range(n_cls), key=lambda c: (-(share[c] - counts[c]), (c - subject) % n_cls))
    for c in order[: k - int(counts.sum())]:
        counts[c] += 1
    labels = np.repeat(np.arange(n_cls), counts)
    _rng(cfg, subject, _STREAM_LABELS).shuffle(labels)
    return [int(v) for v in labels]


def make_subject(cfg: SynthConfig, subject: int) -> SynthSubject:
    """Draw subject ``subject`` (0-based): its face and the ground truth of all its clips."""
    name = subject_name(subject, cfg.n_subjects)
    face = draw_face(_rng(cfg, subject, _STREAM_FACE), cfg.image_size * cfg.supersample, cfg.skin_texture)
    style = sample_subject_style(_rng(cfg, subject, _STREAM_STYLE), cfg)
    clips = []
    for k, label in enumerate(subject_labels(cfg, subject)):
        rng = _rng(cfg, subject, _STREAM_CLIP, k)
        clips.append(sample_clip_spec(rng, cfg, style, name, clip_name(k, cfg.clips_per_subject), label))
    return SynthSubject(name=name, index=subject, face=face, clips=clips)


def render_subject_clip(cfg: SynthConfig, subject: SynthSubject, k: int) -> RenderedClip:
    """Render clip ``k`` of ``subject`` (the nuisances come from the clip's own random stream)."""
    return render_clip(subject.face, subject.clips[k], cfg, _rng(cfg, subject.index, _STREAM_NUISANCE, k))


def write_frame_folder(frames: Iterable[np.ndarray], clip_dir: Path) -> None:
    """Write frames as ``0000.png, 0001.png, ...`` (:func:`frame_name`) into ``clip_dir``, via a ``.partial``
    sibling renamed at the end (a crash never leaves a half-written folder under the final name)."""
    tmp = clip_dir.with_name(clip_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(tmp / frame_name(i)), frame):
            raise OSError(f"{tmp / frame_name(i)}: could not write the frame")
    if clip_dir.exists():
        shutil.rmtree(clip_dir)
    os.replace(tmp, clip_dir)


def _generate_subject(cfg: SynthConfig, subject: int, out_dir: str) -> list[dict]:
    subj = make_subject(cfg, subject)
    for k, spec in enumerate(subj.clips):
        rendered = render_subject_clip(cfg, subj, k)
        write_frame_folder(rendered.frames, Path(out_dir) / "frames" / subj.name / spec.clip)
    log.debug("subject %s: %d clips written", subj.name, len(subj.clips))
    return [spec.to_dict() for spec in subj.clips]


def annotations_csv(cfg: SynthConfig, clips: list[dict]) -> str:
    """The text of ``annotations.csv`` for the given clip ground truths (through the package's one CSV
    writer, :func:`causalnet.io.csv_text`: formula cells neutralised)."""
    fps = int(cfg.fps) if float(cfg.fps).is_integer() else cfg.fps
    return csv_text(ANNOTATION_COLUMNS,
                    [[cfg.dataset, c["subject"], c["clip"], c["onset"], c["apex"], c["offset"], c["label"], fps]
                     for c in clips])


def map_subjects(
    fn: Callable[[SynthConfig, int, str], list[dict]], cfg: SynthConfig, out: Path, workers: int, progress: bool
) -> list[list[dict]]:
    """``[fn(cfg, s, str(out)) for s in range(cfg.n_subjects)]``, in ``workers`` spawned processes when
    > 1 (same results), with a progress bar over subjects when ``progress``."""
    from tqdm import tqdm

    bar = tqdm(total=cfg.n_subjects, desc="synth", unit="subject", disable=not progress)
    per_subject: list[list[dict]] = []
    try:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(fn, cfg, s, str(out)) for s in range(cfg.n_subjects)]
                for fut in futures:
                    per_subject.append(fut.result())
                    bar.update()
        else:
            for s in range(cfg.n_subjects):
                per_subject.append(fn(cfg, s, str(out)))
                bar.update()
    finally:
        bar.close()
    return per_subject


#: Files ``causalnet synth`` writes at the top of its output folder (clips and recordings: ``frames/``).
BENCHMARK_FILES = ("annotations.csv", "videos.csv", "ground_truth.json")


def existing_benchmark(out_dir: str | os.PathLike) -> list[str]:
    """Names of the benchmark files (and ``frames/``) already in ``out_dir`` (empty: nothing to replace)."""
    out = Path(out_dir)
    found = [name for name in BENCHMARK_FILES if os.path.lexists(out / name)]
    return found + (["frames/"] if os.path.lexists(out / "frames") else [])


def remove_benchmark(out_dir: str | os.PathLike) -> int:
    """Remove what an earlier ``causalnet synth`` wrote into ``out_dir``; returns the clip folders removed.

    Only what ``ground_truth.json`` lists is removed: each ``frames/<subject>/<clip or video>/`` (and its
    ``.partial`` leftover), then subject folders and ``frames/`` when that leaves them empty, and the files
    of :data:`BENCHMARK_FILES`. Nothing is removed by pattern, so files of anyone else stay.
    """
    from causalnet.checks import safe_path_part
    from causalnet.io import read_json

    out = Path(out_dir)
    truth_path = out / "ground_truth.json"
    truth = read_json(truth_path) if truth_path.is_file() else {}
    items = (truth.get("clips") or truth.get("recordings") or []) if isinstance(truth, dict) else []
    frames, removed, subjects = out / "frames", 0, set()
    for item in items:
        if not isinstance(item, dict):
            continue
        subject = safe_path_part(str(item.get("subject", "")), what="subject", source=truth_path)
        clip = safe_path_part(str(item.get("clip", item.get("video", ""))), what="clip", source=truth_path)
        subjects.add(subject)
        for folder in (frames / subject / clip, frames / subject / f"{clip}.partial"):
            if folder.is_symlink() or folder.is_file():
                folder.unlink()
            elif folder.is_dir():
                shutil.rmtree(folder)
                removed += 1
    for folder in [*(frames / s for s in sorted(subjects)), frames]:
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    for name in BENCHMARK_FILES:
        (out / name).unlink(missing_ok=True)
    log.info("removed %d clip folder(s) of the earlier benchmark in %s", removed, out)
    return removed


def generate_benchmark(
    cfg: SynthConfig, out_dir: str | os.PathLike, workers: int = 1, progress: bool = False
) -> list[dict]:
    """Generate the benchmark described by ``cfg`` into ``out_dir``; return every clip's ground truth.

    ``workers`` > 1 renders subjects in parallel processes (the output is identical).
    ``progress`` shows a progress bar over subjects (on stderr).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotations.csv").unlink(missing_ok=True)  # absent until the benchmark is complete
    log.info(
        "generating %d subjects x %d clips (%d px, %g fps, seed %d) into %s",
        cfg.n_subjects,
        cfg.clips_per_subject,
        cfg.image_size,
        cfg.fps,
        cfg.seed,
        out,
    )
    per_subject = map_subjects(_generate_subject, cfg, out, workers, progress)
    clips = [c for subj in per_subject for c in subj]
    write_json_atomic(
        out / "ground_truth.json",
        {"config": cfg.to_dict(), "classes": list(CLASS_NAMES), "clips": clips},
    )
    write_text_atomic(out / "annotations.csv", annotations_csv(cfg, clips))
    counts = np.bincount([c["label"] for c in clips], minlength=len(CLASS_NAMES))
    summary = ", ".join(f"{n} {c}" for n, c in zip(CLASS_NAMES, counts, strict=True))
    log.info("wrote %d clips (%s)", len(clips), summary)
    return clips
