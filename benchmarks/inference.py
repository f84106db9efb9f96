"""Batched inference throughput (clips/s) of a preset on this machine (issue 3, target 4).

Usage: ``python benchmarks/inference.py [--preset compact] [--batch 512] [--clips 8192]``.
Weights are random (throughput does not depend on them); inputs are [B, 4, 3, 28, 28]. Timed is
the package's one inference path, :func:`causalnet.inference.predict_proba` (softmax included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from causalnet.inference import predict_proba
from causalnet.models import CausalNet, CausalNetConfig
from causalnet.train.config import ExperimentConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--clips", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cfg = ExperimentConfig.preset(args.preset).model if args.preset in ExperimentConfig.PRESETS else (
        CausalNetConfig.preset(args.preset))
    model = CausalNet(cfg).eval()
    x = np.random.default_rng(0).uniform(0, 255, (args.batch, 4, 3, 28, 28)).astype(np.float32)
    batches = max(1, args.clips // args.batch)

    def rate(mirror: bool) -> list[float]:
        """Clips/s of the inference path (:func:`causalnet.inference.predict_proba`), one rate per repeat."""
        predict_proba(model, x, mirror=mirror, batch_size=args.batch)  # warm-up
        rates = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(batches):
                predict_proba(model, x, mirror=mirror, batch_size=args.batch)
            rates.append(batches * args.batch / (time.perf_counter() - t))
        return rates

    rates = rate(mirror=False)
    print(f"preset {args.preset}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"throughput: {max(rates):.0f} clips/s (best of {args.repeats}; all: {', '.join(f'{r:.0f}' for r in rates)})")
    if args.preset in ExperimentConfig.PRESETS and ExperimentConfig.preset(args.preset).train.mirror_tta:
        # what a --save-model checkpoint of this preset does: each clip and its mirror image, averaged
        rates = rate(mirror=True)
        print(f"with test-time mirror averaging (mirroring included): {max(rates):.0f} clips/s "
              f"(best of {args.repeats}; all: {', '.join(f'{r:.0f}' for r in rates)})")
    if args.preset in ExperimentConfig.PRESETS:
        members = ExperimentConfig.preset(args.preset).train.members
        if members > 1:  # LOSO folds average this many models; a --save-model checkpoint is one model
            print(f"a {members}-member ensemble as in the LOSO folds: ≈ {max(rates) / members:.0f} clips/s "
                  f"(the last line / {members})")


if __name__ == "__main__":
    main()
