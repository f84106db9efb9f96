"""Build a folder in the published layout from a reader's :class:`Plan`: resumable, in parallel.

For every planned clip whose four PNGs are not already in the output folder, a worker reads the
key-frames, aligns the face, computes the four images (:mod:`causalnet.flow.pipeline`) and writes
them atomically; finished clips are skipped on a re-run. Workers are processes (each with
``cv2.setNumThreads(1)``, started by a fork server: see :mod:`causalnet.flow.parallel`), so
``workers=2`` uses both cores of a 2-core machine. The CSV is
(re)written atomically at the end — also after an interruption or when some clips failed.

A clip without an apex annotation (SMIC) gets the middle frame between onset and offset
(``apex_method="middle"``) or the apex spotted inside the onset–offset range on the aligned faces
(``apex_method="spot"``, :func:`causalnet.keyframes.spot_apex`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from causalnet.checks import check_output_dir
from causalnet.data.builders.clips import ClipRecord, Plan, Skip
from causalnet.data.builders.emotions import MEGC2019_CLASSES
from causalnet.data.builders.writer import CSV_NAME, clip_done, read_index_rows, write_clip_images, write_index
from causalnet.flow.config import PreprocessConfig
from causalnet.folders import refuse_symlinks
from causalnet.io import clean_stale_temp_files, write_json_atomic

__all__ = ["APEX_METHODS", "BuildReport", "ClipResult", "build_clip", "build_dataset", "check_face_backend"]

log = logging.getLogger(__name__)

APEX_METHODS = ("middle", "spot")


@dataclasses.dataclass
class BuildReport:
    """What a build did.

    Attributes:
        out: the output folder.
        built: clips computed in this run.
        reused: clips whose PNGs were already there (resumed).
        skipped: clips left out, each with its reason (``kind`` excluded or failed).
        seconds: wall time of the image computation.
        cpu_seconds: CPU time the clips took in the workers (reading, face, flow, writing; not
            worker start-up or model loading outside the first clip).
        csv_path: the CSV written.
    """

    out: Path
    built: int = 0
    reused: int = 0
    skipped: list[Skip] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    csv_path: Path | None = None

    @property
    def failed(self) -> list[Skip]:
        """Clips that could not be built (bad input), as opposed to excluded by the label scheme."""
        return [s for s in self.skipped if s.kind == "failed"]

    @property
    def excluded(self) -> list[Skip]:
        """Clips left out by the label scheme."""
        return [s for s in self.skipped if s.kind == "excluded"]

    def summary(self, max_listed: int = 20) -> str:
        """A few human-readable lines: counts, throughput, and every skipped clip with its reason."""
        rate = ""
        if self.built and self.seconds > 0:
            cpu_ms = 1000 * self.cpu_seconds / self.built
            rate = f" ({self.built / self.seconds:.2f} clips/s, {cpu_ms:.0f} ms CPU/clip)"
        lines = [
            f"built {self.built} clips in {self.seconds:.1f} s{rate}, reused {self.reused} finished clips, "
            f"excluded {len(self.excluded)}, failed {len(self.failed)} -> {self.out}"
        ]
        reasons = Counter(s.reason for s in self.excluded)
        for reason, n in reasons.most_common():
            lines.append(f"  excluded {n}: {reason}")
        for s in self.failed[:max_listed]:
            lines.append(f"  failed {s.name}: {s.reason}")
        if len(self.failed) > max_listed:
            lines.append(f"  ... and {len(self.failed) - max_listed} more failed clips (see the log)")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ClipResult:
    """Outcome of one clip: the apex used and how it was chosen, or the error; CPU seconds spent."""

    key: tuple[str, str, str]
    apex: int | None
    apex_source: str
    error: str | None = None
    cpu_seconds: float = 0.0


def check_face_backend(cfg: PreprocessConfig) -> None:
    """Fail early (:class:`causalnet.flow.face.FaceBackendError`) when dlib or its model is missing."""
    from causalnet.flow.face import require_face_backend

    require_face_backend(cfg)


def _estimate_apex(
    record: ClipRecord, cfg: PreprocessConfig, apex_method: str
) -> tuple[int, str, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """(apex index, source, aligned onset/apex/offset faces or None)."""
    from causalnet.flow.face import align_faces
    from causalnet.flow.frames import FrameFolder

    if record.apex is not None:
        return record.apex, "annotated", None
    if apex_method == "middle":
        return (record.onset + record.offset) // 2, "middle", None
    from causalnet.keyframes import spot_apex

    source = FrameFolder(record.frames_dir)
    indexes = list(range(record.onset, record.offset + 1))
    faces = align_faces(source.read(indexes), cfg, [source.name(i) for i in indexes])
    local = spot_apex(faces, 0, len(faces) - 1)
    return record.onset + local, "spotted", (faces[0], faces[local], faces[-1])


def build_clip(
    record: ClipRecord, out: str | os.PathLike, cfg: PreprocessConfig, apex_method: str = "middle"
) -> ClipResult:
    """Compute and write one clip's four images; bad input gives a result with ``error`` set."""
    from causalnet.flow.face import FaceNotFoundError
    from causalnet.flow.frames import FrameFolder
    from causalnet.flow.pipeline import images_from_faces, images_from_source

    cpu_start = time.process_time()
    try:
        apex, apex_source, faces = _estimate_apex(record, cfg, apex_method)
        if faces is not None:
            images = images_from_faces(*faces, cfg=cfg)
        else:
            images = images_from_source(FrameFolder(record.frames_dir), record.onset, apex, record.offset, cfg)
        write_clip_images(out, record.sub, record.filename_o, images)
    except (FaceNotFoundError, FileNotFoundError, ValueError) as exc:
        return ClipResult(record.key, None, "", str(exc), time.process_time() - cpu_start)
    return ClipResult(record.key, apex, apex_source, None, time.process_time() - cpu_start)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _index_row(record: ClipRecord, result: ClipResult | None, apex_method: str) -> dict[str, object]:
    if result is not None:
        apex, source = result.apex, result.apex_source
    elif record.apex is not None:
        apex, source = record.apex, "annotated"
    elif apex_method == "middle":
        apex, source = (record.onset + record.offset) // 2, "middle"
    else:  # spotted in an earlier, interrupted run whose CSV was never written
        apex, source = "", "spotted"
    return {
        "dataset": record.dataset,
        "sub": record.sub,
        "filename_o": record.filename_o,
        "label": record.label,
        "onset": record.onset,
        "apex": apex,
        "offset": record.offset,
        "apex_source": source,
        "fps": f"{record.fps:g}",
        "emotion": record.emotion,
        "n_frames": record.n_frames,
    }


