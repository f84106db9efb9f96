"""``causalnet robustness``: accuracy under key-frame errors and automatic spotting (paper Table 4)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from causalnet.checks import check_output_dir
from causalnet.commands.options import (
    add_config_option,
    add_engine_options,
    add_set_option,
    backend_from_args,
    parse_subjects,
    show_progress,
)
from causalnet.data.builders import APEX_METHODS, FORMATS
from causalnet.data.builders.emotions import LABEL_SCHEMES
from causalnet.eval.protocols import HONEST_PROTOCOLS
from causalnet.flow.config import FACE_METHODS

log = logging.getLogger(__name__)

#: ``--set`` scopes besides registered model names.
SET_SCOPES = ("train", "model", "robustness", "preprocess")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``robustness`` sub-command."""
    p = subparsers.add_parser(
        "robustness",
        help="LOSO accuracy of several models under key-frame errors (sigma) and apex spotting",
        description=(
            "Read a raw dataset (frames + annotations), train every model once per leave-one-subject-out "
            "fold on inputs from the annotated key-frames, and test it on inputs re-derived from key-frames "
            "perturbed with Gaussian errors of each sigma (frames at 200 fps; scaled with the frame rate) "
            "and, with --spotting, from the automatically spotted apex. Writes table.md (UF1/UAR per model "
            "and condition), uf1_vs_sigma.png, predictions.csv and results.json. Model specs may append "
            "+jitter (key-frame jitter augmentation in training) and +tta or +ttaconf (test-time key-frame "
            "ensembling, mean or confidence-weighted). "
            "Flow images are cached per frame pair; rerunning resumes finished folds. See docs/robustness.md."
        ),
    )
    p.add_argument("--raw", required=True, metavar="DIR", help="the raw dataset folder")
    p.add_argument("--format", required=True, choices=tuple(FORMATS),
                   help="layout of the raw folder (as `causalnet preprocess`)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (cache, folds, tables, plot)")
    p.add_argument("--models", default="causalnet,htnet,offapexnet", metavar="SPECS",
                   help="comma-separated model specs: a registered model (see `causalnet models`) "
                        "with optional +jitter and/or +tta|+ttaconf, e.g. causalnet,causalnet+jitter+ttaconf,htnet "
                        "(default: %(default)s)")
    p.add_argument("--sigmas", default="0,10,20,30", metavar="LIST",
                   help="key-frame error levels in frames at 200 fps (default: %(default)s)")
    p.add_argument("--spotting", action="store_true",
                   help="also test with key-frames from the LBP apex spotter (apex -/+ 25 frames at 200 fps)")
    p.add_argument("--runs", type=int, default=1,
                   help="repetitions (training seed and key-frame noise per run) (default: %(default)s)")
    p.add_argument("--noise-seed", type=int, default=0,
                   help="base seed of the key-frame errors (run r: seed + r) (default: %(default)s)")
    p.add_argument("--preset", default="compact",
                   help="model + training preset of every model (compact, paper) (default: %(default)s)")
    p.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    p.add_argument("--protocol", choices=HONEST_PROTOCOLS,
                   help="honest epoch selection (default: the preset's; the oracle protocol is not offered)")
    add_set_option(p, dest="overrides", metavar="SCOPE.FIELD=VALUE",
                   help="overrides: train.<field> (every model), model.<field> (every model), <model>.<field> "
                        "(one model's config, e.g. causalnet.gamma=0.3), robustness.<field> (e.g. "
                        "robustness.tta_k=4), preprocess.<field> (e.g. preprocess.tvl1_warps=5)")
    p.add_argument("--face", choices=FACE_METHODS, default="dlib",
                   help="dlib: detect and align the face on the onset frame (default); none: frames are faces")
    p.add_argument("--size", type=int, metavar="N",
                   help="side of the aligned face the flow is computed on (default 128)")
    p.add_argument("--annotations", metavar="FILE", help="annotation spreadsheet (default: found under --raw)")
    p.add_argument("--labels", choices=tuple(LABEL_SCHEMES), default="megc3", help="class scheme (default megc3)")
    p.add_argument("--apex", choices=APEX_METHODS, default="middle",
                   help="apex of clips without an apex annotation (SMIC): middle frame or spotted")
    p.add_argument("--subjects", help="comma-separated test subjects (default: all); training uses all others")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_options(p)
    add_config_option(p, "robustness")
    p.set_defaults(func=run)


