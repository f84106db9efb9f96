"""``causalnet sweep``: honest hyperparameter selection by nested leave-one-subject-out (see
:mod:`causalnet.train.sweep`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from causalnet.checks import (
    MAX_CANDIDATES,
    MAX_RUNS,
    MAX_TRAININGS_PER_FOLD,
    between,
    check_count,
    check_option,
    check_output_dir,
)
from causalnet.commands.options import (
    add_config_option,
    add_engine_options,
    add_set_option,
    backend_from_args,
    parse_subjects,
    show_progress,
)
from causalnet.eval.protocols import HONEST_PROTOCOLS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="nested LOSO hyperparameter sweep: candidates scored on held-out training subjects only",
        description="For every test subject and every candidate of the grid, train the candidate with member "
                    "validation on held-out training subjects; the candidate with the best inner score predicts the "
                    "test subject. Writes an honest run folder (predictions.csv, metrics.json, chosen.csv) and "
                    "candidates.md with every candidate's inner score and, labelled ORACLE, what choosing on the "
                    "test subjects would have given. Rerunning resumes per (candidate, fold).")
    p.add_argument("--data", required=True, help="folder in the published composite layout")
    p.add_argument("--preset", default="compact", help="base model + training preset (paper, compact, accurate)")
    p.add_argument("--model", default="causalnet", help="registered model name")
    p.add_argument("--grid", nargs="+", required=True, metavar="SCOPE.FIELD=V1,V2",
                   help="the grid: every combination is a candidate, e.g. model.gamma=0.3,0.5 train.epochs=20,40; "
                        "tuple fields with ';' (model.depths=3;3;9,2;3;9); or 'reference' for the reference tuning "
                        "grid (l1,l2 in {3,2} not both 2, l3 in 7..10, gamma in {0.3,0.4,0.5}: 36 candidates)")
    add_set_option(p, "override the base config (scopes: model, train)", dest="overrides",
                   metavar="SCOPE.FIELD=VALUE")
    p.add_argument("--epochs", type=int, help="override the base preset's number of epochs")
    p.add_argument("--protocol", choices=HONEST_PROTOCOLS,
                   help="how each chosen candidate's test prediction picks its epoch (default: the preset's)")
    p.add_argument("--inner-folds", type=int, metavar="K",
                   help="members per candidate, each validated on its own 1/K of the training subjects "
                        "(default: the preset's members when it validates them, else 3)")
    p.add_argument("--seed", type=int, help="base seed (default: the preset's)")
    p.add_argument("--runs", type=int, default=1, help="repeat with K seeds")
    p.add_argument("--subjects", help="comma-separated outer test subjects (default: all)")
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar (drawn only when stderr is a terminal)")
    add_engine_options(p)
    add_config_option(p, "sweep")
    p.set_defaults(func=run)


def grid_size(items: list[str]) -> int:
    """How many candidates ``--grid`` describes, counted from the text before any candidate is built
    (the product of each field's number of values; the reference grid has 36)."""
    from causalnet.train.sweep import REFERENCE_GRID, reference_grid

    if list(items) == [REFERENCE_GRID]:
        return len(reference_grid())
    size = 1
    for item in items:
        _key, _sep, values = item.partition("=")
        size *= max(1, sum(1 for v in values.split(",") if v.strip()))
    return size


def run(args: argparse.Namespace) -> int:
    from causalnet.commands.train import build_config
    from causalnet.data import load_composite
    from causalnet.eval import metrics_table
    from causalnet.train.sweep import SweepRun, parse_grid

    check_option("--runs", args.runs, between(1, MAX_RUNS))
    if args.inner_folds is not None:
        check_option("--inner-folds", args.inner_folds, between(2, 64))
    size = check_count({"--grid": grid_size(args.grid)}, MAX_CANDIDATES)
    check_count({"--grid": size, "--runs": args.runs}, MAX_TRAININGS_PER_FOLD)
    check_output_dir(args.out)
    base = build_config(args)
    candidates = parse_grid(args.grid)
    for cand in candidates:  # every candidate must be a valid config before any work starts
        base.with_overrides(cand.settings)
    subjects = parse_subjects(args.subjects)
    backend = backend_from_args(args)
    clips = load_composite(args.data, subjects=subjects)
    if clips.num_classes != base.model.num_classes:
        base = base.with_overrides({"model.num_classes": clips.num_classes})
    sweep = SweepRun(args.out, clips, base, candidates, inner_folds=args.inner_folds, runs=args.runs,
                     subjects=subjects)
    # sweep.notes (the base adapted to few subjects) are logged as warnings where they arise: not printed again
    print(f"sweep: {len(candidates)} candidates x {len(sweep.subjects)} folds x {args.runs} run(s) -> {args.out}")
    metrics = sweep.run(progress=show_progress(args), backend=backend, device=args.device)
    print(metrics_table(metrics))
    print()
    print((Path(args.out) / "candidates.md").read_text(encoding="utf-8"))
    print(f"sweep folder: {Path(args.out).resolve()}")
    return 0
