"""``causalnet preprocess``: a raw clip dataset → the published composite layout (SPEC §2, §4)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from causalnet.commands.options import add_set_option, show_progress

if TYPE_CHECKING:
    from causalnet.flow.config import PreprocessConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``preprocess`` sub-command."""
    p = subparsers.add_parser(
        "preprocess",
        help="raw frames + annotations -> the four 28x28 images per clip, in the published layout",
        description=(
            "Read a raw micro-expression dataset in its official layout (CASME II, SAMM, SMIC-HS, MMEW) or "
            "the generic one (annotations.csv + frames/<subject>/<clip>/), crop and align the face on the "
            "onset frame, compute TV-L1 optical flow onset->apex and apex->offset, and write the four "
            "images per clip in the published composite layout that `causalnet train` reads. Resumable: "
            "clips whose four PNGs exist are skipped. See docs/preprocessing.md."
        ),
    )
    p.add_argument("--raw", required=True, metavar="DIR", help="the raw dataset folder")
    p.add_argument(
        "--format",
        required=True,
        choices=("casme2", "samm", "smic", "mmew", "generic"),
        help="layout of the raw folder",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (published composite layout)")
    p.add_argument(
        "--face",
        choices=("dlib", "none"),
        default="dlib",
        help="dlib: detect, landmark and align the face on the onset frame (default); "
        "none: frames are already cropped, aligned faces",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        metavar="N",
        help="side in pixels of the aligned face the flow is computed on (default 128)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel worker processes (default: the number of CPUs)",
    )
    p.add_argument(
        "--annotations",
        metavar="FILE",
        default=None,
        help="annotation spreadsheet (.xlsx/.csv); default: found by name under --raw",
    )
    p.add_argument(
        "--labels",
        choices=("megc3", "mmew5"),
        default="megc3",
        help="class scheme: megc3 = negative/positive/surprise (MEGC 2019, default); "
        "mmew5 = MMEW's five classes (disgust, fear, happiness, others, surprise)",
    )
    p.add_argument(
        "--apex",
        choices=("middle", "spot"),
        default="middle",
        help="for clips without an apex annotation (SMIC): the middle frame (default) or "
        "the apex spotted between onset and offset",
    )
    p.add_argument("--preset", default="default", help="PreprocessConfig preset: default | opencv (default: default)")
    add_set_option(p, "override PreprocessConfig fields, e.g. --set tvl1_warps=5 eye_row=0.32")
    p.add_argument(
        "--skip-unknown-labels",
        action="store_true",
        help="leave out clips whose emotion no label scheme knows (a typo such as 'hapiness'), with a warning "
        "listing each; by default they are an error naming the file and line",
    )
    p.add_argument("--overwrite", action="store_true", help="recompute clips whose images already exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def preprocess_config(args: argparse.Namespace) -> PreprocessConfig:
    """The PreprocessConfig of the parsed options (preset, then --set, then --face/--size)."""
    from causalnet.config import parse_key_values
    from causalnet.flow.config import PreprocessConfig

    cfg = PreprocessConfig.preset(args.preset).with_overrides(parse_key_values(args.set))
    direct = {"face_method": args.face}
    if args.size is not None:
        direct["face_size"] = args.size
    return dataclasses.replace(cfg, **direct)  # typed values: no string parsing ("none" stays "none")


def run(args: argparse.Namespace) -> int:
    """Build the dataset; print the summary. Exit code 1 when some clips failed (the rest is written)."""
    from causalnet.checks import check_option, check_output_dir, check_outputs_apart, workers_check
    from causalnet.data.builders import build_dataset, read_plan
    from causalnet.data.builders.emotions import class_names
    from causalnet.data.composite import CSV_NAME

    cfg = preprocess_config(args)
    check_option("--workers", args.workers, workers_check())
    check_output_dir(args.out, "--out")
    out = Path(args.out)
    check_outputs_apart([("--out's clip list", out / CSV_NAME), ("--out's preprocess.json", out / "preprocess.json")],
                        [("--annotations", args.annotations), ("--raw", args.raw)])
    plan = read_plan(args.format, args.raw, annotations=args.annotations, scheme=args.labels,
                     skip_unknown_labels=args.skip_unknown_labels)
    print(
        f"{args.format}: {len(plan.clips)} clips to build, {len(plan.skipped)} left out "
        f"({args.raw} -> {args.out}; face {cfg.face_method}, {cfg.face_size} px, {args.workers} workers)"
    )
    report = build_dataset(
        plan,
        args.out,
        cfg,
        workers=args.workers,
        apex_method=args.apex,
        class_names=class_names(args.labels),
        progress=show_progress(args),
        overwrite=args.overwrite,
    )
    print(report.summary())
    if report.csv_path is not None:
        print(f"clip list: {report.csv_path}")
    if report.failed:
        print(f"{len(report.failed)} clip(s) failed; fix them and re-run (finished clips are skipped)")
        return 1
    return 0
