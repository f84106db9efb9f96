"""``causalnet demo``: the whole system on a synthetic benchmark, with no external data.

Generates a small synthetic benchmark (``SynthConfig`` preset ``demo``), preprocesses it exactly
as a raw dataset (``causalnet preprocess --format generic --face none``), runs leave-one-subject-out
training of the ``compact`` CausalNet under that preset's honest protocol (no test labels used),
and prints the metrics,
the per-class table and the confusion matrix. Layout of the output folder::

    raw/      the generated frames, annotations.csv, ground_truth.json
    of/       the four 28x28 images per clip, in the published composite layout
    run/      config.json, predictions.csv, metrics.json (as `causalnet train` writes them)
    demo.json the settings, the stage timings and the metrics
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from causalnet.commands.options import (
    add_device_option,
    add_num_subjects_option,
    add_set_option,
    num_subjects,
    show_progress,
)
from causalnet.folders import refuse_symlinks

if TYPE_CHECKING:
    from causalnet.synth import SynthConfig
    from causalnet.train import ExperimentConfig

DEFAULT_OUT = "causalnet-demo"
MARKER = "demo.json"
STAGES = ("raw", "of", "run")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="generate a synthetic benchmark, preprocess it, run LOSO with the compact model (~3 min)",
        description=(
            "One command that exercises the whole system without any dataset: synthetic faces and "
            "micro-expressions with exact key-frames -> face crop and TV-L1 optical flow -> LOSO training "
            "and evaluation of the compact CausalNet (honest protocol) -> per-class table and confusion "
            "matrix. See docs/synthetic.md for what is generated and how long it takes."
        ),
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder (default ./{DEFAULT_OUT}; a previous demo there is replaced)",
    )
    add_num_subjects_option(p, "subjects to generate (default: preset demo, 10)")
    p.add_argument(
        "--clips-per-subject",
        type=int,
        default=None,
        metavar="K",
        help="clips per subject (default: preset demo, 12)",
    )
    p.add_argument("--seed", type=int, default=None, metavar="S", help="generator seed (default 0)")
    p.add_argument("--size", type=int, default=None, metavar="PX", help="frame side in pixels (default 112)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="E",
        help="training epochs (default: the compact preset's)",
    )
    add_set_option(p, "override the compact experiment config, e.g. --set train.members=3 train.lr=1e-3")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel processes for every stage (default: the number of CPUs)",
    )
    add_device_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _prepare_out(out: Path) -> None:
    """Clear a previous demo in ``out``; refuse to touch a non-empty folder that is not a demo's."""
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(f"{out}: folder is not empty and holds no earlier demo; choose another --out")
    refuse_symlinks(out, "demo folder")  # the clean-up below never deletes through a link
    for stage in STAGES:
        if (out / stage).exists():
            shutil.rmtree(out / stage)
    out.mkdir(parents=True, exist_ok=True)


def _train_summary(train) -> str:
    """``5 members x 40 epochs`` (``members`` is absent from older training configs)."""
    members = getattr(train, "members", 1)
    return f"{members} members x {train.epochs} epochs" if members > 1 else f"{train.epochs} epochs"


def _configs(args: argparse.Namespace) -> tuple[SynthConfig, ExperimentConfig]:
    """The validated synthetic benchmark and experiment of the options (errors before any work)."""
    from causalnet.checks import check_option, check_output_dir, workers_check
    from causalnet.config import parse_key_values
    from causalnet.device import check_device
    from causalnet.synth import SynthConfig
    from causalnet.train import ExperimentConfig

    check_option("--workers", args.workers, workers_check())
    args.device = check_device(args.device)
    check_output_dir(args.out, "--out")
    overrides = {
        "n_subjects": num_subjects(args, "demo"),
        "clips_per_subject": args.clips_per_subject,
        "seed": args.seed,
        "image_size": args.size,
    }
    synth_cfg = SynthConfig.preset("demo").with_overrides(
        {k: v for k, v in overrides.items() if v is not None}
    )
    if synth_cfg.n_subjects < 2:
        raise ValueError("the demo needs at least 2 subjects (leave-one-subject-out)")
    experiment = ExperimentConfig.preset("compact")
    exp_overrides: dict[str, str | int] = dict(parse_key_values(args.set))
    if args.epochs is not None:
        exp_overrides["train.epochs"] = args.epochs
    if exp_overrides:
        experiment = experiment.with_overrides(exp_overrides)
    return synth_cfg, experiment


