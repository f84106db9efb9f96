"""``causalnet analyze`` (one long recording → timeline of micro-expressions) and ``causalnet spot-eval``
(every recording of a long-video dataset, MEGC spotting and STR metrics)."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from causalnet.commands.options import (
    add_device_option,
    add_face_options,
    add_set_option,
    checkpoint_preprocess,
    parse_subjects,
    show_progress,
)

if TYPE_CHECKING:
    from causalnet.flow.config import PreprocessConfig
    from causalnet.spotting.config import SpotConfig
    from causalnet.spotting.recognise import RecogniseConfig, Recogniser

LONG_FORMATS = ("generic", "casme2", "samm")  # causalnet.spotting.datasets.LONG_FORMATS
POOLINGS = ("confidence", "mean")  # causalnet.spotting.recognise.POOLINGS


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fps", type=float, default=None, metavar="N",
                   help="frame rate (needed for frame folders; overrides a video's own)")
    add_face_options(p, "detect and align the face (re-detected when it moves away)")
    add_set_option(p, "override spotter settings (SpotConfig fields, e.g. threshold=5 eye_row=0.37; "
                      "see docs/spotting.md)")
    p.add_argument("--spot-preset", default="default", metavar="NAME",
                   help="SpotConfig preset: default (= learned: candidates above a noise-floor-relative threshold "
                        "decided by the shipped learned model; no eye positions needed), classic (the rule spotter "
                        "with eye boxes, blink and head-motion rules), classic-noeyes, lbp (the MEGC baseline's "
                        "feature) (default: default; docs/spotting.md)")
    p.add_argument("--tta", type=int, default=None, metavar="K",
                   help="key-frame triples averaged per interval (default 8; 1 = no test-time ensembling)")
    p.add_argument("--pooling", choices=POOLINGS, default="confidence",
                   help="pooling of the key-frame ensemble (default: confidence-weighted)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads (default 1)")
    add_device_option(p, "recognition model runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze`` and ``spot-eval``."""
    p = subparsers.add_parser(
        "analyze",
        help="spot and recognise the micro-expressions of a long recording (video or frame folder)",
        description=(
            "Read a recording frame by frame (memory does not grow with its length), align the face, spot "
            "intervals where the face moves briefly (MEGC baseline manner: each frame against the mean of the "
            "frames k before and after, contrasted with the local baseline, thresholded peaks; blinks and head "
            "motion dropped; micro vs macro by duration), classify each micro-expression with the checkpoint "
            "(test-time key-frame ensembling), and write intervals.csv, intervals.json and timeline.png to "
            "--out. With --annotations, also the MEGC spotting metrics. Without --face, a recording in whose "
            "first 2 s dlib finds no face is analysed as already cropped faces, with a warning (--face dlib makes "
            "that an error). See docs/spotting.md."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", metavar="FILE", help="video file")
    src.add_argument("--frames", metavar="DIR", help="folder of frame images (natural sort order)")
    p.add_argument("--checkpoint", metavar="CKPT", default=None,
                   help="trained checkpoint (safetensors); default: the shipped model compact-composite (research "
                        "use; see `causalnet models`)")
    p.add_argument("--spot-only", action="store_true", help="spot the intervals, do not classify them (no model)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--annotations", metavar="FILE", default=None,
                   help="ground truth in the MEGC spotting layout (subject,video,onset,apex,offset,type,label): "
                        "adds metrics.json; the rows of --subject/--video-name are used")
    p.add_argument("--subject", default=None, help="subject id written with the intervals (default: the folder's "
                                                    "parent name for --frames, empty for --video)")
    p.add_argument("--video-name", default=None,
                   help="video id written with the intervals (default: the folder name / the file's stem)")
    p.add_argument("--video-out", action="store_true",
                   help="also write annotated.webm (WebM, plays in browsers; real time, frames enlarged; reads the "
                        "recording again)")
    p.add_argument("--video-slow", type=float, default=1.0, metavar="F",
                   help="with --video-out: play F times slower than real time, every frame shown (written as "
                        "annotated_slow<F>x.webm, the factor on screen; default 1 = real time)")
    _common(p)
    p.set_defaults(func=run_analyze)

    e = subparsers.add_parser(
        "spot-eval",
        help="spot (and recognise) every recording of a long-video dataset and compute the MEGC metrics",
        description=(
            "Run `causalnet analyze` on every recording of a long-video dataset (generic layout: videos.csv + "
            "annotations.csv as written by `causalnet synth --long`; casme2: CAS(ME)^2; samm: SAMM Long Videos) "
            "and pool the MEGC spotting metrics (IoU >= 0.5), recognition UF1/UAR on the true positives and on "
            "the annotated intervals, and the STR score. Resumable: recordings already analysed with the same "
            "settings are reused. Leave-one-subject-out: --checkpoint-dir holds one model per test subject."
        ),
    )
    e.add_argument("--data", required=True, metavar="DIR", help="the dataset's folder")
    e.add_argument("--format", choices=LONG_FORMATS, default="generic", help="its layout (default generic)")
    e.add_argument("--annotations", metavar="FILE", default=None, help="annotation file (default: found by name)")
    model = e.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", metavar="CKPT", help="one model for every recording")
    model.add_argument("--checkpoint-dir", metavar="DIR",
                       help="one model per subject: DIR/<subject>.safetensors, trained without that subject "
                            "(e.g. the checkpoints/run0 folder of `causalnet train --checkpoints`)")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder (one sub-folder per recording)")
    e.add_argument("--subjects", default=None, help="comma-separated subjects (default: all)")
    e.add_argument("--overwrite", action="store_true", help="analyse again even when results exist")
    _common(e)
    e.set_defaults(func=run_spot_eval)


def _spot_config(args: argparse.Namespace) -> SpotConfig:
    from causalnet.config import parse_key_values
    from causalnet.spotting.config import SpotConfig

    return SpotConfig.preset(args.spot_preset).with_overrides(parse_key_values(args.set))


def _recognise_config(args: argparse.Namespace) -> RecogniseConfig:
    import dataclasses

    from causalnet.spotting.recognise import RecogniseConfig

    cfg = RecogniseConfig(pooling=args.pooling)
    return dataclasses.replace(cfg, tta_k=args.tta) if args.tta is not None else cfg


def _extra(checkpoint: str | None) -> dict:
    if not checkpoint:
        return {}
    from causalnet.models import read_checkpoint_metadata

    return read_checkpoint_metadata(checkpoint)["extra"]


@contextlib.contextmanager
def _progress(total: int, desc: str, disable: bool, fps: float | None = None) -> Iterator[Callable[[int], None]]:
    """A tqdm bar over ``total`` frames (frames/s and the time left); with the recording's ``fps``, also the
    real-time factor. The context's value is called with the frames done so far."""
    from tqdm import tqdm

    state = {"n": 0, "start": time.perf_counter()}
    with tqdm(total=total or None, desc=desc, unit="frame", disable=disable, dynamic_ncols=True) as bar:

        def update(n: int) -> None:
            bar.update(n - state["n"])
            state["n"] = n
            elapsed = time.perf_counter() - state["start"]
            if fps and elapsed > 0 and n:
                bar.set_postfix_str(f"{n / elapsed / fps:.2f}x real time", refresh=False)

        yield update


def _recogniser(checkpoint: str | None, prep: PreprocessConfig, rec: RecogniseConfig,
                threads: int, device: str = "auto") -> Recogniser | None:
    if not checkpoint:
        return None
    from causalnet.flow.face import require_face_backend
    from causalnet.spotting.recognise import Recogniser

    require_face_backend(prep)
    return Recogniser(checkpoint, prep, rec, threads, device)


def check_options(args: argparse.Namespace) -> None:
    """The numeric options of ``analyze`` and ``spot-eval``, before any work: ``--fps 0`` names --fps."""
    from causalnet.checks import between, check_fps, check_option

    if args.fps is not None:
        check_fps(args.fps, "--fps")
    check_option("--threads", args.threads, between(1, 1024))
    if args.tta is not None:
        check_option("--tta", args.tta, between(1, 64))  # RecogniseConfig.tta_k


def analysis_outputs(out: Path, video: bool = False, slow: float = 1.0) -> list[tuple[str, Path]]:
    """``(what, path)`` of the files ``analyze`` writes into ``out``."""
    from causalnet.spotting.output import video_name

    names = ["intervals.csv", "intervals.json", "timeline.png", "metrics.json"] + ([video_name(slow)] if video else [])
    return [(f"--out's {name}", out / name) for name in names]


def run_analyze(args: argparse.Namespace) -> int:
    """Analyse one recording and write the outputs."""
    from causalnet.checks import check_output_dir, check_outputs_apart
    from causalnet.flow.face import require_face_backend
    from causalnet.flow.frames import FrameFolder, VideoFile
    from causalnet.io import write_json_atomic
    from causalnet.spotting.analyze import analyze_recording, check_annotations_fit
    from causalnet.spotting.evaluate import analysis_settings
    from causalnet.spotting.metrics import spotting_report
    from causalnet.spotting.output import video_name, write_intervals, write_timeline, write_video

    check_options(args)
    check_output_dir(args.out)
    if args.spot_only and args.checkpoint:
        raise ValueError("--spot-only and --checkpoint exclude each other (--spot-only classifies nothing)")
    if not args.video_slow >= 1 or args.video_slow > 1000:
        raise ValueError(f"--video-slow must be a number in [1, 1000], got {args.video_slow}")
    check_outputs_apart(analysis_outputs(Path(args.out), args.video_out, args.video_slow),
                        [("--annotations", args.annotations), ("--checkpoint", args.checkpoint),
                         ("--video", args.video), ("--frames", args.frames)])
    source = FrameFolder(args.frames) if args.frames else VideoFile(args.video)
    fps = args.fps or getattr(source, "fps", 0.0)
    if not fps or fps <= 0:
        raise ValueError(f"{source.path}: the frame rate is unknown; give it with --fps")
    checkpoint = None if args.spot_only else args.checkpoint
    if checkpoint is None and not args.spot_only:
        from causalnet.models.shipped import shipped_checkpoint, shipped_notice

        checkpoint = str(shipped_checkpoint())
        print(shipped_notice())
    extra = _extra(checkpoint)
    prep = checkpoint_preprocess(extra, args.face, args.size)
    require_face_backend(prep)
    spot = _spot_config(args)
    rec_cfg = _recognise_config(args)
    subject = args.subject if args.subject is not None else (Path(args.frames).resolve().parent.name
                                                             if args.frames else "")
    video = args.video_name or (Path(args.frames).resolve().name if args.frames else Path(args.video).stem)
    truth = []
    if args.annotations:
        from causalnet.data.annotations import read_annotations

        truth = [t for t in read_annotations(args.annotations) if t.video == video and
                 (not subject or t.subject == subject)]
        if not truth:
            raise ValueError(f"{args.annotations}: no interval of video {video!r}"
                             + (f", subject {subject!r}" if subject else "") + " (give --subject / --video-name)")
        if not subject:  # the spotted intervals are scored against the annotations' subject
            subjects = sorted({t.subject for t in truth})
            if len(subjects) > 1:
                raise ValueError(f"{args.annotations}: video {video!r} belongs to several subjects "
                                 f"({', '.join(subjects)}); give --subject")
            subject = subjects[0]
        if isinstance(source, FrameFolder):  # a video's frame count is only known once it is read
            check_annotations_fit(truth, len(source), fps, args.annotations)
    recogniser = _recogniser(checkpoint, prep, rec_cfg, args.threads, args.device)
    with _progress(len(source), "analyze", not show_progress(args), fps) as update:
        analysis = analyze_recording(source, fps, prep, spot, recogniser, subject=subject, video=video,
                                     reference=truth, on_frames=update, reference_name=args.annotations,
                                     face_required=args.face is not None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = None
    if truth:
        n_classes = len(analysis.class_names) or 3
        spotted = [i.as_interval(subject, video) for i in analysis.intervals]
        metrics = spotting_report(spotted, truth, n_classes)
        write_json_atomic(out / "metrics.json", metrics)
    settings = analysis_settings(prep, spot, rec_cfg if recogniser else None, checkpoint, fps)
    write_intervals(out, analysis, settings, metrics)
    pages = write_timeline(out / "timeline.png", analysis, truth)
    video_file = None
    if args.video_out:
        video_file = video_name(args.video_slow)
        write_video(out / video_file, analysis, source, slow=args.video_slow)
    _print_analysis(analysis)
    if metrics:
        _print_metrics(metrics, None)
    timeline = pages[0].name if len(pages) == 1 else f"{pages[0].name} … {pages[-1].name} ({len(pages)} pages)"
    print(f"outputs: {out.resolve()} (intervals.csv, intervals.json, {timeline}"
          + (", metrics.json" if metrics else "") + (f", {video_file}" if video_file else "") + ")")
    return 0


def _print_analysis(analysis) -> None:
    micro = [i for i in analysis.intervals if i.type == "micro"]
    macro = [i for i in analysis.intervals if i.type == "macro"]
    print(f"{analysis.source}: {analysis.n_frames} frames ({analysis.n_frames / analysis.fps:.1f} s at "
          f"{analysis.fps:g} fps); {len(micro)} micro, {len(macro)} macro interval(s); "
          f"{analysis.frames_per_second:.0f} frames/s = {analysis.frames_per_second / analysis.fps:.2f}x real time "
          f"({analysis.seconds:.1f} s, CPU {analysis.cpu_seconds:.1f} s); faces: "
          + ("dlib-aligned" if analysis.face_method == "dlib" else "the frames as they are (no alignment)"))
    for item in analysis.intervals:
        label = ""
        if item.label is not None and analysis.class_names:
            label = f"  {analysis.class_names[item.label]} ({item.probabilities[item.label]:.2f})"
        print(f"  {item.type:5s} {item.onset / analysis.fps:8.2f}-{(item.offset + 1) / analysis.fps:.2f} s "
              f"(frames {item.onset}-{item.apex}-{item.offset}){label}")


def _print_metrics(metrics: dict, annotated: dict | None) -> None:
    for kind in ("micro", "macro", "all"):
        m = metrics[kind]
        print(f"spotting {kind:5s}: TP {m['tp']:3d}  FP {m['fp']:3d}  FN {m['fn']:3d}  precision {m['precision']:.3f}  "
              f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}")
    r = metrics["recognition_tp"]
    print(f"recognition on TP micro intervals (n={r['n']}): UF1 {r['uf1']:.3f}  UAR {r['uar']:.3f}  "
          f"analysis F1 {r['analysis_f1']:.3f}  STRS {metrics['strs']:.3f}")
    if annotated:
        print(f"recognition on annotated micro intervals (n={annotated['n']}): UF1 {annotated['uf1']:.3f}  "
              f"UAR {annotated['uar']:.3f}")


def run_spot_eval(args: argparse.Namespace) -> int:
    """Analyse every recording of a dataset (resumable) and pool the metrics."""
    from causalnet.checks import check_output_dir
    from causalnet.flow.face import require_face_backend
    from causalnet.spotting.datasets import read_long_dataset
    from causalnet.spotting.evaluate import evaluate_dataset, select_recordings, subject_checkpoints

    check_options(args)
    check_output_dir(args.out)
    ds = read_long_dataset(args.format, args.data, args.annotations)
    videos = select_recordings(ds.videos, parse_subjects(args.subjects), args.data)
    checkpoints = subject_checkpoints(videos, args.checkpoint, args.checkpoint_dir)
    prep = checkpoint_preprocess(_extra(next(iter(checkpoints.values()), None)), args.face, args.size)
    require_face_backend(prep)
    start = time.perf_counter()
    result = evaluate_dataset(
        ds, videos, checkpoints, args.out, prep, _spot_config(args), _recognise_config(args), fps=args.fps,
        overwrite=args.overwrite, threads=args.threads, device=args.device,
        progress=lambda total, desc: _progress(total, desc, not show_progress(args)), on_message=print,
        described={"data": str(args.data), "format": args.format})
    metrics = result.metrics
    _print_metrics(metrics, metrics["recognition_annotated"] if result.annotated else None)
    print(f"{result.recordings} recording(s), {result.frames} frames; {time.perf_counter() - start:.1f} s this run; "
          f"metrics: {(Path(args.out) / 'metrics.json').resolve()}")
    print(json.dumps({"micro_f1": round(metrics["micro"]["f1"], 4), "strs": round(metrics["strs"], 4)}))
    return 0
