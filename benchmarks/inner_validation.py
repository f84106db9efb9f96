"""Compare training settings on *training subjects only* (how the compact preset is chosen, issue 3).

Every candidate setting runs the same LOSO folds (a seeded random subset of test subjects) with
member validation: each of the 5 ensemble members holds out its own fifth of the *training*
subjects and is scored on them after every epoch. This script prints those inner validation
scores only. It never computes a test metric (no ``metrics.json`` or ``predictions.csv`` is
written), so choosing the setting with the best inner score is selection inside the training
subjects, as issue 3 asks.

Usage::

    python benchmarks/inner_validation.py --out runs/inner \\
        --candidate base= \\
        --candidate mirror="train.mirror=true train.mirror_tta=true"

Each ``--candidate NAME=SETTINGS`` adds ``--set``-style overrides to ``--preset`` (default compact);
folds are resumable per candidate (``OUT/NAME``). Printed per candidate: mean inner validation UF1
(over folds and members) at the final epoch and averaged over the last 5 epochs, the mean
validation loss at the final epoch, and the CPU-normalised wall time of its folds; with ``--baseline NAME``
also each candidate's paired difference to that one (per-fold differences: same folds, same seeds).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from causalnet.config import parse_key_values
from causalnet.data import load_composite
from causalnet.engine import FoldResult
from causalnet.train import ExperimentConfig, LosoRun


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/composite")
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--candidate", action="append", required=True, metavar="NAME=SETTINGS",
                    help="a named setting: space-separated KEY=VALUE overrides (empty = the preset)")
    ap.add_argument("--folds", type=int, default=16, help="test subjects drawn at random (their folds run)")
    ap.add_argument("--fold-seed", type=int, default=0, help="seed of that draw")
    ap.add_argument("--stride", type=int, default=1,
                    help="screening: run every STRIDE-th of the drawn folds (2: 8 of the 16, every dataset kept); "
                         "a later run with a smaller stride resumes the finished folds")
    ap.add_argument("--seed", type=int, help="base training seed (default: the preset's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/inner")
    ap.add_argument("--baseline", metavar="NAME",
                    help="also print each candidate's paired difference to this candidate (same folds, same seeds)")
    args = ap.parse_args()

    clips = load_composite(args.data)
    subjects = clips.subject_list()
    chosen = sorted(np.random.default_rng(args.fold_seed).choice(len(subjects), args.folds, replace=False))
    subjects = [subjects[i] for i in chosen][:: args.stride]
    print(f"{len(subjects)} folds (test subjects {', '.join(subjects)}); preset {args.preset}")
    print(f"{'candidate':<16} {'val UF1 final ± se':>18} {'val UF1 last5':>13} {'val NLL final':>13} {'wall':>8}")
    final: dict[str, np.ndarray] = {}  # candidate -> per-fold mean (over members) val UF1 at the final epoch
    for spec in args.candidate:
        name, _, settings = spec.partition("=")
        cfg = ExperimentConfig.preset(args.preset).with_overrides(parse_key_values(settings.split()))
        if args.seed is not None:
            cfg = cfg.with_overrides({"train.seed": args.seed})
        if not cfg.train.member_validation:
            raise SystemExit(f"candidate {name!r}: needs train.member_validation=true")
        run = LosoRun(Path(args.out) / name, clips, cfg, subjects=subjects, val_probs=True)
        start = time.perf_counter()
        run.train(workers=args.workers)
        wall = time.perf_counter() - start
        folds = [FoldResult.load(run.fold_path(0, s)) for s in subjects]
        uf1 = np.stack([f.val_uf1 for f in folds])  # [folds, members, epochs]
        nll = np.stack([f.val_nll for f in folds])
        final[name] = uf1[..., -1].mean(axis=1)
        se = final[name].std() / np.sqrt(len(folds))  # over folds
        print(f"{name:<16} {uf1[..., -1].mean():>7.4f}±{se:.4f} {uf1[..., -5:].mean():>13.4f} "
              f"{nll[..., -1].mean():>13.4f} {wall:>7.0f}s", flush=True)

    if args.baseline:
        if args.baseline not in final:
            raise SystemExit(f"--baseline {args.baseline!r} is not one of the candidates")
        print(f"\npaired difference to {args.baseline} (mean over folds ± s.e. of the per-fold differences):")
        for name, scores in final.items():
            if name != args.baseline:
                diff = scores - final[args.baseline]
                print(f"{name:<16} {diff.mean():+.4f} ± {diff.std() / np.sqrt(len(diff)):.4f}")


if __name__ == "__main__":
    main()
