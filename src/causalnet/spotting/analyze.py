"""One long recording → spotted, recognised intervals (the engine of ``causalnet analyze``).

Frames are read one at a time (:meth:`FrameSource.iter_frames`), aligned
(:class:`~causalnet.flow.face.FaceTracker`), pushed in chunks into the :class:`Spotter`; every
micro-expression interval it decides is classified by the checkpoint (:class:`Recogniser`) in a
helper thread while the next frames are spotted (OpenCV's TV-L1 and torch release the GIL, so both
cores work). Only fixed-size rings of frames are held, and at most :data:`MAX_PENDING` intervals wait
for recognition (spotting pauses otherwise): memory does not grow with the recording's length (the
per-frame signals kept for the timeline are a few floats per frame).

Annotated intervals given as ``reference`` are classified the same way as their frames stream by, so
the recognition of spotted and of annotated intervals can be compared without reading the video twice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from causalnet.data.annotations import Interval
from causalnet.flow.config import PreprocessConfig
from causalnet.flow.face import FaceNotFoundError, FaceTracker
from causalnet.flow.frames import FrameSource
from causalnet.keyframes import Keyframes
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.recognise import Recogniser
from causalnet.spotting.signal import FrameRing
from causalnet.spotting.spotter import Candidate, Spot, Spotter, threshold_curve

__all__ = ["Analysis", "AnalyzedInterval", "analyze_recording", "check_annotations_fit"]

#: classifications queued at most; beyond, spotting waits (each holds its interval's faces)
MAX_PENDING = 2

log = logging.getLogger(__name__)


@dataclasses.dataclass
class AnalyzedInterval:
    """An interval of the recording: spotted (``score``, ``threshold`` set) or annotated (``truth``).

    ``probabilities`` (one per class) and ``label`` (their argmax) are None when not classified.
    """

    type: str
    onset: int
    apex: int
    offset: int
    score: float = float("nan")
    threshold: float = float("nan")
    label: int | None = None
    probabilities: list[float] | None = None
    truth: int | None = None

    def as_interval(self, subject: str, video: str) -> Interval:
        return Interval(subject, video, self.onset, self.apex, self.offset, self.type, self.label)


@dataclasses.dataclass
class Analysis:
    """Everything :func:`analyze_recording` found (see :mod:`causalnet.spotting.output` for the files)."""

    subject: str
    video: str
    source: str
    fps: float
    n_frames: int
    face_size: int
    intervals: list[AnalyzedInterval]
    reference: list[AnalyzedInterval]
    candidates: list[Candidate]
    signal: np.ndarray
    threshold: np.ndarray
    class_names: list[str]
    realigned: list[int]
    seconds: float
    cpu_seconds: float
    flows: int
    #: how the faces were cropped: ``dlib``, or ``none`` (given, or no face found with ``face_required=False``)
    face_method: str = "dlib"

    @property
    def frames_per_second(self) -> float:
        """Processing speed: frames analysed per wall-clock second."""
        return self.n_frames / self.seconds if self.seconds > 0 else float("inf")


def check_annotations_fit(reference: Sequence[Interval], n_frames: int, fps: float, name: str | None = None) -> None:
    """Raise a ValueError naming the first annotated interval that ends beyond the recording's last frame, with
    the recording's length (``name``: the annotation file, for the message).

    >>> check_annotations_fit([Interval("s", "v", 10, 20, 30, "micro", 0)], 100, 50.0)
    >>> check_annotations_fit([Interval("s", "v", 90, 120, 150, "micro", 0)], 100, 50.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: annotations: interval s/v 90-120-150 (micro) ends at frame 150 (3.02 s), beyond ... last frame 99: ...
    """
    beyond = [r for r in reference if r.offset >= n_frames]
    if beyond:
        r = min(beyond, key=lambda r: r.offset)
        raise ValueError(f"{name or 'annotations'}: interval {r.subject}/{r.video} {r.onset}-{r.apex}-{r.offset} "
                         f"({r.type}) ends at frame {r.offset} ({(r.offset + 1) / fps:.2f} s), beyond the recording's "
                         f"last frame {n_frames - 1}: it has {n_frames} frames ({n_frames / fps:.2f} s at {fps:g} "
                         "fps); frames count from 0")


def _window(first_needed: int, last_needed: int, ring: FrameRing) -> tuple[int, int] | None:
    first, last = max(first_needed, ring.first), min(last_needed, ring.end - 1)
    return (first, last) if first <= last else None


def _eye_geometry(prep: PreprocessConfig, spot: SpotConfig, eye_row: float | None,
                  eye_distance: float | None) -> tuple[float, float]:
    """Eye row and eye distance in the aligned face: the arguments, else ``spot``'s, else ``prep``'s."""
    eye_row = eye_row if eye_row is not None else (spot.eye_row if spot.eye_row is not None else prep.eye_row)
    eye_distance = eye_distance if eye_distance is not None else (
        spot.eye_distance if spot.eye_distance is not None else prep.eye_distance)
    return eye_row, eye_distance


#: seconds at the start of a recording searched for a face, and tries per second
FACE_SEARCH_S, FACE_TRIES_PER_S = 2.0, 10


def start_tracker(source: FrameSource, fps: float, prep: PreprocessConfig, required: bool = True) -> FaceTracker:
    """The :class:`FaceTracker` of a recording, its face found on the first frame that shows one within the
    first :data:`FACE_SEARCH_S` seconds (tried :data:`FACE_TRIES_PER_S` times a second), so a recording that
    starts on a turned or hidden face is still cropped as its first detected face (from frame 0 on).

    With ``prep.face_method == "dlib"`` and no face in that search: ``required`` raises
    :class:`FaceNotFoundError` naming the frames searched; otherwise the frames are taken as already cropped
    faces (as ``face_method="none"``) and a warning says so.
    """
    tracker = FaceTracker(prep)
    if prep.face_method == "none":
        return tracker
    last = max(0, int(round(FACE_SEARCH_S * fps)) - 1)
    step = max(1, int(round(fps / FACE_TRIES_PER_S)))
    n = -1
    for n, frame in enumerate(source.iter_frames(gray=True)):
        if n > last:
            break
        if n % step:
            continue
        try:
            tracker.prime(frame, source.name(n))
        except FaceNotFoundError:
            continue
        if n:
            log.info("%s: no face on the first frame; the face found on frame %d crops the recording from its "
                     "first frame", source.path, n)
        return tracker
    if n < 0:
        raise ValueError(f"{source.path}: no frames could be read")
    searched = f"frames 0-{min(n, last)} (the first {min(n, last) / fps + 1 / fps:.2f} s, every {step})"
    if required:
        raise FaceNotFoundError(f"{source.path}: no face found by dlib in {searched}; use --face none for frames "
                                "already cropped to the face")
    log.warning("%s: no face found by dlib in %s: the frames are taken as already cropped faces (as --face none)",
                source.path, searched)
    return FaceTracker(dataclasses.replace(prep, face_method="none"))


def _aligned_blocks(source: FrameSource, tracker: FaceTracker, chunk: int) -> Iterator[tuple[np.ndarray, int]]:
    """The recording's aligned faces in blocks of ``chunk`` frames (the last block may be shorter), each with
    the number of frames read so far; every frame is read and aligned only when the block before it is used."""
    batch: list[np.ndarray] = []
    n = 0
    for frame in source.iter_frames(gray=True):
        batch.append(tracker(frame, source.name(n)))
        n += 1
        if len(batch) == chunk:
            block = np.stack(batch)
            batch = []
            yield block, n
    if n == 0:
        raise ValueError(f"{source.path}: no frames could be read")
    if batch:
        yield np.stack(batch), n


class _Classifications:
    """Intervals classified by the recogniser in a helper thread, from copies of the faces still held.

    At most :data:`MAX_PENDING` classifications wait; beyond, :meth:`submit` blocks on the oldest. A
    context manager: leaving it shuts the helper thread down (queued work is cancelled).
    """

    def __init__(self, recogniser: Recogniser | None, faces: FrameRing, fps: float, margin: int,
                 clip: tuple[str, str]) -> None:
        self.recogniser, self.faces, self.fps, self.margin, self.clip = recogniser, faces, fps, margin, clip
        self.pool = ThreadPoolExecutor(max_workers=1) if recogniser else None
        self.jobs: list[tuple[AnalyzedInterval, Future]] = []

    def __enter__(self) -> _Classifications:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, item: AnalyzedInterval, tag: str) -> None:
        """Queue ``item`` for classification (a warning when its frames are no longer held)."""
        if self.recogniser is None:
            return
        window = _window(item.onset - self.margin, item.offset + self.margin, self.faces)
        if window is None or window[0] > item.onset or window[1] < item.offset:
            log.warning("%s/%s: frames %d..%d are no longer held; interval not classified", *self.clip,
                        item.onset, item.offset)
            return
        first, last = window
        held = {i: f.copy() for i, f in zip(range(first, last + 1), self.faces.get(np.arange(first, last + 1)),
                                             strict=True)}
        kf = Keyframes(item.onset, min(max(item.apex, item.onset), item.offset), item.offset)
        future = self.pool.submit(self.recogniser.classify, held.__getitem__, kf, first, last, self.fps,
                                  (*self.clip, tag, item.apex))
        self.jobs.append((item, future))
        pending = [f for _, f in self.jobs if not f.done()]
        if len(pending) > MAX_PENDING:  # back-pressure: memory stays bounded when recognition is slower
            pending[0].result()

    def collect(self) -> None:
        """Wait for every classification and write its probabilities and label into its interval."""
        for item, future in self.jobs:
            probs = future.result()
            item.probabilities = [float(p) for p in probs]
            item.label = int(np.argmax(probs))


def analyze_recording(
    source: FrameSource,
    fps: float,
    prep: PreprocessConfig,
    spot: SpotConfig,
    recogniser: Recogniser | None = None,
    *,
    subject: str = "",
    video: str = "",
    reference: Sequence[Interval] = (),
    eye_row: float | None = None,
    eye_distance: float | None = None,
    chunk: int = 64,
    on_frames: Callable[[int], None] | None = None,
    reference_name: str | None = None,
    face_required: bool = True,
) -> Analysis:
    """Spot (and, with a ``recogniser``, recognise) the expressions of one recording.

    Args:
        source: the recording (frame folder or video), read once, in order.
        fps: its frame rate.
        prep: face handling (``face_method``, ``face_size``, alignment) and, for recognition, the flow.
        spot: spotter parameters.
        recogniser: classifies micro intervals (and macro ones with ``RecogniseConfig.macro``).
        subject, video: ids written with the intervals.
        reference: annotated intervals of this recording to classify too (micro only).
        eye_row, eye_distance: eye centres in the aligned face (default: ``spot``'s, else ``prep``'s).
        chunk: frames processed at once.
        on_frames: called with the number of frames after each chunk (progress bars).
        reference_name: the annotation file of ``reference``, named when an interval lies beyond the recording
            (:func:`check_annotations_fit`, checked once the frames are counted).
        face_required: with dlib, a recording whose first seconds show no face is an error; False: its frames
            are taken as faces, with a warning (:func:`start_tracker`; :attr:`Analysis.face_method` says which).
    """
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    flows_before = recogniser.flows if recogniser else 0
    size = prep.face_size
    tracker = start_tracker(source, fps, prep, face_required)
    spotter = Spotter(spot, fps, size, *_eye_geometry(prep, spot, eye_row, eye_distance), chunk)
    spotter.blocked = tracker.realigned
    margin = recogniser.cfg.margin(fps) if recogniser else 0
    micro_max = spot.frames(spot.micro_max_s, fps)
    faces = FrameRing(spotter.span + chunk + 2 * margin + micro_max, (size, size), np.uint8)
    spotted: list[AnalyzedInterval] = []
    todo = sorted((r for r in reference if r.type == "micro"), key=lambda r: r.offset)
    annotated: list[AnalyzedInterval] = []

    with _Classifications(recogniser, faces, fps, margin, (subject, video)) as classify:

        def take(spots: list[Spot]) -> None:
            for s in spots:
                item = AnalyzedInterval(s.type, s.onset, s.apex, s.offset, s.score, s.threshold)
                spotted.append(item)
                if s.type == "micro" or (recogniser is not None and recogniser.cfg.macro):
                    classify.submit(item, "spotted")

        def take_reference(done: bool) -> None:
            while todo and (done or faces.end > todo[0].offset + margin):
                ref = todo.pop(0)
                item = AnalyzedInterval(ref.type, ref.onset, ref.apex, ref.offset, truth=ref.label)
                annotated.append(item)
                classify.submit(item, "annotated")

        n = 0
        for block, n in _aligned_blocks(source, tracker, chunk):
            faces.push(block)
            take(spotter.push(block))
            if len(block) == chunk:  # a full block; the last, shorter one is followed by the end below
                take_reference(False)
                if on_frames:
                    on_frames(n)
        take(spotter.finish())
        check_annotations_fit(reference, n, fps, reference_name)
        take_reference(True)
        if on_frames:
            on_frames(n)
        classify.collect()
    signal = spotter.signals.C.values.copy()
    return Analysis(
        subject=subject, video=video, source=str(source.path), fps=fps, n_frames=n, face_size=size,
        face_method=tracker.cfg.face_method,
        intervals=sorted(spotted, key=lambda i: i.onset), reference=annotated, candidates=spotter.candidates,
        signal=signal, threshold=threshold_curve(signal, spot, fps),
        class_names=recogniser.class_names if recogniser else [], realigned=list(tracker.realigned),
        seconds=time.perf_counter() - start_wall, cpu_seconds=time.process_time() - start_cpu,
        flows=recogniser.flows - flows_before if recogniser else 0,
    )
