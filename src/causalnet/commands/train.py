"""``causalnet train``, ``causalnet evaluate`` and ``causalnet models``: LOSO runs on data in the published layout."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from causalnet.checks import MAX_RUNS, between, check_option, check_output_dir, check_outputs_apart, check_replaceable
from causalnet.commands.options import (
    add_engine_options,
    add_set_option,
    backend_from_args,
    parse_subjects,
    show_progress,
)
from causalnet.eval.protocols import PROTOCOLS

log = logging.getLogger(__name__)

PROTOCOL_HELP = ("epoch selection: fixed (honest: final epoch), val (honest: each member's best epoch on its "
                 "held-out training subjects), oracle (selects on test subjects: optimistic)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="leave-one-subject-out training and evaluation",
                       description="Train and evaluate with leave-one-subject-out folds. Rerunning the same "
                                   "command on the same --out folder resumes: finished folds are skipped. "
                                   "--config RUN/config.json reruns a run: its data, experiment, runs and "
                                   "subjects, each overridden by the options given (docs/usage.md).")
    p.add_argument("--data", help="folder in the published composite layout (required unless --config gives it)")
    p.add_argument("--config", metavar="RUN/config.json",
                   help="rerun a run: data, experiment, runs and subjects from its config.json; options given "
                        "here override them (--out default: that run's folder, which resumes it)")
    p.add_argument("--preset", default=None,
                   help="model + training preset: paper, compact, accurate (compact fine-tuned from a sim-to-real "
                        "checkpoint built once, ~20 min, and cached; then stacked with a linear model) "
                        "(default: compact, or --config's experiment)")
    p.add_argument("--model", default=None,
                   help="registered model name (see `causalnet models`) (default: causalnet, or --config's)")
    p.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    p.add_argument("--protocol", choices=PROTOCOLS, help=PROTOCOL_HELP + ". Default: the preset's")
    p.add_argument("--seed", type=int, help="base seed (default: the preset's, 2025)")
    p.add_argument("--runs", type=int, default=None,
                   help="repeat with K seeds (seed, seed+1, ...); mean ± std (default: 1, or --config's)")
    p.add_argument("--subjects", help="comma-separated test subjects (default: all, or --config's); training uses "
                                      "all others")
    add_set_option(p, "override config fields, e.g. model.gamma=0.3 train.lr=1e-4 (scopes: model, train)",
                   dest="overrides", metavar="SCOPE.FIELD=VALUE")
    p.add_argument("--checkpoints", action="store_true", help="save each fold's final weights (safetensors)")
    p.add_argument("--save-features", action="store_true",
                   help="store each fold's pre-head features of its test clips (for `causalnet report`)")
    p.add_argument("--save-model", metavar="PATH",
                   help="instead of LOSO, train one model on all subjects and save it (safetensors + config)")
    p.add_argument("--objective", choices=("classify", "masked"), default="classify",
                   help="with --save-model: classify (the labels; default) or masked (self-supervised pretraining: "
                        "reconstruct hidden patches of every clip's images, labels unused; transductive when the "
                        "folder holds the test subjects; use the result with --set train.init=PATH)")
    p.add_argument("--out", help="run folder (required for LOSO)")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar (drawn only when stderr is a terminal)")
    add_engine_options(p)
    p.set_defaults(func=run_train)

    e = sub.add_parser("evaluate", help="recompute and print the metrics of a run folder")
    e.add_argument("run_dir", help="a folder written by `causalnet train` (or convert, sweep)")
    e.add_argument("--protocol", choices=PROTOCOLS,
                   help="re-select epochs under another protocol (needs the run's folds/ folder)")
    e.add_argument("--confusion", action="store_true", help="also print the confusion matrix and per-class table")
    e.set_defaults(func=run_evaluate)

    m = sub.add_parser("models", help="list registered models, their input views and presets",
                       description="List every registered model (the names --model and robustness --models take), "
                                   "the input view it reads and its config presets.")
    m.set_defaults(func=run_models)


#: Options that set a training field directly, and the field: ``--epochs`` and ``--set train.epochs`` both count.
DIRECT_OPTIONS = {"--epochs": ("epochs", "train.epochs"), "--seed": ("seed", "train.seed")}


def build_config(args: argparse.Namespace, stored: dict | None = None):
    """The experiment of ``--preset``/``--model`` (else ``stored``, the experiment of a ``config.json``, else
    the compact CausalNet), then ``--set``, ``--epochs``, ``--seed`` (typed), ``--protocol``.

    A field given both ways must be valid both ways and agree: ``--epochs`` never hides a bad
    ``--set train.epochs``.
    """
    from causalnet.config import parse_key_values
    from causalnet.train import ExperimentConfig

    if stored is not None and args.preset is None and args.model is None:
        cfg = ExperimentConfig.from_dict(stored)
    else:
        cfg = ExperimentConfig.preset(args.preset or "compact", model_name=args.model or "causalnet")
    overrides: dict[str, object] = dict(parse_key_values(args.overrides))
    for option, (attr, key) in DIRECT_OPTIONS.items():
        value = getattr(args, attr)
        if value is None:
            continue
        if key in overrides:  # each value checked alone first, so neither hides the other's error
            from_set = getattr(cfg.with_overrides({key: overrides[key]}).train, attr)
            if getattr(cfg.with_overrides({key: value}).train, attr) != from_set:
                raise ValueError(f"{option} {value} and --set {key}={overrides[key]} disagree; give one of them")
        overrides[key] = value
    return cfg.with_overrides(overrides, protocol=args.protocol)


def stored_run(path: str | Path) -> tuple[Path, dict]:
    """``--config``: the ``config.json`` of a ``causalnet train`` run (a run folder names its own), and its record."""
    from causalnet.io import read_json

    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("experiment"), dict) or not record.get("data"):
        raise ValueError(f"{path}: --config needs the config.json of a `causalnet train` run (with an experiment "
                         "and its data)")
    if record.get("kind", "train") != "train":
        raise ValueError(f"{path}: --config reruns `causalnet train` runs; this is a {record.get('kind')!r} run")
    return path, record


def run_train(args: argparse.Namespace) -> int:
    from causalnet.data import load_composite
    from causalnet.eval import metrics_table

    stored = None
    subjects = parse_subjects(args.subjects)
    if args.config:
        if args.save_model:
            raise ValueError("--config reruns a LOSO run; it does not combine with --save-model")
        path, record = stored_run(args.config)
        stored = record["experiment"]
        args.data = args.data or str(record["data"])
        args.runs = args.runs if args.runs is not None else int(record.get("runs") or 1)
        subjects = subjects if subjects is not None else (record.get("subjects") or None)
        args.out = args.out or str(path.parent)
    if not args.data:
        raise ValueError("--data DIR is required (or --config RUN/config.json, which names it)")
    args.runs = 1 if args.runs is None else args.runs
    check_option("--runs", args.runs, between(1, MAX_RUNS))
    cfg = build_config(args, stored)
    backend = backend_from_args(args)
    if args.objective != "classify" and not args.save_model:
        raise ValueError(f"--objective {args.objective} needs --save-model PATH (it pretrains one model)")
    if args.save_model:
        save_to = _check_model_path(args.save_model)
        check_outputs_apart([("--save-model", save_to)], data_inputs(args.data))
    elif not args.out:
        raise ValueError("--out RUN_DIR is required for a LOSO run")
    else:
        check_output_dir(args.out)
    clips = load_composite(args.data, subjects=subjects)
    if clips.num_classes != cfg.model.num_classes:  # e.g. a folder built with --labels mmew5
        cfg = cfg.with_overrides({"model.num_classes": clips.num_classes})
    if args.save_model:
        return _save_model(args, clips, cfg, save_to)
    from causalnet.train import LosoRun

    loso = LosoRun(args.out, clips, cfg, runs=args.runs, subjects=subjects, checkpoints=args.checkpoints,
                   features=args.save_features)
    # loso.notes (a preset adapted to few subjects) are logged as warnings where they arise: not printed again
    _note_pretraining(loso)
    metrics = loso.run(progress=show_progress(args), backend=backend, device=args.device)
    print(metrics_table(metrics))
    print(f"\nrun folder: {Path(args.out).resolve()} (config.json, predictions.csv, metrics.json, run.log)")
    return 0


def _note_pretraining(loso) -> None:
    """Say so before a run spends ~20 minutes building its sim-to-real checkpoint (``train.init=synthetic``)."""
    from causalnet.train.simtoreal import SYNTHETIC, default_checkpoint

    if loso.cfg.train.init == SYNTHETIC and loso.pending():
        path = default_checkpoint(loso.cfg.model_name, loso.cfg.model)
        if not path.is_file():
            print(f"note: train.init=synthetic: building the sim-to-real checkpoint first (synthetic clips, their "
                  f"flow, pretraining: ~20 min on 2 CPU cores, once) into {path}")


def data_inputs(data: str | Path) -> list[tuple[str, Path]]:
    """The files of a data folder a command reads (its clip list and ``preprocess.json``), for
    :func:`causalnet.checks.check_outputs_apart`."""
    from causalnet.data.composite import CSV_NAME

    return [("--data", Path(data)), ("--data's clip list", Path(data) / CSV_NAME),
            ("--data's preprocess.json", Path(data) / "preprocess.json")]


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a causalnet checkpoint (a safetensors file whose header holds our config)."""
    from causalnet.models import read_checkpoint_metadata

    try:
        read_checkpoint_metadata(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def check_model_output(path: str | Path, what: str) -> Path:
    """A checkpoint path to write: absent, or an earlier causalnet checkpoint (never another file)."""
    return check_replaceable(path, what, is_checkpoint, "causalnet checkpoint")


def _check_model_path(path: str) -> Path:
    """Refuse, before training, a --save-model path that cannot be written (a folder, a missing parent, a file
    that is not a causalnet checkpoint...)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--save-model {path}: is a folder; give a file name, e.g. {path / 'model.safetensors'}")
    check_model_output(path, "--save-model")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"--save-model {path}: {parent} is not a folder")
    parent.mkdir(parents=True, exist_ok=True)
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"--save-model {path}: cannot write to {parent} ({exc.strerror})") from None
    return path


def _save_model(args: argparse.Namespace, clips, cfg, path: Path) -> int:
    from tqdm.auto import tqdm

    from causalnet.io import read_json
    from causalnet.models import save_checkpoint
    from causalnet.train import train_all
    from causalnet.train.simtoreal import resolve_experiment

    progress = show_progress(args)
    resolved = resolve_experiment(cfg, progress=progress)  # train.init: a validated checkpoint path
    with tqdm(total=cfg.train.epochs, desc="train (all subjects)", unit="epoch", disable=not progress) as bar:
        model = train_all(clips, resolved, on_epoch=lambda _: bar.update(1), device=args.device,
                          objective=args.objective)
    # the data folder's name only: a checkpoint travels, the machine's paths stay behind
    extra = {"class_names": list(clips.class_names), "data": Path(clips.root).name, "train": cfg.train.to_dict(),
             "clips": len(clips), "objective": args.objective}
    made_by = Path(clips.root) / "preprocess.json"  # written by `causalnet preprocess`
    if made_by.is_file():
        extra["preprocess"] = read_json(made_by)["preprocess"]
        extra["preprocess_source"] = f"{made_by.name} of the training data (causalnet preprocess)"
    else:  # the published composite layout: the settings that reproduce its images (docs/preprocessing.md)
        from causalnet.flow.config import PreprocessConfig

        extra["preprocess"] = PreprocessConfig().to_dict()
        extra["preprocess_source"] = ("the published composite layout (no preprocess.json): causalnet preprocess's "
                                      "defaults, which reproduce its images' channels and direction maps; the face "
                                      "crop, size and interpolation are not recoverable (docs/preprocessing.md)")
    save_checkpoint(path, model, extra=extra)
    print(f"saved model trained on {len(clips)} clips to {path.resolve()}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from causalnet.eval import metrics_from_rows, metrics_table
    from causalnet.eval.report import benchmark_name
    from causalnet.io import read_json, write_json_atomic
    from causalnet.report.runs import open_run
    from causalnet.train import read_predictions

    run_dir = Path(args.run_dir)
    config = read_json(run_dir / "config.json")
    kind = open_run(run_dir).kind  # the one reading of a folder's kind (recorded, or from its files)
    if kind == "robustness":  # several models x conditions: never one pooled number
        return _evaluate_robustness(args, run_dir, config)
    protocol = (config.get("experiment") or {}).get("protocol") or config.get("protocol", "fixed")
    if kind == "sweep":  # the candidate is chosen per fold, then the protocol: what `causalnet sweep` printed
        if args.protocol:
            raise ValueError(f"{run_dir}: a sweep folder's result is nested ({_nested(protocol)}: a candidate "
                             "chosen per fold); --protocol cannot re-select it; see `causalnet report "
                             f"{run_dir.name}` for every candidate")
        protocol = _nested(protocol)
    reselect = bool(args.protocol and args.protocol != protocol)
    if reselect and protocol == "released":  # `causalnet convert`: one prediction per clip, no epochs
        raise ValueError(f"{run_dir}: a run folder of released weights has no epochs to re-select")
    if reselect:
        if kind != "train":
            raise ValueError(f"{run_dir}: --protocol re-selection needs the per-epoch folds of a `causalnet train` "
                             f"run; this folder is a {kind!r} run")
        rows, protocol = _reselect(run_dir, config, args.protocol), args.protocol
    else:
        rows = read_predictions(run_dir / "predictions.csv")
    metrics = metrics_from_rows(rows, protocol)
    if config.get("missing_subjects"):  # `causalnet convert`: subjects without a released checkpoint
        metrics["missing_subjects"] = config["missing_subjects"]
    if not reselect:  # metrics.json always describes predictions.csv under the run's own protocol
        old = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
        write_json_atomic(run_dir / "metrics.json", {**old, **metrics})
    print(metrics_table(metrics, benchmark=benchmark_name((r["dataset"] for r in rows), config.get("data"))))
    if metrics.get("missing_subjects"):
        print(f"missing subjects (not evaluated): {', '.join(metrics['missing_subjects'])}")
    if args.confusion:
        _print_confusion(rows, _class_names(config))
    return 0


def _nested(protocol: str) -> str:
    return protocol if protocol.startswith("nested-") else f"nested-{protocol}"


def _class_names(config: dict) -> list[str]:
    from causalnet.data.composite import CLASS_NAMES, read_class_names

    if config.get("classes"):
        return [str(c) for c in config["classes"]]
    return list(read_class_names(config["data"]) if config.get("data") else CLASS_NAMES)


def _print_confusion(rows: list[dict], names: list[str]) -> None:
    import numpy as np

    from causalnet.eval import confusion, confusion_table, per_class_table
    from causalnet.eval.report import pooled_note

    y = np.array([r["label"] for r in rows])
    p = np.array([r["pred"] for r in rows])
    clips = len({(r["subject"], r["clip"]) for r in rows})
    print(f"\nconfusion matrix ({pooled_note(len({r['run'] for r in rows}), len(rows), clips)}):")
    print(confusion_table(confusion(y, p, len(names)), names))
    print()
    print(per_class_table(y, p, names))


def _evaluate_robustness(args: argparse.Namespace, run_dir: Path, config: dict) -> int:
    """A robustness folder per model and key-frame condition, each under the protocol its model used."""
    from causalnet.eval import metrics_from_rows
    from causalnet.eval.report import benchmark_name, condition_table, protocol_label
    from causalnet.io import read_json
    from causalnet.robustness.report import condition_label
    from causalnet.train import read_predictions

    if args.protocol:
        raise ValueError(f"{run_dir}: a robustness run holds several models and key-frame conditions, each under "
                         "its own honest protocol; --protocol cannot re-select them: see `causalnet evaluate "
                         f"{run_dir.name}` without it, or `causalnet report {run_dir.name}`")
    rows = read_predictions(run_dir / "predictions.csv")
    if not rows or "model" not in rows[0] or "condition" not in rows[0]:
        raise ValueError(f"{run_dir}: a robustness folder whose predictions.csv has no model and condition columns "
                         f"cannot be summarised honestly; use `causalnet report {run_dir.name}`")
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").is_file() else {}
    protocols = results.get("protocols") or {}
    models = list(dict.fromkeys([*(results.get("models") or []), *(r["model"] for r in rows)]))
    conditions = list(dict.fromkeys([*(results.get("conditions") or []), *(r["condition"] for r in rows)]))
    benchmark = benchmark_name(r["dataset"] for r in rows)
    print(f"robustness run {run_dir.name}: {len(models)} model(s) x {len(conditions)} key-frame condition(s), each "
          f"evaluated on its own (UF1/UAR/ACC in % of all {benchmark} test clips; nothing pooled across models or "
          f"conditions). Figures and per-dataset tables: causalnet report {run_dir.name}")
    names = _class_names(config)
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        protocol = protocols.get(model, "?")
        per_condition = {c: metrics_from_rows([r for r in mine if r["condition"] == c], protocol)
                         for c in conditions if any(r["condition"] == c for r in mine)}
        runs = max(m["runs"] for m in per_condition.values())
        spread = f"mean ± std over {runs} runs" if runs > 1 else "one run"
        print(f"\nmodel {model}: protocol {protocol_label(protocol)}; {spread}")
        print(condition_table(per_condition, {c: condition_label(c) for c in per_condition}))
        if args.confusion:
            for c in per_condition:
                print(f"\n{model}, {condition_label(c)}:", end="")
                _print_confusion([r for r in mine if r["condition"] == c], names)
    return 0


def _reselect(run_dir: Path, config: dict, protocol: str) -> list[dict]:
    from causalnet.data import load_composite
    from causalnet.train import ExperimentConfig, LosoRun

    cfg = ExperimentConfig.from_dict(config["experiment"])
    clips = load_composite(config["data"])
    loso = LosoRun(run_dir, clips, cfg, runs=config["runs"], subjects=config.get("subjects"))
    return loso.prediction_rows(protocol)


def run_models(args: argparse.Namespace) -> int:
    from causalnet.models import get_entry, input_view_of, list_models

    for name in list_models():
        entry, presets = get_entry(name), ", ".join(get_entry(name).config_cls.preset_names())
        print(f"{name:15s} view: {input_view_of(entry.model_cls):11s} presets: {presets}")
    from causalnet.models.shipped import DEFAULT_SHIPPED, USE, list_shipped

    print(f"\nshipped weights ({USE}; used by predict and analyze without --checkpoint):")
    for model in list_shipped():
        default = " (default)" if model.name == DEFAULT_SHIPPED else ""
        print(f"{model.name}{default}  {model.size / 1e6:.2f} MB  {model.path}\n  card: {model.card}")
    return 0
