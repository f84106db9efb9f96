"""Where a fold's time goes: one composite fold of a preset under ``torch.profiler`` (issue 33).

Usage::

    python benchmarks/fold_profile.py --data ../shared/data/composite --subject sub01 [--preset compact]
        [--epochs 40] [--threads 1] [--top 25]

Builds the fold's job exactly as ``causalnet train`` does (``LosoRun.make_job``), runs it in this process
with ``--threads`` torch threads (1 = what each of the 2 default workers gets) and prints:

- wall time and CPU seconds of the whole fold, and of the fold without the profiler (run first);
- the share of the named regions of :func:`causalnet.train.loop.fit` — ``fit.batch`` (gathering rows,
  variants, shifts), ``fit.forward`` (forward and loss), ``fit.backward``, ``fit.optimizer``,
  ``fit.evaluate`` (per-epoch predictions of test and validation rows) — and the rest (set-up, Python);
- the operators taking most CPU time (self time), with call counts.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from causalnet.config import parse_key_values
from causalnet.data import load_composite
from causalnet.engine import FoldKey
from causalnet.train import ExperimentConfig, LosoRun
from causalnet.train.fold import run_fold

REGIONS = ("fit.batch", "fit.forward", "fit.backward", "fit.optimizer", "fit.evaluate")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_job(data: str, subject: str, preset: str, epochs: int | None, sets: list[str], threads: int):
    """The fold job of test subject ``subject`` exactly as ``causalnet train`` builds it (``LosoRun.make_job``),
    with ``train.epochs`` and ``--set`` overrides; also used by ``fold_speed.py``."""
    cfg = ExperimentConfig.preset(preset)
    overrides = parse_key_values(sets)
    if epochs:
        overrides["train.epochs"] = epochs
    cfg = cfg.with_overrides(overrides) if overrides else cfg
    job = LosoRun(Path("/nonexistent-profile-run"), load_composite(data), cfg).make_job(FoldKey("", 0, subject))
    job.threads = threads
    return job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/composite")
    p.add_argument("--subject", default="sub01")
    p.add_argument("--preset", default="compact")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (a shorter profile)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    job = build_job(args.data, args.subject, args.preset, args.epochs, args.set, args.threads)
    print(f"{platform.processor() or platform.machine()}; torch {torch.__version__}; {args.threads} thread(s); "
          f"preset {args.preset}, {job.train.members} members x {job.epochs} epochs, "
          f"{sum(len(s) for s in job.train_sets)} member-rows per epoch, subject {args.subject}")

    wall, cpu = time.perf_counter(), _cpu_seconds()
    run_fold(job)
    plain_wall, plain_cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    print(f"fold without profiler: {plain_wall:.1f} s wall, {plain_cpu:.1f} CPU-s")

    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        wall = time.perf_counter()
        run_fold(job)
        wall = time.perf_counter() - wall
    events = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in events)
    by_name = {e.key: e for e in events}
    print(f"fold under profiler: {wall:.1f} s wall; profiled CPU time {total_us / 1e6:.1f} s")
    covered = 0.0
    for region in REGIONS:
        e = by_name.get(region)
        us = e.cpu_time_total if e is not None else 0.0
        covered += us
        print(f"  {region:<14} {us / 1e6:7.2f} s  {100 * us / max(total_us, 1):5.1f} %  ({e.count if e else 0} calls)")
    print(f"  {'rest':<14} {(total_us - covered) / 1e6:7.2f} s  {100 * (total_us - covered) / max(total_us, 1):5.1f} %"
          "  (set-up, model building, Python between regions)")
    print(f"\ntop {args.top} operators by self CPU time:")
    ops = sorted((e for e in events if not e.key.startswith("fit.")), key=lambda e: -e.self_cpu_time_total)
    for e in ops[: args.top]:
        print(f"  {e.key:<44} {e.self_cpu_time_total / 1e6:7.2f} s  {100 * e.self_cpu_time_total / total_us:5.1f} %"
              f"  {e.count:8d} calls")


if __name__ == "__main__":
    main()
