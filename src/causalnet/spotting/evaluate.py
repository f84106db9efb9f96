"""Every recording of a long-video dataset → pooled MEGC metrics (the experiment of ``causalnet spot-eval``).

Each recording is analysed by :func:`~causalnet.spotting.analyze.analyze_recording` and its outputs
(intervals.csv / .json, timeline.png) go to ``<out>/videos/<subject>/<video>/``. The experiment is
resumable: a recording whose ``intervals.json`` was written with the same settings (preprocessing,
spotter, recognition, checkpoint, frame rate) is read back instead of analysed again. The pooled
metrics — MEGC spotting (IoU ≥ 0.5), recognition on the true positives and on the annotated
intervals, STR — are written to ``<out>/metrics.json``.

Leave-one-subject-out: each subject's recordings are recognised by its own checkpoint
(:func:`subject_checkpoints`), trained without that subject.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from causalnet.data.annotations import Interval, VideoEntry
from causalnet.flow.config import PreprocessConfig
from causalnet.flow.frames import open_frames
from causalnet.io import read_json, write_json_atomic
from causalnet.spotting.analyze import analyze_recording
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.datasets import LongDataset
from causalnet.spotting.metrics import recognition_scores, spotting_report
from causalnet.spotting.output import write_intervals, write_timeline
from causalnet.spotting.recognise import RecogniseConfig, Recogniser

__all__ = ["SpotEvaluation", "analysis_settings", "evaluate_dataset", "select_recordings", "subject_checkpoints"]

log = logging.getLogger(__name__)

#: ``progress(total_frames, description)`` → a context whose value is called with the frames done so far.
Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None] | None]]


@dataclasses.dataclass
class SpotEvaluation:
    """What :func:`evaluate_dataset` found.

    Attributes:
        metrics: the pooled metrics, as written to ``metrics.json``.
        recordings: recordings evaluated.
        frames: their frames, in all.
        annotated: True when some annotated interval had a class and was classified (so
            ``metrics["recognition_annotated"]`` scores something).
    """

    metrics: dict
    recordings: int
    frames: int
    annotated: bool


def analysis_settings(prep: PreprocessConfig, spot: SpotConfig, rec: RecogniseConfig | None,
                      checkpoint: str | None, fps: float) -> dict:
    """Everything one recording's analysis depends on (written with its intervals; equal settings → reuse)."""
    return {"fps": fps, "preprocess": prep.to_dict(), "spot": spot.to_dict(),
            "recognise": rec.to_dict() if rec else None, "checkpoint": str(checkpoint) if checkpoint else None}


def select_recordings(videos: list[VideoEntry], subjects: list[str] | None,
                      data: str | os.PathLike) -> list[VideoEntry]:
    """The recordings of ``subjects`` (all when None); ValueError naming subjects without a recording."""
    if subjects is None:
        return videos
    wanted = set(subjects)
    missing = wanted - {v.subject for v in videos}
    if missing:
        raise ValueError(f"{data}: no recording of subject(s) {', '.join(sorted(missing))}")
    return [v for v in videos if v.subject in wanted]


def subject_checkpoints(videos: list[VideoEntry], checkpoint: str | None,
                        checkpoint_dir: str | os.PathLike | None) -> dict[str, str | None]:
    """Subject → the checkpoint recognising its recordings: ``checkpoint_dir/<subject>.safetensors`` (each
    must exist), else ``checkpoint`` for every subject (None: spotting only)."""
    checkpoints: dict[str, str | None] = {}
    for v in videos:
        if checkpoint_dir:
            path = Path(checkpoint_dir) / f"{v.subject}.safetensors"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no model for test subject {v.subject!r} in --checkpoint-dir")
            checkpoints[v.subject] = str(path)
        else:
            checkpoints[v.subject] = checkpoint
    return checkpoints


