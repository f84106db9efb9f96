"""Batched inference throughput (clips/s) of a preset on this machine (issue 3, target 4).

Usage: ``python benchmarks/inference.py [--preset compact] [--batch 512] [--clips 8192]``.
Weights are random (throughput does not depend on them); inputs are [B, 4, 3, 28, 28].
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

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
    x = torch.rand(args.batch, 4, 3, 28, 28) * 255
    batches = max(1, args.clips // args.batch)
    with torch.inference_mode():
        model(x)  # warm-up
        rates = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(batches):
                model(x)
            rates.append(batches * args.batch / (time.perf_counter() - t))
    print(f"preset {args.preset}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"throughput: {max(rates):.0f} clips/s (best of {args.repeats}; all: {', '.join(f'{r:.0f}' for r in rates)})")
    if args.preset in ExperimentConfig.PRESETS and ExperimentConfig.preset(args.preset).train.mirror_tta:
        # what a --save-model checkpoint of this preset does: each clip and its mirror image, averaged
        from causalnet.data.mirror import mirror_clips

        xn = x.numpy()
        with torch.inference_mode():
            rates = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                for _ in range(batches):
                    both = torch.from_numpy(np.concatenate([xn, mirror_clips(xn)]))
                    model(both).softmax(-1).unflatten(0, (2, -1)).mean(0)
                rates.append(batches * args.batch / (time.perf_counter() - t))
        print(f"with test-time mirror averaging (mirroring included): {max(rates):.0f} clips/s "
              f"(best of {args.repeats}; all: {', '.join(f'{r:.0f}' for r in rates)})")
    if args.preset in ExperimentConfig.PRESETS:
        members = ExperimentConfig.preset(args.preset).train.members
        if members > 1:  # LOSO folds average this many models; a --save-model checkpoint is one model
            print(f"a {members}-member ensemble as in the LOSO folds: ≈ {max(rates) / members:.0f} clips/s "
                  f"(the last line / {members})")


if __name__ == "__main__":
    main()
