"""The review page of an analysis (``causalnet review ANALYSIS_DIR``): a local server on the loopback address.

The page (``review_page/`` package data: HTML, JavaScript, CSS, no external resource) shows the recording
in sync with a zoomable timeline of the spotting signal, the threshold, the intervals coloured by class
with their confidence, the blink and head-motion candidates and the ground truth; a table of the intervals
to accept, reject, adjust (onset, apex, offset, type) and relabel; frame stepping, slow motion and an
optical-flow overlay. Saving writes the accepted intervals as an annotations file in the MEGC layout
(:func:`causalnet.data.annotations.write_annotations`) that ``analyze --annotations``, ``spot-eval`` and
``preprocess --format generic`` read back, and the whole review state (rejected and pending intervals too)
to ``review/state.json``, so that a review can be continued.

What the page needs and where it comes from (:func:`prepare_review`, once; cached in ``review/``):

- ``intervals.json`` (written by ``analyze``): the intervals, candidates, settings, recording, frame rate;
- the recording, re-encoded as ``review/recording.webm`` (VP8, every frame at its own time stamp, so the
  page can show exactly frame ``k``): read from the path ``intervals.json`` names, or ``--recording``;
- the per-frame spotting signal and threshold: ``signal.csv`` of the analysis folder when ``analyze``
  wrote one (columns ``signal``, ``threshold``), else recomputed from the recording with the analysis's
  own settings (the spotter is deterministic) into ``review/signal.json``;
- the flow overlay: Farneback optical flow from each spotted interval's onset to every frame of the
  interval (± 0.1 s), drawn as colour (direction) and opacity (magnitude), ``review/flow/<n>.png``.

Whatever cannot be made (the recording moved, dlib missing to recompute a ``--face dlib`` signal) is
left out with the reason, which the page shows in place of the missing part.

Security of the server (:class:`ReviewServer`): it listens on 127.0.0.1 only; every URL starts with a
random per-session token (a request without it gets 403), the ``Host`` header must name the loopback
address (DNS rebinding); it serves a fixed list of files of the analysis folder (no path from a request
is ever opened, the folder is refused when it holds a symbolic link, files are opened without following
links); saving is a JSON POST whose intervals are validated before the file is written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import http.server
import json
import logging
import math
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from causalnet.data.annotations import INTERVAL_TYPES, write_annotations
from causalnet.flow.frames import FrameSource, open_frames
from causalnet.folders import refuse_symlinks
from causalnet.io import atomic_path, read_json, write_json_atomic

__all__ = [
    "ANNOTATIONS_NAME",
    "CACHE_VERSION",
    "ReviewAssets",
    "ReviewServer",
    "analysis_payload",
    "prepare_review",
    "save_review",
]

log = logging.getLogger(__name__)

#: the annotations file a review saves (MEGC layout), in the analysis folder
ANNOTATIONS_NAME = "reviewed_annotations.csv"
#: the review's own files, in the analysis folder
REVIEW_DIR = "review"
VIDEO_FILE = f"{REVIEW_DIR}/recording.webm"
SIGNAL_FILE = f"{REVIEW_DIR}/signal.json"
CACHE_FILE = f"{REVIEW_DIR}/cache.json"
STATE_FILE = f"{REVIEW_DIR}/state.json"
FLOW_DIR = f"{REVIEW_DIR}/flow"
#: a per-frame signal written by ``analyze`` (read when present)
ANALYZE_SIGNAL = "signal.csv"
#: bump when the cached files change meaning
CACHE_VERSION = 1
#: longest side of the review video (larger recordings are scaled down)
MAX_SIDE = 640
#: longest side of one flow-overlay tile
FLOW_TILE = 160
#: frames before the onset and after the offset that the flow overlay covers, in seconds
FLOW_PAD_S = 0.1
#: most frames after the onset that the flow overlay covers (long macro-expressions: their start)
FLOW_MAX_FRAMES = 300
#: most tiles in one row of a flow sheet
FLOW_COLUMNS = 10
#: largest save request accepted, bytes
MAX_BODY = 8 * 1024 * 1024
#: statuses of an interval under review
STATUSES = ("pending", "accepted", "rejected")

_PAGE_FILES = {"": ("review.html", "text/html; charset=utf-8"),
               "review.js": ("review.js", "text/javascript; charset=utf-8"),
               "review.css": ("review.css", "text/css; charset=utf-8")}


@dataclasses.dataclass
class ReviewAssets:
    """What the page of one analysis folder can show: each part, or the reason it is missing."""

    folder: Path
    doc: dict
    signal: dict | None = None
    signal_missing: str = ""
    video: dict | None = None
    video_missing: str = ""
    flows: list[dict] = dataclasses.field(default_factory=list)
    flow_missing: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.doc["n_frames"])

    @property
    def fps(self) -> float:
        return float(self.doc["fps"])

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in self.doc.get("class_names") or []]


# --- the analysis folder ---------------------------------------------------------------------------------


def _read_analysis(folder: Path) -> dict:
    doc = read_json(folder / "intervals.json")
    if not isinstance(doc, dict):
        raise ValueError(f"{folder / 'intervals.json'}: not an analysis (expected a JSON object)")
    for key in ("fps", "n_frames", "intervals"):
        if key not in doc:
            raise ValueError(f"{folder / 'intervals.json'}: no {key!r}; not written by `causalnet analyze`?")
    fps, n = doc["fps"], doc["n_frames"]
    if not isinstance(fps, (int, float)) or not fps > 0 or not isinstance(n, int) or n < 1:
        raise ValueError(f"{folder / 'intervals.json'}: fps {fps!r} and n_frames {n!r} must be positive")
    return doc


def _read_analyze_signal(path: Path, n_frames: int) -> dict:
    """``signal.csv`` of ``analyze``: one row per frame, columns ``signal`` and ``threshold``."""
    values: list[float | None] = []
    threshold: list[float | None] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"signal", "threshold"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns signal and threshold, found {reader.fieldnames}")
        for row in reader:
            values.append(_number(row["signal"]))
            threshold.append(_number(row["threshold"]))
    if len(values) != n_frames:
        raise ValueError(f"{path}: {len(values)} rows for a recording of {n_frames} frames")
    return {"values": values, "threshold": threshold, "origin": ANALYZE_SIGNAL}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _series(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(f"{v:.6g}") for v in np.asarray(values, np.float64)]


def _find_recording(folder: Path, doc: dict, recording: str | os.PathLike | None) -> tuple[Path | None, str]:
    """The recording's path, or None with the reason."""
    if recording is not None:
        path = Path(recording)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such frame folder or video file (--recording)")
        return path, ""
    source = str(doc.get("source") or "")
    if not source:
        return None, "intervals.json names no recording; give it with --recording"
    for path in (Path(source), folder / source):
        if path.exists():
            return path, ""
    return None, (f"the recording {source} is not found (moved or renamed?); give it with "
                  f"`causalnet review {folder} --recording PATH`")