def _no_progress(total: int, desc: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


def evaluate_dataset(
    ds: LongDataset,
    videos: list[VideoEntry],
    checkpoints: dict[str, str | None],
    out: str | os.PathLike,
    prep: PreprocessConfig,
    spot: SpotConfig,
    rec_cfg: RecogniseConfig,
    *,
    fps: float | None = None,
    overwrite: bool = False,
    threads: int = 1,
    device: str = "auto",
    progress: Progress | None = None,
    on_message: Callable[[str], None] | None = None,
    described: dict | None = None,
) -> SpotEvaluation:
    """Analyse (or reuse) every recording of ``videos`` and write the pooled metrics to ``out/metrics.json``.

    Args:
        ds: the dataset (its annotated intervals are the ground truth).
        videos: the recordings to evaluate (:func:`select_recordings`).
        checkpoints: subject → checkpoint (:func:`subject_checkpoints`); None spots without recognising.
        out: the output folder.
        prep, spot, rec_cfg: face handling and flow, spotter and recognition settings.
        fps: frame rate overriding each recording's own (needed when a recording has none).
        overwrite: analyse every recording again even when its results exist with the same settings.
        threads, device: torch threads and device of the recognition models.
        progress: a progress display per analysed recording (:data:`Progress`).
        on_message: called with one line per recording (reused, or what its analysis found; default: logged).
        described: recorded first under ``metrics["settings"]`` (e.g. the dataset's folder and format).
    """
    progress = progress or _no_progress
    say = on_message or log.info
    out = Path(out)
    recognisers: dict[str | None, Recogniser | None] = {}
    spotted_all: list[Interval] = []
    annotated_pairs: list[tuple[int, int]] = []
    class_names: list[str] = []
    total_frames, total_seconds, total_cpu = 0, 0.0, 0.0
    for i, v in enumerate(videos, start=1):
        rate = fps or v.fps
        if not rate:
            raise ValueError(f"{v.frames}: the frame rate is unknown; give it with --fps")
        folder = out / "videos" / v.subject / v.video  # safe names: checked by the dataset readers
        ckpt = checkpoints[v.subject]
        settings = analysis_settings(prep, spot, rec_cfg if ckpt else None, ckpt, rate)
        truth = [t for t in ds.truth if (t.subject, t.video) == (v.subject, v.video)]
        done = folder / "intervals.json"
        if done.is_file() and not overwrite and read_json(done).get("settings") == settings:
            doc = read_json(done)
            say(f"[{i}/{len(videos)}] {v.subject}/{v.video}: reused")
        else:
            if ckpt not in recognisers:
                recognisers[ckpt] = Recogniser(ckpt, prep, rec_cfg, threads, device) if ckpt else None
            summary = _analyse(v, folder, rate, truth, prep, spot, recognisers[ckpt], settings, progress)
            doc = read_json(done)
            say(f"[{i}/{len(videos)}] {v.subject}/{v.video}: {summary}")
        class_names = doc.get("class_names") or class_names
        spotted_all += [Interval(v.subject, v.video, r["onset"], r["apex"], r["offset"], r["type"],
                                 None if r["label"] == "" else int(r["label"])) for r in doc["intervals"]]
        annotated_pairs += [(int(r["truth"]), int(r["label"])) for r in doc["annotated"]
                            if r.get("truth") not in (None, "") and r["label"] != ""]
        total_frames += doc["n_frames"]
        total_seconds += doc["timing"]["seconds"] or 0.0
        total_cpu += doc["timing"]["cpu_seconds"] or 0.0
    n_classes = len(class_names) or 3
    metrics = spotting_report(spotted_all, [t for t in ds.truth if t.subject in checkpoints], n_classes)
    metrics["recognition_annotated"] = recognition_scores([a for a, _ in annotated_pairs],
                                                          [b for _, b in annotated_pairs], n_classes)
    metrics["class_names"] = class_names
    metrics["frames"] = total_frames
    metrics["analysis_seconds"] = round(total_seconds, 3)
    metrics["analysis_cpu_seconds"] = round(total_cpu, 3)
    metrics["frames_per_second"] = round(total_frames / total_seconds, 2) if total_seconds else None
    first = next(iter(checkpoints.values()), None)
    metrics["settings"] = {**(described or {}), "subjects": sorted(checkpoints),
                           **analysis_settings(prep, spot, rec_cfg if first else None, None, 0.0)}
    write_json_atomic(out / "metrics.json", metrics)
    return SpotEvaluation(metrics, len(videos), total_frames, bool(annotated_pairs))


def _analyse(v: VideoEntry, folder: Path, fps: float, truth: list[Interval], prep: PreprocessConfig,
             spot: SpotConfig, recogniser: Recogniser | None, settings: dict, progress: Progress) -> str:
    """Analyse one recording and write its outputs to ``folder``; a one-line summary."""
    source = open_frames(v.frames)
    with progress(v.n_frames or len(source), f"{v.subject}/{v.video}") as update:
        analysis = analyze_recording(source, fps, prep, spot, recogniser, subject=v.subject, video=v.video,
                                     reference=truth, on_frames=update)
    n_classes = len(analysis.class_names) or 3
    metrics = spotting_report([a.as_interval(v.subject, v.video) for a in analysis.intervals], truth, n_classes)
    write_intervals(folder, analysis, settings, metrics)
    write_timeline(folder / "timeline.png", analysis, truth)
    m = metrics["micro"]
    return (f"{analysis.n_frames} frames, {analysis.frames_per_second:.0f} frames/s; "
            f"micro TP {m['tp']} FP {m['fp']} FN {m['fn']}")
