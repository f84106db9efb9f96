"""Inner validation of stacking (``train.stack=linear``) on finished inner-validation folders, post hoc.

``benchmarks/inner_validation.py`` stores every member's per-epoch predictions of its validation
subjects (training subjects it did not see). This script re-applies :func:`causalnet.train.stacking.stack_fold`
to those predictions — the linear model on the flow pixels is fitted per member on the member's
training rows, the mixing weight of each member's validation rows on the *other* members' rows — and
prints the members' final-epoch validation UF1 of the deep model alone, the linear model alone and the
stacked mixture, with the paired difference (stacked − deep). No test subject is scored: the test
subjects' rows are not read.

With ``--with OTHER`` (another candidate folder of the same inner validation: same folds, same member
splits) it also scores a two-model ensemble: each member's stacked predictions averaged with the final-epoch
predictions of the other folder's member on the same validation rows (issue 16, lever 4: a more diverse
ensemble), with the paired difference to the stacked predictions alone.

Usage::

    python benchmarks/stacking.py runs/inner16/v2 [--c 0.01 0.1 1] [--with runs/inner16/other]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from causalnet.data import load_composite
from causalnet.engine import FoldKey, FoldResult
from causalnet.eval.protocols import validation_scores
from causalnet.io import read_json
from causalnet.train import ExperimentConfig, LosoRun
from causalnet.train.stacking import LINEAR_C, stack_fold


def fold_scores(run: LosoRun, subject: str, c: float,
                other: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], np.ndarray]:
    """Per member final-epoch validation UF1: deep, linear, stacked; the members' weights; and the stacked
    predictions averaged with those of ``other``'s member (NaN without ``other``)."""
    job = run.make_job(FoldKey("", 0, subject))
    fold = FoldResult.load(run.fold_path(0, subject))
    if fold.val_probs is None:
        raise SystemExit(f"{run.fold_path(0, subject)}: no validation predictions (rerun inner_validation.py)")
    n = job.n_test
    sizes = [len(e) - n for e in job.eval_sets]
    history = [np.concatenate([fold.probs[k], fold.val_probs[k][:, :sizes[k]]], axis=1) for k in range(len(sizes))]
    stacked, facts = stack_fold(history, job.x, job.y, job.train_sets, job.eval_sets, n, job.num_classes,
                                job.variants, seed=job.seed, c=c)
    partner = FoldResult.load(Path(other) / "folds" / "run0" / run.fold_path(0, subject).name) if other else None
    deep, lin, mix, pair = [], [], [], []
    for k, size in enumerate(sizes):
        labels = job.y[fold.val_rows[k][:size]]
        deep.append(fold.val_uf1[k, -1])
        lin.append(validation_scores(facts["linear_val"][k][None], labels)[0][0])
        mix.append(validation_scores(stacked[k][-1:, n:], labels)[0][0])
        if partner is None:
            pair.append(np.nan)
            continue
        if not np.array_equal(partner.val_rows[k][:size], fold.val_rows[k][:size]):
            raise SystemExit(f"{other}: member {k} of fold {subject} validated on other rows; not comparable")
        both = (stacked[k][-1, n:] + partner.val_probs[k][-1][:size]) / 2
        pair.append(validation_scores(both[None], labels)[0][0])
    return np.array(deep), np.array(lin), np.array(mix), facts["val_weights"], np.array(pair)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="an inner-validation candidate folder (OUT/NAME)")
    ap.add_argument("--c", type=float, nargs="+", default=[LINEAR_C], help="logistic regression C values to try")
    ap.add_argument("--with", dest="other", type=Path,
                    help="another candidate folder: also score the stacked members averaged with its members")
    args = ap.parse_args()
    record = read_json(Path(args.folder) / "config.json")
    cfg = ExperimentConfig.from_dict(record["experiment"])
    clips = load_composite(record["data"])
    run = LosoRun(args.folder, clips, cfg, subjects=record["subjects"])
    print(f"{args.folder}: {len(run.subjects)} folds")
    print(f"{'C':>6} {'deep':>7} {'linear':>7} {'stacked':>8} {'stacked-deep ± se':>18} {'mean w':>7}")
    for c in args.c:
        scores = [fold_scores(run, s, c, args.other) for s in run.subjects]
        deep, lin, mix, pair = (np.stack([f[i] for f in scores]) for i in (0, 1, 2, 4))
        weights = np.mean([f[3] for f in scores])
        diff = (mix - deep).mean(axis=1)
        print(f"{c:>6g} {deep.mean():>7.4f} {lin.mean():>7.4f} {mix.mean():>8.4f} "
              f"{diff.mean():>+10.4f}±{diff.std() / np.sqrt(len(diff)):.4f} {weights:>7.2f}", flush=True)
        if args.other:
            gain = (pair - mix).mean(axis=1)
            print(f"{'':>6} stacked averaged with {args.other}: {pair.mean():.4f}, paired difference to stacked "
                  f"{gain.mean():+.4f} ± {gain.std() / np.sqrt(len(gain)):.4f}", flush=True)


if __name__ == "__main__":
    main()