def _cache_key(doc: dict, recording: Path | None, want_signal: bool) -> dict:
    spans = [[int(r["onset"]), int(r["offset"])] for r in doc["intervals"]]
    stat = None
    if recording is not None:
        st = recording.stat()
        stat = [st.st_size, st.st_mtime_ns] if recording.is_file() else [len(os.listdir(recording)), st.st_mtime_ns]
    digest = hashlib.sha256(json.dumps([doc.get("settings"), spans], sort_keys=True).encode()).hexdigest()
    return {"version": CACHE_VERSION, "recording": str(recording.resolve()) if recording else None, "stat": stat,
            "n_frames": doc["n_frames"], "fps": doc["fps"], "analysis": digest, "signal": want_signal}


# --- one pass over the recording -----------------------------------------------------------------------


class _Tee(FrameSource):
    """The recording, read once: every frame goes to ``sink`` (colour) as the spotter reads it."""

    def __init__(self, source: FrameSource, sink: Callable[[int, np.ndarray], None]) -> None:
        self.source, self.sink = source, sink
        self.path, self.fps = source.path, source.fps
        self.count = 0

    def __len__(self) -> int:
        return len(self.source)

    def name(self, index: int) -> str:
        return self.source.name(index)

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:
        import cv2

        for frame in self.source.iter_frames():
            self.sink(self.count, frame)
            self.count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if gray and frame.ndim == 3 else frame


