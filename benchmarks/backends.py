"""Side by side in one run: `causalnet train` on the same folds with the local pool, with Ray, and
(optionally) with an older checkout of the package — wall time and whether the predictions agree (issue 12).

Usage::

    python benchmarks/backends.py --data ../shared/data/composite --out runs/bench_backends \\
        [--subjects sub01,sub02,s01,006] [--old-src ../base/src] [--new-src src] [--rounds 1]

Every arm runs the README's command restricted to ``--subjects`` (default: four folds, two per worker on
the 2-core machine) in a fresh folder as a separate process, so each wall time includes Python start-up,
loading the data, starting the worker processes (or the local Ray instance) and writing the results —
the overheads that differ between arms. Arms alternate within each round (old, local, ray), so slow
drifts of the machine hit them alike. Printed: each arm's wall time per round, the ratios to ``local``,
and whether each arm's predictions (every column the two ``predictions.csv`` share: labels, predicted
classes, probabilities as written) equal local's.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLI = "from causalnet.cli import main; raise SystemExit(main())"


def run_arm(name: str, src: Path | None, extra: list[str], args: argparse.Namespace, out: Path) -> float:
    """One ``causalnet train`` in a fresh ``out``; its wall time in seconds."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    if src is not None:  # the other checkout's package, in this process and in its workers
        env["PYTHONPATH"] = str(src.resolve())
    cmd = [sys.executable, "-c", CLI, "train", "--data", args.data, "--preset", args.preset,
           "--subjects", args.subjects, "--out", str(out), "--no-progress", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"arm {name} failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return seconds


def same_predictions(a: Path, b: Path) -> bool:
    """Whether two ``predictions.csv`` agree on every row and every column they share."""
    def rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)

    (cols_a, rows_a), (cols_b, rows_b) = rows(a), rows(b)
    shared = [c for c in cols_a if c in cols_b]
    return len(rows_a) == len(rows_b) and all(
        [ra[c] for c in shared] == [rb[c] for c in shared] for ra, rb in zip(rows_a, rows_b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/composite")
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--subjects", default="sub01,sub02,s01,006", help="test folds (comma-separated)")
    ap.add_argument("--old-src", type=Path, default=None,
                    help="src/ folder of an older checkout to time against (e.g. a worktree of an earlier commit)")
    ap.add_argument("--new-src", type=Path, default=None,
                    help="src/ folder of the checkout timed as 'local' and 'ray' (default: the installed package)")
    ap.add_argument("--no-ray", action="store_true", help="leave out the Ray arm")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_backends"))
    args = ap.parse_args()

    workers = str(os.cpu_count() or 1)
    arms: list[tuple[str, Path | None, list[str]]] = []
    if args.old_src is not None:
        arms.append(("old", args.old_src, ["--workers", workers]))
    arms.append(("local", args.new_src, []))
    if not args.no_ray:
        arms.append(("ray", args.new_src, ["--backend", "ray"]))
    times: dict[str, list[float]] = {name: [] for name, _, _ in arms}
    print(f"folds {args.subjects} ({args.preset}), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for r in range(args.rounds):
        for name, src, extra in arms:
            times[name].append(run_arm(name, src, extra, args, args.out / f"{name}{r}"))
            print(f"round {r} {name:<6} {times[name][-1]:7.1f} s   (load average {os.getloadavg()[0]:.2f})",
                  flush=True)
    local = sum(times["local"]) / len(times["local"])
    print("\narm     mean wall   vs local   predictions.csv")
    for name, _, _ in arms:
        same = all(same_predictions(args.out / f"{name}{r}" / "predictions.csv",
                                    args.out / "local0" / "predictions.csv")
                   for r in range(args.rounds))
        mean = sum(times[name]) / len(times[name])
        print(f"{name:<6} {mean:9.1f} s   {mean / local:7.3f}   {'identical' if same else 'DIFFERENT'} to local")


if __name__ == "__main__":
    main()
