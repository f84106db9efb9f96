"""Model inputs for arbitrary key-frame triples, computed once and cached on disk.

The four images of a triple ``(onset, apex, offset)`` are two *pairs*: the optical-flow image and
direction map of the flow onset→apex, and those of the flow apex→offset
(:func:`causalnet.flow.pipeline.flow_pair_images`, the same code as ``causalnet preprocess``). So the
cache holds pairs: a perturbed triple that shares a pair with another costs one flow, not two.

Per clip, one worker (:func:`prepare_clip`):

1. finds the face once — on the annotated onset frame (dlib, or a plain resize with
   ``face_method="none"``) — and warps every frame it needs with that one transform, exactly as
   :func:`causalnet.flow.face.align_faces` crops a clip's key-frames;
2. spots the apex within the annotated onset–offset range when the experiment needs it;
3. derives every triple of the experiment (:func:`causalnet.robustness.triples.clip_triples`) and
   computes the TV-L1 flows of the pairs not yet cached, plus the faces the other views need (the
   apex face for the apex view, the onset and apex faces for the onset–apex view,
   :mod:`causalnet.models.views`);
4. writes the clip's cache file atomically: ``<cache>/<dataset>/<sub>/<clip>.npz``.

The cache folder is named by a hash of the :class:`~causalnet.flow.PreprocessConfig`, and each file
records its frame folder and frame count, so another pipeline or other frames never reuse it.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from causalnet.checks import safe_path_part
from causalnet.config import config_signature
from causalnet.data.mosaic import images_to_input
from causalnet.flow.config import PreprocessConfig
from causalnet.flow.face import FaceCrop, FaceNotFoundError, to_gray
from causalnet.flow.frames import FrameFolder
from causalnet.io import atomic_path
from causalnet.keyframes import Keyframes, spot_apex
from causalnet.models.views import APEX_VIEW, FLOW_VIEW, NUM_INPUT_IMAGES, ONSET_APEX_VIEW
from causalnet.robustness.config import RobustnessConfig, config_hash
from causalnet.robustness.triples import (
    ClipInfo,
    RowKey,
    TripleNeeds,
    annotated_keyframes,
    clip_triples,
    spotted_keyframes,
)

__all__ = ["ClipCache", "ClipOutcome", "ClipTask", "FaceAligner", "InputStore", "build_store", "cache_dir",
           "face_frames", "prepare_clip", "prepare_clips"]

log = logging.getLogger(__name__)

#: The two images of one flow: optical-flow image, direction map.
PAIR_IMAGES = 2
CACHE_VERSION = 1


def cache_dir(out: str | Path, prep: PreprocessConfig) -> Path:
    """``<out>/cache/<hash of the preprocessing config>``."""
    return Path(out) / "cache" / config_hash({"version": CACHE_VERSION, "preprocess": config_signature(prep)})


def cache_file(root: Path, info: ClipInfo) -> Path:
    """Cache file of one clip under a cache folder (ValueError for names that are not safe path parts)."""
    parts = [safe_path_part(name, what=what) for name, what in
             ((info.dataset, "dataset"), (info.sub, "subject"), (info.clip, "clip"))]
    return root.joinpath(parts[0], parts[1], f"{parts[2]}.npz")


@dataclass
class ClipCache:
    """One clip's cached images.

    Attributes:
        meta: frame folder and frame count the entries were computed from.
        pairs: ``(i, j)`` → ``[2, 28, 28, 3]`` uint8 BGR: optical-flow image and direction map of the
            flow from frame ``i`` to frame ``j``.
        faces: frame ``i`` → ``[28, 28]`` uint8: the aligned grayscale face shrunk to 28×28 (apex
            frames for the apex view, onset and apex frames for the onset–apex view).
        spotted_apex, spotter: the spotted apex (None if never spotted) and the hash of the spotter
            config that found it.
    """

    meta: dict
    pairs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    faces: dict[int, np.ndarray] = field(default_factory=dict)
    spotted_apex: int | None = None
    spotter: str = ""

    @classmethod
    def load(cls, path: Path, meta: dict) -> ClipCache:
        """The cache at ``path``, or an empty one when it is missing, unreadable or for other frames."""
        if not path.is_file():
            return cls(meta)
        try:
            with np.load(path, allow_pickle=False) as z:
                if json.loads(str(z["meta"])) != meta:
                    log.info("%s: cache made from other frames; recomputing", path)
                    return cls(meta)
                pairs = {(int(i), int(j)): img for (i, j), img in zip(z["pair_index"], z["pair_images"], strict=True)}
                faces = {int(i): img for i, img in zip(z["face_index"], z["face_images"], strict=True)}
                apex = int(z["spotted_apex"])
                return cls(meta, pairs, faces, apex if apex >= 0 else None, str(z["spotter"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable cache (%s); recomputing", path, exc)
            return cls(meta)

    def save(self, path: Path) -> None:
        """Write atomically (a crash never leaves a half-written cache file)."""
        size = next(iter(self.pairs.values())).shape[1] if self.pairs else 0
        pair_keys = sorted(self.pairs)
        face_keys = sorted(self.faces)
        face_size = next(iter(self.faces.values())).shape[0] if self.faces else size
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps(self.meta, sort_keys=True)),
                pair_index=np.array(pair_keys, dtype=np.int32).reshape(-1, 2),
                pair_images=np.stack([self.pairs[k] for k in pair_keys]) if pair_keys
                else np.zeros((0, PAIR_IMAGES, size, size, 3), np.uint8),
                face_index=np.array(face_keys, dtype=np.int32),
                face_images=np.stack([self.faces[k] for k in face_keys]) if face_keys
                else np.zeros((0, face_size, face_size), np.uint8),
                spotted_apex=np.array(-1 if self.spotted_apex is None else self.spotted_apex),
                spotter=np.array(self.spotter),
            )

    def flow_images(self, kf: Keyframes) -> np.ndarray:
        """The four images ``[4, 28, 28, 3]`` uint8 of a triple, in model order (SPEC §2)."""
        rise, fall = self.pairs[(kf.onset, kf.apex)], self.pairs[(kf.apex, kf.offset)]
        return np.stack([rise[0], fall[0], rise[1], fall[1]])

    def apex_images(self, kf: Keyframes) -> np.ndarray:
        """The apex view ``[4, 28, 28, 3]`` uint8: the apex face (grey in 3 channels), then zeros."""
        return self._face_images([kf.apex])

    def onset_apex_images(self, kf: Keyframes) -> np.ndarray:
        """The onset–apex view ``[4, 28, 28, 3]`` uint8: the onset face, the apex face (grey in 3 channels), zeros."""
        return self._face_images([kf.onset, kf.apex])

    def _face_images(self, frames: list[int]) -> np.ndarray:
        first = self.faces[frames[0]]
        out = np.zeros((NUM_INPUT_IMAGES, *first.shape, 3), np.uint8)
        for image, frame in enumerate(frames):
            out[image] = self.faces[frame][..., None]
        return out

    def view_images(self, view: str, kf: Keyframes) -> np.ndarray:
        """The four images ``[4, 28, 28, 3]`` uint8 of ``view`` for a triple."""
        if view == FLOW_VIEW:
            return self.flow_images(kf)
        if view == APEX_VIEW:
            return self.apex_images(kf)
        if view == ONSET_APEX_VIEW:
            return self.onset_apex_images(kf)
        raise ValueError(f"unknown input view {view!r}")


def face_frames(kf: Keyframes, views: tuple[str, ...]) -> set[int]:
    """Frames whose aligned faces the ``views`` need for a triple (the flow view needs none)."""
    frames = set()
    if APEX_VIEW in views:
        frames.add(kf.apex)
    if ONSET_APEX_VIEW in views:
        frames |= {kf.onset, kf.apex}
    return frames


class FaceAligner:
    """Aligned grayscale faces of a clip's frames, all cropped by the transform found on one frame.

    The crop is :class:`causalnet.flow.face.FaceCrop`, located once on the reference frame (the
    annotated onset) — what :func:`causalnet.flow.face.align_faces` does to a clip's three
    key-frames; this class adds lazy decoding and a per-frame memo.
    """

    def __init__(self, source: FrameFolder, reference: int, cfg: PreprocessConfig) -> None:
        self.source, self.reference = source, reference
        self._crop = FaceCrop(cfg, reference="onset frame")
        self._faces: dict[int, np.ndarray] = {}

    def _prepare(self) -> None:
        if self._crop.shape is not None:
            return
        gray = to_gray(self.source.read([self.reference])[0])
        self._crop.check_size(gray, self.source.name(self.reference))
        self._crop.locate(gray, self.source.name(self.reference))

    def faces(self, indexes: list[int]) -> dict[int, np.ndarray]:
        """Frame index → aligned face ``[face_size, face_size]`` uint8 (frames decoded once)."""
        self._prepare()
        todo = sorted({int(i) for i in indexes} - set(self._faces))
        for i, frame in zip(todo, self.source.read(todo) if todo else [], strict=True):
            gray = to_gray(frame)
            self._crop.check_size(gray, self.source.name(i))
            self._faces[i] = self._crop(gray)
        return {int(i): self._faces[int(i)] for i in indexes}


@dataclass(frozen=True)
class ClipTask:
    """What one preprocessing worker does for one clip (picklable)."""

    info: ClipInfo
    cache_path: str
    prep: PreprocessConfig
    rcfg: RobustnessConfig
    needs: TripleNeeds
    views: tuple[str, ...] = (FLOW_VIEW,)


@dataclass(frozen=True)
class ClipOutcome:
    """A worker's result: the clip's spotted apex (if spotted), how many flows it computed, or the error."""

    index: int
    spotted_apex: int | None = None
    flows: int = 0
    cpu_seconds: float = 0.0
    error: str | None = None


def _meta(info: ClipInfo) -> dict:
    return {"frames_dir": str(info.frames_dir), "n_frames": info.n_frames, "version": CACHE_VERSION}


def needs_spotting(info: ClipInfo, rcfg: RobustnessConfig) -> bool:
    """The clip needs the spotter: the spotting condition, or no apex annotation with ``apex_method=spot``."""
    return rcfg.spotting or (info.apex is None and rcfg.apex_method == "spot")


def prepare_clip(task: ClipTask) -> ClipOutcome:
    """Compute and cache everything one clip needs (see the module docstring); errors are returned, not raised."""
    from causalnet.flow.optical_flow import tvl1_flow
    from causalnet.flow.pipeline import flow_pair_images

    info, prep, rcfg = task.info, task.prep, task.rcfg
    start = time.process_time()
    path = Path(task.cache_path)
    try:
        cache = ClipCache.load(path, _meta(info))
        changed = False
        source = FrameFolder(info.frames_dir)
        if len(source) != info.n_frames:
            raise ValueError(f"{info.frames_dir}: {len(source)} frames, the plan says {info.n_frames}")
        aligner = FaceAligner(source, info.onset, prep)
        spotter = rcfg.spotter_config()
        spotter_hash = config_hash(config_signature(spotter))
        if needs_spotting(info, rcfg) and (cache.spotted_apex is None or cache.spotter != spotter_hash):
            span = list(range(info.onset, info.offset + 1))
            faces = aligner.faces(span)
            cache.spotted_apex = info.onset + spot_apex([faces[i] for i in span], 0, len(span) - 1, spotter)
            cache.spotter, changed = spotter_hash, True
        annotated = annotated_keyframes(info, cache.spotted_apex, rcfg.apex_method)
        spotted = spotted_keyframes(info, cache.spotted_apex, rcfg) if rcfg.spotting else None
        triples = set(clip_triples(info, annotated, spotted, rcfg, task.needs).values())
        pairs = {p for kf in triples for p in ((kf.onset, kf.apex), (kf.apex, kf.offset))} - set(cache.pairs)
        shrink = {i for kf in triples for i in face_frames(kf, task.views)} - set(cache.faces)
        if pairs or shrink:
            faces = aligner.faces(sorted({i for p in pairs for i in p} | shrink))
            for i, j in sorted(pairs):
                cache.pairs[(i, j)] = np.stack(flow_pair_images(tvl1_flow(faces[i], faces[j], prep), prep))
            for i in sorted(shrink):
                cache.faces[i] = cv2.resize(faces[i], (prep.out_size, prep.out_size), interpolation=cv2.INTER_AREA)
            changed = True
        if changed:
            cache.save(path)
    except (FaceNotFoundError, FileNotFoundError, ValueError) as exc:
        return ClipOutcome(info.index, error=str(exc), cpu_seconds=time.process_time() - start)
    return ClipOutcome(info.index, cache.spotted_apex, len(pairs), time.process_time() - start)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def prepare_clips(tasks: list[ClipTask], workers: int = 1,
                  on_outcome: Callable[[ClipOutcome], None] | None = None) -> list[ClipOutcome]:
    """Run :func:`prepare_clip` for every task (in ``workers`` processes), in task order.

    Workers are started by a fork server (:mod:`causalnet.flow.parallel`: forking after OpenCV's
    thread pool has run hangs), each with one OpenCV thread.
    """
    if workers <= 1 or len(tasks) <= 1:
        outcomes = []
        for task in tasks:
            outcomes.append(prepare_clip(task))
            if on_outcome is not None:
                on_outcome(outcomes[-1])
        return outcomes
    from causalnet.flow.parallel import process_context

    by_index: dict[int, ClipOutcome] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=process_context(),
                                                initializer=_init_worker) as pool:
        futures = [pool.submit(prepare_clip, t) for t in tasks]
        try:
            for fut in concurrent.futures.as_completed(futures):
                outcome = fut.result()
                by_index[outcome.index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [by_index[t.info.index] for t in tasks]


@dataclass
class InputStore:
    """Every input row of an experiment, as uint8 mosaics ready for the models.

    Attributes:
        clips: the clips (``clips[c].index == c``).
        rows: per clip, row key → row index (rows with the same triple are shared).
        triples: per clip, row key → the key-frame triple.
        x: input view → ``[R, 4, 3, 28, 28]`` uint8 (facial-block mosaics, BGR, channel-first).
    """

    clips: list[ClipInfo]
    rows: list[dict[RowKey, int]]
    triples: list[dict[RowKey, Keyframes]]
    x: dict[str, np.ndarray]

    @property
    def labels(self) -> np.ndarray:
        """Label of every row ``[R]``."""
        out = np.zeros(len(next(iter(self.x.values()))), dtype=np.int64)
        for info, rows in zip(self.clips, self.rows, strict=True):
            out[list(rows.values())] = info.label
        return out

    def row(self, clip: int, key: RowKey) -> int:
        return self.rows[clip][key]


def _mosaic_rows(images: list[np.ndarray]) -> np.ndarray:
    """``[R, 4, 28, 28, 3]`` images → ``[R, 4, 3, 28, 28]`` mosaics (uint8)."""
    return images_to_input(images, dtype=np.uint8)


def build_store(clips: list[ClipInfo], spotted: list[int | None], cache_root: Path, rcfg: RobustnessConfig,
                needs: TripleNeeds, views: tuple[str, ...]) -> InputStore:
    """Assemble the input rows of every clip from the caches written by :func:`prepare_clip`."""
    rows: list[dict[RowKey, int]] = []
    triples: list[dict[RowKey, Keyframes]] = []
    images: dict[str, list[np.ndarray]] = {v: [] for v in views}
    for info, apex in zip(clips, spotted, strict=True):
        cache = ClipCache.load(cache_file(cache_root, info), _meta(info))
        annotated = annotated_keyframes(info, apex, rcfg.apex_method)
        spot = spotted_keyframes(info, apex, rcfg) if rcfg.spotting else None
        clip_rows = clip_triples(info, annotated, spot, rcfg, needs)
        index: dict[Keyframes, int] = {}
        for kf in clip_rows.values():
            if kf not in index:
                index[kf] = len(images[views[0]])
                for v in views:
                    images[v].append(cache.view_images(v, kf))
        rows.append({k: index[kf] for k, kf in clip_rows.items()})
        triples.append(clip_rows)
    return InputStore(clips, rows, triples, {v: _mosaic_rows(images[v]) for v in views})