class _VideoSink:
    """Frames → a VP8 WebM (even sides, at most :data:`MAX_SIDE`) and the frames the flow overlay needs."""

    def __init__(self, path: Path, fps: float, windows: list[tuple[int, int]]) -> None:
        self.path, self.fps, self.windows = path, fps, windows
        self.writer: Any = None
        self.size = (0, 0)
        self.wanted: dict[int, np.ndarray] = {}
        self.needed = set()
        for first, last in windows:
            self.needed.update(range(first, last + 1))

    def __call__(self, index: int, frame: np.ndarray) -> None:
        import cv2

        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if self.writer is None:
            h, w = frame.shape[:2]
            scale = min(1.0, MAX_SIDE / max(h, w))
            self.size = (max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2))
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"VP80"), self.fps, self.size)
            if not self.writer.isOpened():
                raise ValueError(f"{self.path}: OpenCV cannot write a WebM (VP8) video here")
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)
        if index in self.needed:
            w, h = self.size
            scale = min(1.0, FLOW_TILE / max(w, h))
            tile = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
            self.wanted[index] = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), tile,
                                            interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def _flow_sheet(frames: Sequence[np.ndarray], reference: np.ndarray) -> np.ndarray:
    """BGRA tiles, one per frame: the flow from ``reference`` (hue: direction, opacity: magnitude)."""
    import cv2

    flows = [cv2.calcOpticalFlowFarneback(reference, f, None, 0.5, 3, 9, 3, 5, 1.1, 0) for f in frames]
    mags = [np.hypot(f[..., 0], f[..., 1]) for f in flows]
    top = max(0.3, float(np.percentile(np.stack(mags), 99.5)))
    h, w = reference.shape
    cols = min(FLOW_COLUMNS, len(frames))
    rows = math.ceil(len(frames) / cols)
    sheet = np.zeros((rows * h, cols * w, 4), np.uint8)
    for k, (flow, mag) in enumerate(zip(flows, mags, strict=True)):
        hsv = np.zeros((h, w, 3), np.uint8)
        hsv[..., 0] = ((np.arctan2(flow[..., 1], flow[..., 0]) + np.pi) / (2 * np.pi) * 179).astype(np.uint8)
        hsv[..., 1] = 255
        hsv[..., 2] = 255
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        level = np.clip(mag / top, 0, 1)
        alpha = np.where(level < 0.15, 0, np.round(level * 4) / 4 * 220).astype(np.uint8)  # few levels: small PNG
        bgr[alpha == 0] = 0
        r, c = divmod(k, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w, :3] = bgr
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w, 3] = alpha
    return sheet


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: cannot encode the image")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def _recompute_spotting(source: FrameSource, doc: dict) -> tuple[np.ndarray, np.ndarray] | str:
    """The spotting signal and threshold of the analysis, recomputed; or why it cannot be."""
    from causalnet.flow.config import PreprocessConfig
    from causalnet.flow.face import FaceBackendError, require_face_backend
    from causalnet.spotting.analyze import analyze_recording
    from causalnet.spotting.config import SpotConfig

    settings = doc.get("settings") or {}
    try:
        prep = PreprocessConfig.from_dict(settings["preprocess"])
        spot = SpotConfig.from_dict(settings["spot"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"intervals.json holds no usable spotter settings to recompute it ({exc})"
    try:
        require_face_backend(prep)
    except FaceBackendError as exc:
        return f"it cannot be recomputed here: {exc}"
    analysis = analyze_recording(source, float(doc["fps"]), prep, spot, None)
    return analysis.signal, analysis.threshold


def prepare_review(folder: str | os.PathLike, recording: str | os.PathLike | None = None, rebuild: bool = False,
                   ) -> ReviewAssets:
    """Check the analysis folder and make (or reuse) what the page shows: the review video, the signal,
    the flow overlays (module docstring). Reads the recording once when the cache is missing or stale."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such analysis folder")
    refuse_symlinks(folder, "analysis folder")
    doc = _read_analysis(folder)
    assets = ReviewAssets(folder, doc)
    if (folder / ANALYZE_SIGNAL).is_file():
        assets.signal = _read_analyze_signal(folder / ANALYZE_SIGNAL, assets.n_frames)
    path, missing = _find_recording(folder, doc, recording)
    key = _cache_key(doc, path, assets.signal is None)
    cached = _read_cache(folder)
    if path is None:
        if cached is not None and not rebuild:  # the recording moved, the review copy is still here
            _use_cache(assets, cached)
            return assets
        assets.video_missing = assets.flow_missing = missing
        if assets.signal is None:
            assets.signal_missing = (f"analyze wrote no per-frame signal ({ANALYZE_SIGNAL}) and {missing} to "
                                     "recompute it")
        return assets
    if cached is not None and cached.get("key") == key and not rebuild:
        _use_cache(assets, cached)
        return assets
    _build_cache(assets, path, key)
    return assets


def _read_cache(folder: Path) -> dict | None:
    path = folder / CACHE_FILE
    if not path.is_file():
        return None
    try:
        cached = read_json(path)
    except ValueError:
        return None
    if not isinstance(cached, dict) or not (folder / VIDEO_FILE).is_file():
        return None
    return cached


def _use_cache(assets: ReviewAssets, cached: dict) -> None:
    assets.video = cached.get("video")
    assets.flows = [f for f in cached.get("flows", []) if (assets.folder / f["path"]).is_file()]
    assets.flow_missing = cached.get("flow_missing", "")
    if assets.signal is None:
        if (assets.folder / SIGNAL_FILE).is_file():
            assets.signal = read_json(assets.folder / SIGNAL_FILE)
        else:
            assets.signal_missing = cached.get("signal_missing", "no signal in the review cache")
    log.info("%s: using the review files made earlier (%s)", assets.folder, REVIEW_DIR)


def _build_cache(assets: ReviewAssets, path: Path, key: dict) -> None:
    folder, doc, fps, n = assets.folder, assets.doc, assets.fps, assets.n_frames
    source = open_frames(path)
    pad = max(1, int(round(FLOW_PAD_S * fps)))
    windows = [(max(0, int(r["onset"]) - pad), min(n - 1, int(r["offset"]) + pad, int(r["onset"]) + FLOW_MAX_FRAMES))
               for r in doc["intervals"]]
    (folder / REVIEW_DIR).mkdir(exist_ok=True)
    log.info("%s: making the review copy of %s (%d frames)", folder, path, n)
    with atomic_path(folder / VIDEO_FILE) as tmp:
        webm = tmp.with_name(tmp.name + ".webm")
        sink = _VideoSink(webm, fps, windows)
        tee = _Tee(source, sink)
        try:
            spotting: tuple[np.ndarray, np.ndarray] | str | None = None
            if assets.signal is None:
                spotting = _recompute_spotting(tee, doc)
            if tee.count == 0:
                for _ in tee.iter_frames():
                    pass
        finally:
            sink.close()
            with contextlib.suppress(FileNotFoundError):
                if tee.count != n:
                    webm.unlink()
        if tee.count != n:
            raise ValueError(f"{path}: {tee.count} frames, but the analysis in {folder} is of a recording of {n} "
                             "frames: not the analysed recording (give the right one with --recording)")
        os.replace(webm, tmp)
    assets.video = {"path": VIDEO_FILE, "width": sink.size[0], "height": sink.size[1]}
    if isinstance(spotting, str):
        assets.signal_missing = f"analyze wrote no per-frame signal ({ANALYZE_SIGNAL}) and {spotting}"
    elif spotting is not None:
        assets.signal = {"values": _series(spotting[0]), "threshold": _series(spotting[1]),
                         "origin": "recomputed from the recording with the analysis's settings"}
        write_json_atomic(folder / SIGNAL_FILE, assets.signal)
        _compare_candidates(folder, doc, spotting[0])
    assets.flows = []
    for k, ((first, last), row) in enumerate(zip(windows, doc["intervals"], strict=True)):
        frames = [sink.wanted[i] for i in range(first, last + 1)]
        onset = int(row["onset"])
        sheet = _flow_sheet(frames, sink.wanted[onset])
        rel = f"{FLOW_DIR}/{k}.png"
        _write_png(folder / rel, sheet)
        th, tw = frames[0].shape
        assets.flows.append({"path": rel, "first": first, "last": last, "onset": onset, "tile_w": tw,
                             "tile_h": th, "cols": min(FLOW_COLUMNS, len(frames))})
    if not doc["intervals"]:
        assets.flow_missing = "no interval was spotted: the flow overlay covers the spotted intervals"
    write_json_atomic(folder / CACHE_FILE, {"key": key, "video": assets.video, "flows": assets.flows,
                                            "flow_missing": assets.flow_missing,
                                            "signal_missing": assets.signal_missing})


def _compare_candidates(folder: Path, doc: dict, signal: np.ndarray) -> None:
    """A warning when the recomputed signal does not give the analysis's scores at its candidates."""
    for c in doc.get("candidates") or []:
        peak, score = c.get("peak"), c.get("score")
        if isinstance(peak, int) and 0 <= peak < signal.size and isinstance(score, (int, float)):
            if not math.isclose(float(signal[peak]), float(score), rel_tol=1e-3, abs_tol=1e-6):
                log.warning("%s: the recomputed signal at frame %d is %.6g, the analysis found %.6g: the recording "
                            "or the code changed since the analysis", folder, peak, float(signal[peak]), score)
                return


# --- what the page gets, what it saves -------------------------------------------------------------------


def analysis_payload(assets: ReviewAssets) -> dict:
    """The JSON the page loads: the analysis, the signal, the video, the flow overlays, the saved state."""
    doc = assets.doc
    names = assets.class_names
    intervals = []
    for k, row in enumerate(doc["intervals"]):
        label = row.get("label")
        label = int(label) if isinstance(label, int) or (isinstance(label, str) and label.isdigit()) else None
        probs = [row.get(f"p_{name}") for name in names]
        confidence = probs[label] if label is not None and label < len(probs) else None
        intervals.append({"id": k, "onset": int(row["onset"]), "apex": int(row["apex"]),
                          "offset": int(row["offset"]), "type": row.get("type", "micro"), "label": label,
                          "score": row.get("score"), "confidence": confidence,
                          "probabilities": probs if any(p is not None and p != "" for p in probs) else None})
    state = None
    if (assets.folder / STATE_FILE).is_file():
        with contextlib.suppress(ValueError):
            state = read_json(assets.folder / STATE_FILE)
    return {
        "subject": doc.get("subject", ""), "video": doc.get("video", ""), "source": doc.get("source", ""),
        "fps": assets.fps, "n_frames": assets.n_frames, "class_names": names, "intervals": intervals,
        "annotated": [{"onset": int(r["onset"]), "apex": int(r["apex"]), "offset": int(r["offset"]),
                       "type": r.get("type", "micro"), "label": r.get("truth", r.get("label"))}
                      for r in doc.get("annotated") or []],
        "candidates": [{"peak": c["peak"], "score": c.get("score"), "kind": c.get("kind")}
                       for c in doc.get("candidates") or [] if isinstance(c.get("peak"), int)],
        "realigned": doc.get("realigned") or [],
        "signal": assets.signal, "signal_missing": assets.signal_missing,
        "media": {"url": "video", "width": assets.video["width"], "height": assets.video["height"]}
        if assets.video else None, "media_missing": assets.video_missing,
        "flows": [{"url": f"flow/{k}", **{x: f[x] for x in ("first", "last", "onset", "tile_w", "tile_h", "cols")}}
                  for k, f in enumerate(assets.flows)],
        "flow_missing": assets.flow_missing,
        "save_path": str((assets.folder / ANNOTATIONS_NAME).resolve()),
        "state": state,
    }


def _int_field(item: dict, key: str, where: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key} must be a frame index (an integer), got {value!r}")
    return value


def save_review(assets: ReviewAssets, payload: Any) -> dict:
    """Validate the page's intervals and write the annotations file (accepted intervals, MEGC layout) and the
    review state (every interval); returns what was written. ValueError names the first bad field."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise ValueError("expected {\"items\": [...]}")
    n, names = assets.n_frames, assets.class_names
    n_classes = len(names) or 3  # without a model: the megc3 scheme of read_annotations
    rows, items = [], []
    for k, item in enumerate(payload["items"]):
        if not isinstance(item, dict):
            raise ValueError(f"interval {k}: expected an object")
        where = f"interval {k}"
        onset, apex, offset = (_int_field(item, f, where) for f in ("onset", "apex", "offset"))
        if not 0 <= onset <= apex <= offset < n:
            raise ValueError(f"{where}: need 0 <= onset <= apex <= offset <= {n - 1} (the recording's last frame), "
                             f"got {onset}, {apex}, {offset}")
        kind, status, label = item.get("type"), item.get("status"), item.get("label")
        if kind not in INTERVAL_TYPES:
            raise ValueError(f"{where}: type must be one of {', '.join(INTERVAL_TYPES)}, got {kind!r}")
        if status not in STATUSES:
            raise ValueError(f"{where}: status must be one of {', '.join(STATUSES)}, got {status!r}")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int) or
                                  not 0 <= label < n_classes):
            raise ValueError(f"{where}: label must be empty or a class index 0..{n_classes - 1}, got {label!r}")
        origin = item.get("id")
        origin = origin if isinstance(origin, int) and not isinstance(origin, bool) else None
        items.append({"id": origin, "onset": onset, "apex": apex, "offset": offset, "type": kind, "label": label,
                      "status": status, "added": bool(item.get("added"))})
        if status == "accepted":
            rows.append({"subject": assets.doc.get("subject", ""), "video": assets.doc.get("video", ""),
                         "onset": onset, "apex": apex, "offset": offset, "type": kind,
                         "label": "" if label is None else label})
    rows.sort(key=lambda r: (r["onset"], r["offset"]))
    path = assets.folder / ANNOTATIONS_NAME
    write_annotations(path, rows)
    write_json_atomic(assets.folder / STATE_FILE, {"items": items, "annotations": ANNOTATIONS_NAME})
    counts = {s: sum(i["status"] == s for i in items) for s in STATUSES}
    log.info("%s: %d accepted interval(s) saved (%d rejected, %d not reviewed)", path, counts["accepted"],
             counts["rejected"], counts["pending"])
    return {"path": str(path.resolve()), "written": len(rows), **counts}


# --- the server ------------------------------------------------------------------------------------------


def _page_file(name: str) -> bytes:
    return resources.files("causalnet.spotting").joinpath("review_page", name).read_bytes()


def _open_inside(folder: Path, rel: str) -> tuple[int, int]:
    """A file descriptor and size of ``folder/rel`` (a name this module chose), never through a link."""
    path = folder / rel
    for part in [folder / p for p in Path(rel).parents if str(p) != "."][::-1] + [path]:
        if part.is_symlink():
            raise PermissionError(f"{part}: a symbolic link; not served")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        size = os.fstat(fd).st_size
    except OSError:
        os.close(fd)
        raise
    return fd, size


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ReviewServer:
    """The review page of one analysis on ``http://127.0.0.1:<port>/<token>/`` (``port`` 0: any free one).

    ``start()`` serves in a thread, ``serve_forever()`` in this one, ``close()`` stops.
    """

    def __init__(self, assets: ReviewAssets, port: int = 0, token: str | None = None) -> None:
        self.assets = assets
        self.token = token or secrets.token_urlsafe(24)
        self.payload_lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/"

    def start(self) -> ReviewServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="review-server", daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "causalnet-review"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("%s %s", self.address_string(), format % args)

            # -- checks
            def _route(self) -> str | None:
                """The path after the token, or None (403 sent)."""
                host = (self.headers.get("Host") or "").strip().lower()
                if host not in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
                    self._send(403, b"forbidden: not a loopback host\n", "text/plain")
                    return None
                path = urlsplit(self.path).path
                prefix = f"/{server.token}"
                head, _, rest = path[1:].partition("/")
                if not secrets.compare_digest(head.encode(), server.token.encode()):
                    self._send(403, b"forbidden: this address needs the session's token\n", "text/plain")
                    return None
                if path == prefix:
                    self.send_response(301)
                    self.send_header("Location", prefix + "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return rest

            def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                 "media-src 'self'; object-src 'none'; frame-ancestors 'none'")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, code: int, obj: Any) -> None:
                self._send(code, json.dumps(obj).encode(), "application/json")

            # -- GET
            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                rest = self._route()
                if rest is None:
                    return
                try:
                    if rest in _PAGE_FILES:
                        name, ctype = _PAGE_FILES[rest]
                        self._send(200, _page_file(name), ctype)
                    elif rest == "api/analysis":
                        with server.payload_lock:
                            payload = analysis_payload(server.assets)
                        self._json(200, payload)
                    elif rest == "video" and server.assets.video:
                        self._file(server.assets.video["path"], "video/webm")
                    elif rest.startswith("flow/") and rest[5:].isdigit() and int(rest[5:]) < len(
                            server.assets.flows):
                        self._file(server.assets.flows[int(rest[5:])]["path"], "image/png")
                    else:
                        self._send(404, b"not found\n", "text/plain")
                except (OSError, ValueError) as exc:
                    log.warning("review page: %s: %s", rest, exc)
                    self._send(500, f"{exc}\n".encode(), "text/plain")

            def _file(self, rel: str, ctype: str) -> None:
                fd, size = _open_inside(server.assets.folder, rel)
                with os.fdopen(fd, "rb") as fh:
                    first, last = 0, size - 1
                    match = _RANGE.match(self.headers.get("Range") or "")
                    code, extra = 200, {"Accept-Ranges": "bytes"}
                    if match and (match.group(1) or match.group(2)):
                        if match.group(1):
                            first = int(match.group(1))
                            last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                        else:
                            first = max(0, size - int(match.group(2)))
                        if first > last or first >= size:
                            self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                            return
                        code = 206
                        extra["Content-Range"] = f"bytes {first}-{last}/{size}"
                    fh.seek(first)
                    self._send(code, fh.read(last - first + 1), ctype, extra)

            # -- POST
            def do_POST(self) -> None:
                rest = self._route()
                if rest is None:
                    return
                if rest != "api/save":
                    self._send(404, b"not found\n", "text/plain")
                    return
                if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                    self._json(415, {"error": "expected Content-Type: application/json"})
                    return
                try:
                    length = int(self.headers.get("Content-Length") or "0")
                except ValueError:
                    length = -1
                if not 0 < length <= MAX_BODY:
                    self._json(413 if length > MAX_BODY else 411, {"error": "bad Content-Length"})
                    return
                try:
                    payload = json.loads(self.rfile.read(length).decode("utf-8"))
                    with server.payload_lock:
                        result = save_review(server.assets, payload)
                except (ValueError, UnicodeDecodeError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                except OSError as exc:
                    log.error("review page: saving failed: %s", exc)
                    self._json(500, {"error": str(exc)})
                    return
                self._json(200, result)

        return Handler
