"""Training cost of composite folds: this checkout against a baseline commit, side by side in one run (issue 33).

Usage::

    python benchmarks/fold_speed.py --data ../shared/data/composite [--subjects sub01,s01,006]
        [--baseline 56c1c1a] [--preset compact] [--epochs N] [--threads 1] [--rounds 1]
        [--set KEY=VALUE ...] [--set-current KEY=VALUE ...] [--warm-process]

The baseline commit is checked out into a temporary ``git worktree``; every fold runs in a fresh process
(``--worker``) with the baseline's or this checkout's ``src`` first on ``PYTHONPATH``, one after the other and
alternating (baseline, current, baseline, current, ...) so that a change in the machine's load falls on both
alike. Each fold is built exactly as ``causalnet train`` builds it (``LosoRun.make_job``) and run with
``--threads`` torch threads (1 = what each of the two default workers gets). Printed per fold and in total:
CPU-seconds (user + system of the process, start-up excluded), wall seconds, their ratio baseline/current, and
whether the fold's outputs (test and validation probabilities, validation scores) are **bit-identical**.

The default baseline ``56c1c1a`` is main before the issue 33 work (2026-12-07).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = "56c1c1a"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(args: argparse.Namespace) -> None:
    """Run one fold in this process and print a JSON line: timing and a digest of the outputs."""
    import numpy as np
    import torch
    from fold_profile import build_job  # this script's folder; causalnet itself from the tree on PYTHONPATH

    from causalnet.train.fold import run_fold

    torch.set_num_threads(args.threads)
    job = build_job(args.data, args.subject, args.preset, args.epochs, args.set, args.threads)
    if args.warm_process:  # a LOSO worker's later folds: the process has run a fold (compiled functions cached)
        run_fold(build_job(args.data, args.subject, args.preset, 1, args.set, args.threads))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    outcome = run_fold(job)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    result = outcome.result
    digest = hashlib.sha256()
    for array in (result.probs, result.val_uf1, result.val_nll, result.val_probs):
        if array is not None:
            digest.update(np.ascontiguousarray(array).tobytes())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(args.save, probs=result.probs, val_uf1=result.val_uf1,
             **({"val_probs": result.val_probs} if result.val_probs is not None else {}))
    print(json.dumps({"wall": wall, "cpu": cpu, "digest": digest.hexdigest(), "peak_mib": peak_mib}))


def _difference(a: str, b: str) -> str:
    """How two folds' saved outputs differ: the largest probability difference, validation-UF1 entries that moved."""
    import numpy as np

    x, y = np.load(a), np.load(b)
    probs = max(float(np.nanmax(np.abs(x[k] - y[k]))) for k in ("probs", "val_probs") if k in x)
    moved = int((~np.isclose(x["val_uf1"], y["val_uf1"], rtol=0, atol=0, equal_nan=True)).sum())
    return f"max |diff| of probabilities {probs:.1e}; {moved} of {x['val_uf1'].size} validation UF1s moved"


def _run(tree: Path, args: argparse.Namespace, subject: str, save: Path, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", str(Path(args.data).resolve()),
           "--subject", subject, "--preset", args.preset, "--threads", str(args.threads), "--save", str(save),
           "--set", *args.set, *extra] + (["--warm-process"] if args.warm_process else [])
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    if out.returncode:
        raise SystemExit(f"fold {subject} failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/composite")
    p.add_argument("--subjects", default="sub01,s01,006", help="test subjects, comma-separated")
    p.add_argument("--subject", default="sub01", help=argparse.SUPPRESS)
    p.add_argument("--baseline", default=BASELINE, help="git revision to compare with (default: %(default)s)")
    p.add_argument("--preset", default="compact")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1, help="times each fold runs in each tree")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="settings of both trees' folds")
    p.add_argument("--set-current", nargs="*", default=[], metavar="KEY=VALUE",
                   help="settings of this checkout's folds only (e.g. train.compile=true, a field the baseline lacks)")
    p.add_argument("--warm-process", action="store_true",
                   help="time each fold after a 1-epoch fold in the same process (a LOSO worker's later folds: "
                        "start-up and compilation paid)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--save", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    cpu_model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "?")
    with tempfile.TemporaryDirectory(prefix="fold-speed-") as tmp:
        base_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base_tree), args.baseline],
                       check=True, capture_output=True)
        try:
            commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()
            dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                                        capture_output=True, text=True).stdout.strip())
            print(f"{cpu_model} ({platform.machine()}, {os.cpu_count()} CPUs); preset {args.preset}"
                  f"{f', {args.epochs} epochs' if args.epochs else ''}; {args.threads} thread(s) per fold; baseline "
                  f"{args.baseline}, current {commit}{' + uncommitted changes' if dirty else ''}"
                  f"{f' with {args.set_current}' if args.set_current else ''}"
                  f"{'; each fold timed after a 1-epoch fold in its process' if args.warm_process else ''}")
            print(f"{'subject':8s} {'base CPU-s':>10s} {'new CPU-s':>10s} {'ratio':>6s} {'base wall':>9s} "
                  f"{'new wall':>9s} {'new peak MiB':>12s}  outputs")
            totals = {"base": 0.0, "new": 0.0, "base_wall": 0.0, "new_wall": 0.0}
            identical = True
            for subject in [s.strip() for s in args.subjects.split(",") if s.strip()]:
                for _ in range(args.rounds):
                    base = _run(base_tree, args, subject, Path(tmp) / "base.npz", [])
                    new = _run(REPO, args, subject, Path(tmp) / "new.npz", args.set_current)
                    same = base["digest"] == new["digest"]
                    identical &= same
                    totals["base"] += base["cpu"]
                    totals["new"] += new["cpu"]
                    totals["base_wall"] += base["wall"]
                    totals["new_wall"] += new["wall"]
                    print(f"{subject:8s} {base['cpu']:10.1f} {new['cpu']:10.1f} {base['cpu'] / new['cpu']:6.2f} "
                          f"{base['wall']:9.1f} {new['wall']:9.1f} {new['peak_mib']:12.0f}  "
                          + ("bit-identical" if same else _difference(str(Path(tmp) / "base.npz"),
                                                                      str(Path(tmp) / "new.npz"))),
                          flush=True)
            print(f"{'total':8s} {totals['base']:10.1f} {totals['new']:10.1f} {totals['base'] / totals['new']:6.2f} "
                  f"{totals['base_wall']:9.1f} {totals['new_wall']:9.1f}")
            print("all folds bit-identical" if identical else "outputs differ from the baseline")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)],
                           capture_output=True)


if __name__ == "__main__":
    main()
