"""Command-line options shared by the commands: the one ``--set`` syntax, ``--num-subjects``, progress bars,
and the options of the commands that train (train, robustness, sweep, demo) or predict.

Defaults use the machine: ``--workers`` defaults to one fold per CPU (each fold with one torch
thread), which measured fastest for the compact preset on the project's 2-core machine
(docs/scaling.md). Everything here is validated before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from causalnet.checks import between, check_option, check_ray_address, positive, workers_check
from causalnet.device import DEVICE_CHOICES
from causalnet.engine.backends import BACKENDS

if TYPE_CHECKING:
    from causalnet.flow.config import PreprocessConfig

__all__ = ["FACE_METHODS", "add_device_option", "add_engine_options", "add_face_options", "add_num_subjects_option",
           "add_set_option", "backend_from_args", "checkpoint_preprocess", "num_subjects", "parse_subjects",
           "show_progress"]

#: = causalnet.flow.config.FACE_METHODS (not imported: keeps --help fast; the command tests check they agree)
FACE_METHODS = ("dlib", "none")


def add_set_option(p: argparse.ArgumentParser | argparse._ArgumentGroup, help: str, *, dest: str = "set",
                   metavar: str = "KEY=VALUE") -> None:
    """``--set KEY=VALUE ...``, the one override syntax of every command: several values after one ``--set``
    and a repeated ``--set`` both work and add up (``--set a=1 b=2`` = ``--set a=1 --set b=2``)."""
    p.add_argument("--set", dest=dest, action="extend", nargs="+", default=[], metavar=metavar,
                   help=f"{help} (several after one --set, or --set repeated)")


def add_num_subjects_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--num-subjects N``: how many subjects to generate (``synth``, ``demo``). ``--subjects N`` is its old,
    deprecated spelling, still accepted (a warning, :func:`num_subjects`): elsewhere ``--subjects`` names
    subject ids (train, sweep, robustness, spot-eval)."""
    p.add_argument("--num-subjects", type=int, default=None, metavar="N", help=help)
    p.add_argument("--subjects", dest="subjects_count", type=int, default=None, metavar="N",
                   help="deprecated spelling of --num-subjects (elsewhere --subjects names subject ids)")


def num_subjects(args: argparse.Namespace, command: str) -> int | None:
    """The ``--num-subjects`` of the options (None: not given), with one warning on stderr when the old
    spelling ``--subjects N`` was used; both spellings with different counts are an error."""
    old = getattr(args, "subjects_count", None)
    if old is None:
        return args.num_subjects
    if args.num_subjects is not None and args.num_subjects != old:
        raise ValueError(f"--num-subjects {args.num_subjects} and --subjects {old} disagree; give --num-subjects")
    print(f"causalnet {command}: warning: --subjects N is deprecated here, use --num-subjects N "
          "(--subjects names subject ids in train, sweep, robustness and spot-eval)", file=sys.stderr)
    args.num_subjects, args.subjects_count = old, None  # warned once: later calls read --num-subjects
    return old


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: unless ``--no-progress``, and only when stderr is a terminal (a
    redirected stderr gets no bars; ``-v`` shows a log line per finished fold instead)."""
    if getattr(args, "no_progress", False):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def add_device_option(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "folds train") -> None:
    """``--device auto|cpu|cuda|cuda:N`` (default ``auto``); ``what`` completes "where the ... "."""
    p.add_argument("--device", default="auto", metavar="DEV",
                   help=f"where the {what}: {'|'.join(DEVICE_CHOICES)}|cuda:N "
                        "(default auto: CUDA when a GPU is visible, else the CPU)")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--device``, ``--backend``, ``--workers``, ``--ray-address``, ``--cpus-per-fold``, ``--gpus-per-fold``."""
    g = p.add_argument_group("where folds run")
    add_device_option(g)
    g.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local: processes on this machine (default); ray: tasks on a Ray cluster")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="--backend local: folds trained at a time (default: one per CPU; 1 = in this process)")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="--backend ray: 'auto' or HOST:PORT of a running cluster (default: start a local Ray)")
    g.add_argument("--cpus-per-fold", type=float, default=1.0, metavar="C",
                   help="--backend ray: CPUs each fold task asks for (default 1)")
    g.add_argument("--gpus-per-fold", type=float, default=0.0, metavar="G",
                   help="--backend ray: GPUs each fold task asks for, e.g. 0.25 lets four folds share a GPU")