#: file written beside the CSV with the PreprocessConfig that produced the folder
PREPROCESS_JSON = "preprocess.json"


def build_dataset(
    plan: Plan,
    out: str | os.PathLike,
    cfg: PreprocessConfig | None = None,
    *,
    workers: int = 1,
    apex_method: str = "middle",
    class_names: tuple[str, ...] | None = None,
    progress: bool = True,
    overwrite: bool = False,
    on_result: Callable[[ClipResult], None] | None = None,
) -> BuildReport:
    """Preprocess every clip of ``plan`` into ``out`` (published layout) and write the CSV.

    Args:
        plan: clips from a reader (:mod:`causalnet.data.builders.official` / ``generic``).
        out: output folder (created).
        cfg: pipeline parameters.
        workers: processes computing clips in parallel (1 = in this process).
        apex_method: ``middle`` or ``spot`` for clips without an apex annotation.
        class_names: the label scheme's class names, recorded in ``preprocess.json`` (the loader
            reads it; default: the MEGC 2019 three classes).
        progress: show a tqdm progress bar (on stderr).
        overwrite: recompute clips whose PNGs already exist.
        on_result: called with each clip's result (tests, custom progress).
    """
    from tqdm import tqdm

    cfg = cfg or PreprocessConfig()
    if apex_method not in APEX_METHODS:
        raise ValueError(f"apex_method must be one of {APEX_METHODS}, got {apex_method!r}")
    plan.check_unique()
    plan.check_labels()  # a plan read with skip_unknown_labels has none left
    out = check_output_dir(out, "output folder")
    refuse_symlinks(out, "output folder")  # nothing is written through a link planted in a shared folder
    _check_no_image_clash(plan, out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(out)
    report = BuildReport(out=out, skipped=list(plan.skipped))
    clips: list[ClipRecord] = list(plan.clips)
    todo = [c for c in clips if overwrite or not clip_done(out, c.sub, c.filename_o)]
    report.reused = len(clips) - len(todo)
    if todo:
        check_face_backend(cfg)
    results: dict[tuple[str, str, str], ClipResult] = {}
    start = time.perf_counter()
    bar = tqdm(total=len(todo), desc="preprocess", unit="clip", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(todo) <= 1:
            outcomes = (build_clip(c, out, cfg, apex_method) for c in todo)
            for result in outcomes:
                _collect(result, results, bar, on_result)
        else:
            from causalnet.flow.parallel import process_context

            with concurrent.futures.ProcessPoolExecutor(
                max_workers=min(workers, len(todo)), mp_context=process_context(), initializer=_init_worker
            ) as pool:
                futures = [pool.submit(build_clip, c, out, cfg, apex_method) for c in todo]
                try:
                    for future in concurrent.futures.as_completed(futures):
                        _collect(future.result(), results, bar, on_result)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
        rows = []
        for record in clips:
            result = results.get(record.key)
            if result is not None and result.error:
                report.skipped.append(Skip(record.name, result.error))
                continue
            if result is not None or clip_done(out, record.sub, record.filename_o):
                rows.append(_index_row(record, result, apex_method))
        report.built = sum(1 for r in results.values() if not r.error)
        report.cpu_seconds = sum(r.cpu_seconds for r in results.values())
        if rows or not (out / CSV_NAME).exists():
            report.csv_path = write_index(out, rows)
            # the pipeline settings travel with the data, so `train --save-model` can store them
            # in the checkpoint and `predict` computes its inputs the same way
            write_json_atomic(out / PREPROCESS_JSON, {"preprocess": cfg.to_dict(), "apex_method": apex_method,
                                                      "class_names": list(class_names or MEGC2019_CLASSES)})
        log.info("%s", report.summary())
    return report


def _check_no_image_clash(plan: Plan, out: Path) -> None:
    """ValueError when a planned clip would reuse the images of another dataset's clip already in ``out``."""
    from causalnet.data.composite import image_stem

    existing = {}
    for row in read_index_rows(out):
        if row.get("sub") and row.get("filename_o"):
            existing.setdefault(image_stem(row["sub"], row["filename_o"], f"{out / CSV_NAME}"), row.get("dataset", ""))
    for record in plan.clips:
        dataset = existing.get(image_stem(record.sub, record.filename_o))
        if dataset is not None and dataset != record.dataset:
            raise ValueError(f"{record.source or record.name}: clip {record.name} would overwrite the images of the "
                             f"{dataset} clip {record.sub}/{record.filename_o} already in {out}; "
                             "build it into another folder")


def _collect(result: ClipResult, results: dict, bar, on_result) -> None:
    results[result.key] = result
    if result.error:
        log.warning("%s: %s", "/".join(result.key), result.error)
    bar.update(1)
    if on_result is not None:
        on_result(result)
