"""Time of ``causalnet report`` on a full-size run folder (issue 14 target: ≤ 30 s, t-SNE included).

Usage: ``python benchmarks/report.py [--out /tmp/report_bench] [--runs 5] [--data ../shared/data/composite]``.

Builds (once; reused when present) a run folder shaped like a full ``causalnet train --preset compact
--runs 5 --checkpoints --save-features`` run on the composite benchmark: 68 subjects, 442 clips (the real
clip list and images when ``--data`` exists, else a fake list of the same shape), 5 runs × 68 fold files
with ``probs [5 members, 40 epochs, n, 3]``, validation scores and ``features [n, 192]``, run 0's
fold checkpoints (randomly initialised compact CausalNets), predictions.csv and metrics.json under the
``val`` protocol. The probabilities are drawn (label-dependent, improving with the epoch), so the
report's numbers mean nothing — only its time does. Then runs ``causalnet report`` as a user would
(a fresh process) and prints the wall time and the report's own per-section times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 3
EPOCHS = 40
MEMBERS = 5
FEATURES = 192  # the compact CausalNet's pre-head width (3 x 4 tokens x D = 16)


def clip_list(data: Path | None, rng: np.random.Generator) -> tuple[list[tuple[str, str, str, int]], str]:
    """(subject, clip, dataset, label) of every clip: the real composite list, or a fake one of its shape."""
    if data is not None and (data / "combined_3_class2_for_optical_flow.csv").is_file():
        from causalnet.data.composite import read_index

        rows = read_index(data)
        return [(r["sub"], r["filename_o"], r["dataset"], int(r["label"])) for r in rows], str(data.resolve())
    sizes = {"casme2": (24, 145), "smic": (16, 164), "samm": (28, 133)}  # subjects, clips per dataset
    out = []
    for dataset, (subjects, clips) in sizes.items():
        owner = rng.integers(0, subjects, clips)
        for k in range(clips):
            out.append((f"{dataset[:2]}{owner[k]:02d}", f"clip{k:03d}", dataset, int(rng.integers(0, CLASSES))))
    return out, ""


def build_folder(out: Path, runs: int, data: Path | None) -> None:
    import torch

    from causalnet.engine import FoldResult
    from causalnet.eval.predictions import metrics_from_rows, predictions_csv
    from causalnet.models import CausalNet, save_checkpoint
    from causalnet.report.folds import load_folds, protocol_rows
    from causalnet.train import ExperimentConfig

    rng = np.random.default_rng(0)
    clips, data_root = clip_list(data, rng)
    subjects = list(dict.fromkeys(s for s, *_ in clips))
    cfg = ExperimentConfig.preset("compact")
    (out / "config.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"causalnet_version": "benchmark", "experiment": cfg.to_dict(),
                                                 "data": data_root, "runs": runs, "subjects": None}, indent=2))
    centres = rng.normal(size=(CLASSES, FEATURES)) * 0.15
    for run in range(runs):
        for subject in subjects:
            rows = [c for c in clips if c[0] == subject]
            labels = np.array([c[3] for c in rows])
            n = len(rows)
            skill = np.linspace(0.05, 0.6, EPOCHS)[None, :, None, None]
            logits = rng.normal(size=(MEMBERS, EPOCHS, n, CLASSES)) + skill * np.eye(CLASSES)[labels][None, None]
            probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
            val = (0.5 + 0.25 * np.linspace(0, 1, EPOCHS)[None] + rng.normal(0, 0.03, (MEMBERS, EPOCHS)))
            feats = (centres[labels] + rng.normal(size=(n, FEATURES))).astype(np.float32)
            fold = FoldResult(probs.astype(np.float32), np.array([c[1] for c in rows]), labels,
                              val.astype(np.float32), (1 - val).astype(np.float32), features=feats)
            fold.save(out / "folds" / f"run{run}" / f"{subject}.npz")
            if run == 0:
                torch.manual_seed(len(subject))
                save_checkpoint(out / "checkpoints" / "run0" / f"{subject}.safetensors", CausalNet(cfg.model),
                                extra={"test_subject": subject})
    datasets = {(s, c): d for s, c, d, _ in clips}
    rows = protocol_rows(load_folds(out, datasets=datasets), cfg.protocol)
    (out / "predictions.csv").write_text(predictions_csv(rows, CLASSES))
    (out / "metrics.json").write_text(json.dumps(metrics_from_rows(rows, cfg.protocol), indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/causalnet_report_bench", help="benchmark run folder (built once)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "composite"),
                    help="composite folder for the real clip list and images (a fake list when absent)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    if not (out / "metrics.json").is_file():
        t = time.perf_counter()
        data = Path(args.data)
        build_folder(out, args.runs, data if data.is_dir() else None)
        print(f"built {out} in {time.perf_counter() - t:.1f} s")
    folds = len(list((out / "folds").glob("run*/*.npz")))
    print(f"run folder: {out} ({folds} fold files, data {json.loads((out / 'config.json').read_text())['data']!r})")
    for i in range(args.repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "causalnet.cli", "report", str(out)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        wall = time.perf_counter() - t
        seconds = json.loads((out / "report.json").read_text())["seconds"]
        print(f"repeat {i + 1}: causalnet report wall time {wall:.1f} s (target ≤ 30 s); sections: "
              + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    other = out.parent / f"{out.name}_other.csv"
    perturbed_predictions(out / "predictions.csv", other)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "causalnet.cli", "compare", str(out), str(other)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.DEVNULL)
    print(f"causalnet compare (5 + 5 runs, 68 subjects, 10000 bootstrap draws + 10000 permutations, composite and "
          f"3 datasets): wall time {time.perf_counter() - t:.1f} s")


def perturbed_predictions(path: Path, out: Path, share: float = 0.05) -> None:
    """A second 'run' on the same clips: ``share`` of the predictions changed at random."""
    import csv

    rng = np.random.default_rng(1)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        if rng.random() < share:
            row[5] = str((int(row[5]) + 1) % CLASSES)
    with open(out, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


if __name__ == "__main__":
    main()