def backend_from_args(args: argparse.Namespace):
    """The backend the options describe (validated: a clear error before any work)."""
    from causalnet.engine import make_backend

    if args.ray_address is not None:  # a malformed address is named before any run folder exists
        check_ray_address(args.ray_address)
    check_option("--cpus-per-fold", args.cpus_per_fold, positive(hi=1024), float)
    check_option("--gpus-per-fold", args.gpus_per_fold, between(0, 64), float)
    if args.backend == "local" and (args.ray_address or args.gpus_per_fold):
        raise ValueError("--ray-address and --gpus-per-fold apply to --backend ray")
    if args.backend == "ray" and args.workers is not None:
        raise ValueError("--workers applies to --backend local; with --backend ray use --cpus-per-fold")
    if args.workers is not None:
        check_option("--workers", args.workers, workers_check())
    if not args.ray_address:  # folds run here: the device must exist here (a cluster checks its own)
        from causalnet.device import check_device

        args.device = check_device(args.device)
    return make_backend(args.backend, workers=args.workers, ray_address=args.ray_address,
                        cpus_per_fold=args.cpus_per_fold, gpus_per_fold=args.gpus_per_fold)


def parse_subjects(text: str | None) -> list[str] | None:
    """``--subjects a,b,c`` → ``["a", "b", "c"]``; None when not given; an error when given but empty."""
    if text is None:
        return None
    subjects = [s.strip() for s in text.split(",") if s.strip()]
    if not subjects:
        raise ValueError(f"--subjects {text!r} names no subject (omit the option to test every subject)")
    return list(dict.fromkeys(subjects))


def add_face_options(p: argparse.ArgumentParser, dlib: str) -> None:
    """``--face dlib|none`` and ``--size PX``, both defaulting to the checkpoint's preprocessing
    (:func:`checkpoint_preprocess`); ``dlib`` says what the dlib method does for the command."""
    p.add_argument("--face", choices=FACE_METHODS, default=None,
                   help=f"dlib: {dlib}; none: frames are already cropped, aligned faces "
                        "(default: what the checkpoint's training data used, else dlib)")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="aligned face size in pixels (default: the checkpoint's, else 128)")


def checkpoint_preprocess(extra: dict, face: str | None, size: int | None) -> PreprocessConfig:
    """The preprocessing a checkpoint's training data used (``extra["preprocess"]``, stored by ``causalnet
    train --save-model``; the defaults when absent), with ``--face`` / ``--size`` overriding it when given."""
    import dataclasses

    from causalnet.flow.config import PreprocessConfig

    stored = extra.get("preprocess")
    cfg = PreprocessConfig.from_dict(stored) if isinstance(stored, dict) else PreprocessConfig()
    overrides = {}
    if face is not None:
        overrides["face_method"] = face
    if size is not None:
        overrides["face_size"] = size
    return dataclasses.replace(cfg, **overrides)  # typed values: no string parsing ("none" stays "none")


#: commands rerun from a run folder's ``config.json`` by replaying the command line it records
#: (``causalnet train --config`` rebuilds its run from the stored experiment instead).
REPLAYED = ("sweep", "robustness", "convert")


def add_config_option(p: argparse.ArgumentParser, command: str) -> None:
    """``--config RUN/config.json`` of a replayed command (it is consumed by :func:`replay_config`)."""
    p.add_argument("--config", metavar="RUN/config.json",
                   help=f"rerun a `causalnet {command}` run: its recorded command line, replayed (relative paths from "
                        "the folder it ran in); options given here are applied after it and win, e.g. --out NEW")


def replay_config(argv: list[str]) -> list[str]:
    """``[command, ..., --config RUN/config.json, ...]`` → the command line that ``config.json`` records for
    ``command`` (``provenance.command``), with its relative paths taken from the folder it ran in, followed by
    the options given now (argparse keeps the last value of an option; ``--set`` values add up, later ones
    win). Other command lines are returned unchanged. A ``ValueError`` names the file when it records no
    such command."""
    if not argv or argv[0] not in REPLAYED or not any(a == "--config" or a.startswith("--config=") for a in argv):
        return argv
    from pathlib import Path

    from causalnet.io import read_json

    rest, path = [], None
    it = iter(argv[1:])
    for arg in it:
        if arg == "--config":
            path = next(it, None)
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if not path:
        raise ValueError("--config needs RUN/config.json (or the run folder)")
    file = Path(path) / "config.json" if Path(path).is_dir() else Path(path)
    record = read_json(file)
    stored = (record.get("provenance") or {}) if isinstance(record, dict) else {}
    command, cwd = stored.get("command"), stored.get("cwd")
    if not isinstance(command, list) or len(command) < 2 or command[1] != argv[0]:
        raise ValueError(f"{file}: records no `causalnet {argv[0]}` command line to rerun "
                         f"(found {' '.join(map(str, command[:2])) if isinstance(command, list) else 'none'})")
    base = Path(cwd) if isinstance(cwd, str) and Path(cwd).is_dir() else None

    def absolute(token: str) -> str:  # a relative path of the recorded command, read from where it ran
        if base is None or token.startswith("-") or Path(token).is_absolute() or not (base / token).exists():
            return token
        return str((base / token).resolve())

    # (a recorded command line never holds --config: what is recorded is the replayed one)
    return [argv[0], *(absolute(str(t)) for t in command[2:]), *rest]