def _stage_printer(synth_cfg: SynthConfig, out: Path) -> Callable[[str], None]:
    """Prints the numbered line that opens each stage of the synthetic pipeline."""
    n_clips = synth_cfg.n_subjects * synth_cfg.clips_per_subject
    lines = {
        "generate": f"[1/3] generating {n_clips} synthetic clips of {synth_cfg.n_subjects} subjects "
                    f"({synth_cfg.image_size} px, {synth_cfg.fps:g} fps, seed {synth_cfg.seed}) -> {out / 'raw'}",
        "preprocess": f"[2/3] preprocessing: face crop (none: frames are aligned faces), TV-L1 flow onset->apex and "
                      f"apex->offset -> {out / 'of'}",
    }
    return lambda stage: print(lines[stage])


def _print_results(out: Path, record: dict, dataset: str) -> None:
    """The metrics, per-class table, confusion matrix, timings and where the files are."""
    import numpy as np

    from causalnet.data import CLASS_NAMES
    from causalnet.eval import confusion, confusion_table, metrics_table, per_class_table
    from causalnet.train import read_predictions

    rows = read_predictions(out / "run" / "predictions.csv")
    y = np.array([r["label"] for r in rows])
    p = np.array([r["pred"] for r in rows])
    print()
    print(metrics_table(record["metrics"], groups=(dataset,)))
    print()
    print(per_class_table(y, p, CLASS_NAMES))
    print()
    print("confusion matrix (rows: true class, columns: predicted):")
    print(confusion_table(confusion(y, p, len(CLASS_NAMES)), CLASS_NAMES))
    print()
    secs = record["seconds"]
    print(
        f"time: {secs['total']:.0f} s (generate {secs['generate']:.0f} s, "
        f"preprocess {secs['preprocess']:.0f} s, train {secs['train']:.0f} s); "
        f"chance UF1 is {1 / len(CLASS_NAMES):.2f}"
    )
    print(f"files: {out}")
    print(f"  raw frames + annotations: {out / 'raw'}")
    print(f"  optical-flow images:      {out / 'of'}")
    print(f"  run (predictions, metrics): {out / 'run'}   -> causalnet evaluate {out / 'run'} --confusion")


def run(args: argparse.Namespace) -> int:
    """Run the demo end to end; print the results and where the files are."""
    from causalnet.flow import PreprocessConfig
    from causalnet.io import write_json_atomic
    from causalnet.synth.pipeline import synthetic_benchmark
    from causalnet.train import run_experiment

    synth_cfg, experiment = _configs(args)
    prep_cfg = PreprocessConfig(face_method="none", face_size=synth_cfg.image_size)
    progress = show_progress(args)

    out = Path(args.out).resolve()
    _prepare_out(out)
    record = {
        "status": "running",
        "synth": synth_cfg.to_dict(),
        "experiment": experiment.to_dict(),
        "preprocess": prep_cfg.to_dict(),
        "workers": args.workers,
        "seconds": {},
    }
    write_json_atomic(out / MARKER, record)
    start = time.perf_counter()
    bench = synthetic_benchmark(synth_cfg, out / "raw", out / "of", prep_cfg, workers=args.workers,
                                progress=progress, on_stage=_stage_printer(synth_cfg, out))
    record["seconds"].update({stage: round(secs, 1) for stage, secs in bench.seconds.items()})

    print(
        f"[3/3] leave-one-subject-out: {len(bench.clips.subject_list())} folds, compact CausalNet "
        f"({_train_summary(experiment.train)}), protocol {experiment.protocol} -> {out / 'run'}"
    )
    t = time.perf_counter()
    metrics = run_experiment(bench.clips, experiment, out / "run", progress=progress, workers=args.workers,
                             device=args.device)
    record["seconds"]["train"] = round(time.perf_counter() - t, 1)
    record["seconds"]["total"] = round(time.perf_counter() - start, 1)
    record.update(status="done", metrics=metrics)
    write_json_atomic(out / MARKER, record)
    _print_results(out, record, synth_cfg.dataset)
    return 0
