"""Choose the long-video spotter's settings on *training* recordings (never the test ones).

Generates (or reuses) a ``causalnet synth --long`` benchmark with a training seed, computes the spotting
signals once per signal setting (window, top blocks, feature) and sweeps the detection settings
(threshold, score floor, interval edges) on them, ranking by micro-expression spotting F1 (IoU ≥ 0.5),
pooled over the recordings. The test figures (``benchmarks/spotting_long.py``) use another seed.

Usage::

    python benchmarks/spotting_tune.py                     # seed 100, 8 subjects, in ./spotting-tune
    python benchmarks/spotting_tune.py --seed 101 --out T   # a second training seed
    python benchmarks/spotting_tune.py --grid window_s=0.12,0.14 --grid threshold=2,2.5,3   # other values
    python benchmarks/spotting_tune.py --grid feature=lbp --grid top_blocks=12 --grid subtract_median=false
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np

from causalnet.data.annotations import Interval
from causalnet.flow.frames import FrameFolder
from causalnet.spotting.config import SpotConfig
from causalnet.spotting.datasets import read_long_dataset
from causalnet.spotting.metrics import spotting_report
from causalnet.spotting.signal import SpotSignals
from causalnet.spotting.spotter import Spotter
from causalnet.synth.long import LongSynthConfig, generate_long_benchmark

#: the synthetic faces' eye line and eye distance (fractions of the side), causalnet.synth.face
EYE_ROW, EYE_DISTANCE = 0.37, 0.34

SIGNAL_GRID = {"feature": ("intensity",), "window_s": (0.06, 0.08, 0.1, 0.12), "top_blocks": (2, 3, 4),
               "subtract_median": (True,)}
DETECT_GRID = {"threshold": (3.0, 4.0, 5.0, 6.0, 8.0), "min_score": (0.0, 0.002, 0.003, 0.004),
               "edge_fraction": (0.3, 0.4, 0.5, 0.6)}


def _grid(grid: dict) -> list[dict]:
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=100, help="training seed of the synthetic recordings")
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--out", default="spotting-tune", help="work folder (recordings, results)")
    parser.add_argument("--workers", type=int, default=2, help="processes generating the recordings")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help=f"values to sweep instead of the default ones, for one of {[*SIGNAL_GRID, *DETECT_GRID]}")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    args = parser.parse_args(argv)
    for item in args.grid:
        key, _, values = item.partition("=")
        grid = SIGNAL_GRID if key in SIGNAL_GRID else DETECT_GRID if key in DETECT_GRID else None
        if grid is None or not values:
            raise SystemExit(f"--grid {item!r}: expected KEY=V1,V2 with KEY one of {[*SIGNAL_GRID, *DETECT_GRID]}")
        kind = type(grid[key][0])
        grid[key] = tuple((v.lower() == "true") if kind is bool else kind(v) for v in values.split(","))

    out = Path(args.out)
    data = out / f"long_seed{args.seed}"
    if not (data / "annotations.csv").is_file():
        cfg = LongSynthConfig(seed=args.seed, n_subjects=args.subjects)
        t0 = time.perf_counter()
        generate_long_benchmark(cfg, data, workers=args.workers, progress=True)
        print(f"generated {data} in {time.perf_counter() - t0:.0f} s")
    ds = read_long_dataset("generic", data)
    combos = _grid(DETECT_GRID)
    results = []
    start, load0 = time.perf_counter(), os.getloadavg()
    for signal_values in _grid(SIGNAL_GRID):
        base = SpotConfig(**signal_values)
        spotted: list[list[Interval]] = [[] for _ in combos]
        for video in ds.videos:
            source = FrameFolder(video.frames)
            signals = SpotSignals(base, video.fps, 128, EYE_ROW, EYE_DISTANCE, len(source) + 1)
            batch = []
            for frame in source.iter_frames(gray=True):
                batch.append(frame)
                if len(batch) == 64:
                    signals.push(np.stack(batch))
                    batch = []
            if batch:
                signals.push(np.stack(batch))
            signals.finish()
            for j, combo in enumerate(combos):
                cfg = dataclasses.replace(base, **combo)
                spotter = Spotter(cfg, video.fps, 128, EYE_ROW, EYE_DISTANCE, signals=signals)
                spotted[j] += [Interval(video.subject, video.video, s.onset, s.apex, s.offset, s.type)
                               for s in spotter.update(final=True)]
        for j, combo in enumerate(combos):
            r = spotting_report(spotted[j], ds.truth, 3)
            results.append({**signal_values, **combo, "micro_f1": r["micro"]["f1"],
                            "micro_precision": r["micro"]["precision"], "micro_recall": r["micro"]["recall"],
                            "macro_f1": r["macro"]["f1"], "all_f1": r["all"]["f1"]})
        best = max(results, key=lambda x: (x["micro_f1"], x["all_f1"]))
        print(f"{signal_values}: best so far micro F1 {best['micro_f1']:.3f} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    results.sort(key=lambda x: (x["micro_f1"], x["all_f1"]), reverse=True)
    print(f"\n{len(ds.videos)} training recordings (seed {args.seed}), {sum(t.type == 'micro' for t in ds.truth)} "
          f"micro-expressions; {len(results)} settings; load average {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    keys = [*SIGNAL_GRID, *DETECT_GRID]
    print(" | ".join(keys) + " | micro P / R / F1 | macro F1 | all F1")
    for r in results[:15]:
        print(" | ".join(f"{r[k]:g}" if isinstance(r[k], float | int) and not isinstance(r[k], bool) else str(r[k])
                         for k in keys)
              + f" | {r['micro_precision']:.3f} / {r['micro_recall']:.3f} / {r['micro_f1']:.3f} | "
              f"{r['macro_f1']:.3f} | {r['all_f1']:.3f}")
    path = out / f"tune_seed{args.seed}{args.tag}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"all results: {path}")


if __name__ == "__main__":
    main()
