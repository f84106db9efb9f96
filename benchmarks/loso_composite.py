"""Full composite LOSO with a preset: wall time, peak memory, and the honest vs oracle tables (issue 3).

Usage::

    python benchmarks/loso_composite.py --data ../shared/data/composite --preset compact \
        --out runs/bench_compact [--runs 1] [--workers 2] [--save-features]

Equivalent to ``causalnet train --data DATA --preset compact --out OUT [--device D] [--backend B]
[--save-features]`` followed by ``causalnet evaluate OUT --protocol oracle``, plus timing and memory.
Peak memory is the largest sum of the resident set sizes of this process and all its worker
processes, sampled every 0.2 s from /proc (Linux). The run folder is resumable; time only a fresh folder.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from causalnet.config import parse_key_values
from causalnet.data import load_composite
from causalnet.device import resolve_device
from causalnet.engine import make_backend
from causalnet.eval import metrics_table
from causalnet.train import ExperimentConfig, LosoRun, metrics_from_rows


def _tree_rss_bytes(root_pid: int) -> int:
    """Sum of VmRSS over ``root_pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class PeakMemory:
    """Samples the process tree's RSS in a background thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "composite"))
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workers", type=int, default=None, help="local backend: folds at a time (default: CPUs)")
    ap.add_argument("--backend", choices=("local", "ray"), default="local")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--gpus-per-fold", type=float, default=0.0)
    ap.add_argument("--save-features", action="store_true",
                    help="store each fold's pre-head test features (the t-SNE of `causalnet report`)")
    ap.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="SCOPE.FIELD=VALUE")
    args = ap.parse_args()

    cfg = ExperimentConfig.preset(args.preset)
    overrides: dict[str, object] = dict(parse_key_values(args.overrides))
    if args.seed is not None:
        overrides["train.seed"] = args.seed
    cfg = cfg.with_overrides(overrides)
    backend = make_backend(args.backend, workers=args.workers, gpus_per_fold=args.gpus_per_fold)
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        clips = load_composite(args.data)
        loso = LosoRun(args.out, clips, cfg, runs=args.runs, features=args.save_features)
        fresh = len(loso.pending())
        metrics = loso.run(progress=True, backend=backend, device=args.device)
    wall = time.perf_counter() - t0
    print(f"\npreset {args.preset}, {len(clips.subject_list())} folds x {args.runs} run(s), {fresh} trained now, "
          f"backend {args.backend} ({backend.threads} thread(s) per fold), device {resolve_device(args.device)}")
    print(f"wall time: {wall / 60:.2f} min   peak memory (process tree): {mem.peak / 2**30:.2f} GiB\n")
    print(metrics_table(metrics))
    for other in ("fixed", "oracle"):
        if other != cfg.protocol:
            print()
            print(metrics_table(metrics_from_rows(loso.prediction_rows(other), other)))


if __name__ == "__main__":
    main()