def _parse_list(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{what} expects comma-separated numbers, got {text!r}") from None


def _scoped_overrides(items: list[str], models: list[str]) -> dict[str, dict[str, str]]:
    """``--set`` items grouped by scope (``train``, ``model``, ``robustness``, ``preprocess``, a model name)."""
    from causalnet.config import parse_key_values, split_scopes
    from causalnet.flow.config import PreprocessConfig
    from causalnet.models import get_entry
    from causalnet.robustness import RobustnessConfig
    from causalnet.train import TrainConfig

    scopes = {"train": TrainConfig, "model": None, "robustness": RobustnessConfig, "preprocess": PreprocessConfig,
              **{name: get_entry(name).config_cls for name in models}}
    return split_scopes(parse_key_values(items), scopes)


def build_experiments(args: argparse.Namespace, models: list[str], num_classes: int,
                      scopes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One ExperimentConfig per registered model: the preset, then the overrides."""
    from causalnet.train import ExperimentConfig

    experiments = {}
    for name in models:
        cfg = ExperimentConfig.preset(args.preset, model_name=name)
        over: dict[str, Any] = {f"train.{k}": v for k, v in scopes.get("train", {}).items()}
        over |= {f"model.{k}": v for k, v in {**scopes.get("model", {}), **scopes.get(name, {})}.items()}
        if args.epochs is not None:
            over["train.epochs"] = args.epochs
        if getattr(cfg.model, "num_classes", num_classes) != num_classes:
            over["model.num_classes"] = num_classes
        cfg = cfg.with_overrides(over, protocol=args.protocol)
        if cfg.train.mirror or cfg.train.mirror_tta:
            # the engine's training variants carry key-frame jitter; mirroring is not combined with them
            log.info("%s: train.mirror and train.mirror_tta are not used by the robustness engine: switched off",
                     name)
            cfg = cfg.with_overrides({"train.mirror": False, "train.mirror_tta": False})
        experiments[name] = cfg
    return experiments


def _preprocess_config(args: argparse.Namespace, overrides: dict[str, str]):
    from causalnet.flow.config import PreprocessConfig

    cfg = PreprocessConfig().with_overrides(overrides)
    direct: dict[str, Any] = {"face_method": args.face}
    if args.size is not None:
        direct["face_size"] = args.size
    return dataclasses.replace(cfg, **direct)


def run(args: argparse.Namespace) -> int:
    """Prepare the inputs, train the pending folds, print and write the tables."""
    from tqdm.auto import tqdm

    from causalnet.data.builders import class_names, read_plan
    from causalnet.data.builders.build import check_face_backend
    from causalnet.engine import available_cpus
    from causalnet.robustness import RobustnessConfig, RobustnessRun, clips_from_plan, parse_model_specs

    start = time.perf_counter()
    check_output_dir(args.out)
    backend = backend_from_args(args)
    workers = args.workers if args.workers is not None else available_cpus()
    specs = parse_model_specs(args.models)
    models = list(dict.fromkeys(s.name for s in specs))
    scopes = _scoped_overrides(args.overrides, models)
    rcfg = RobustnessConfig(sigmas=tuple(_parse_list(args.sigmas, "sigmas")), spotting=args.spotting,
                            runs=args.runs, noise_seed=args.noise_seed, apex_method=args.apex)
    rcfg = rcfg.with_overrides(scopes.get("robustness", {}))
    prep = _preprocess_config(args, scopes.get("preprocess", {}))
    names = class_names(args.labels)
    experiments = build_experiments(args, models, len(names), scopes)
    subjects = parse_subjects(args.subjects)

    plan = read_plan(args.format, args.raw, annotations=args.annotations, scheme=args.labels)
    clips, left_out = clips_from_plan(plan)
    if not clips:
        raise ValueError(f"{args.raw}: no clips to use ({len(left_out)} left out)")
    check_face_backend(prep)
    run_ = RobustnessRun(args.out, clips, prep, rcfg, specs, experiments, names, subjects)
    progress = show_progress(args)
    conditions = ", ".join(rcfg.conditions)
    print(f"{args.format}: {len(clips)} clips of {len({c.sub for c in clips})} subjects ({len(left_out)} left out); "
          f"models {', '.join(s.label for s in specs)}; conditions {conditions}; {rcfg.runs} run(s) -> {args.out}")

    with tqdm(total=len(clips), desc="inputs", unit="clip", disable=not progress, dynamic_ncols=True) as bar:
        report = run_.prepare(workers=workers, on_outcome=lambda _: bar.update(1))
    print(f"inputs: {report.clips} clips, {report.flows} flows computed in {report.seconds:.1f} s "
          f"(cache: {Path(args.out) / 'cache'}), {len(report.failed)} failed")
    for name, reason in report.failed[:20]:
        print(f"  failed {name}: {reason}")
    run_.write_config()

    train_start = time.perf_counter()
    trained = run_.train(progress=progress, backend=backend, device=args.device)
    train_seconds = time.perf_counter() - train_start
    results = run_.finish({"seconds": {"prepare": round(report.seconds, 1), "train": round(train_seconds, 1),
                                       "total": round(time.perf_counter() - start, 1)},
                           "folds_trained": trained})
    print()
    print(results["table"])
    print(f"time: {time.perf_counter() - start:.0f} s (inputs {report.seconds:.0f} s, training {trained} folds "
          f"{train_seconds:.0f} s)")
    out = Path(args.out).resolve()
    print(f"files: {out / 'table.md'}, {out / 'uf1_vs_sigma.png'}, {out / 'results.json'}, {out / 'predictions.csv'}")
    return 1 if report.failed else 0
