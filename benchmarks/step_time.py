"""Paper-preset training-step time: plain path vs fast path, side by side in one run (issue 3, target 3).

One full-batch training step = forward + cross-entropy + backward + Adam step on 430 samples.

- plain: full block attention in the encoders (``fast=False``) and the per-parameter Adam loop.
- fast:  single-token attention shortcut (``fast=True``, same maths, see docs/model.md) and the
  multi-tensor (foreach) Adam; ``--bf16`` adds a third variant with bfloat16 autocast.

The two models start from the same weights; the script checks that their first-step losses agree.
Usage: ``python benchmarks/step_time.py [--samples 430] [--steps 3] [--bf16] [--preset paper]``.
Prints the median step time of each variant and the plain/fast ratio.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from causalnet.models import CausalNet, CausalNetConfig


def step_times(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, foreach: bool,
               bf16: bool) -> tuple[list[float], float]:
    opt = torch.optim.Adam(model.parameters(), lr=5e-5, foreach=foreach)
    times, first_loss = [], None
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
        first_loss = loss.item() if first_loss is None else first_loss
    return times[1:], first_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--samples", type=int, default=430)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="also time the fast path under bfloat16 autocast")
    args = ap.parse_args()

    torch.manual_seed(2025)
    x = torch.rand(args.samples, 4, 3, 28, 28) * 255
    y = torch.randint(0, 3, (args.samples,))
    cfg = CausalNetConfig.preset(args.preset)
    init = CausalNet(cfg).state_dict()  # one set of initial weights for every variant
    variants = [("plain", False, False, False), ("fast", True, True, False)]
    if args.bf16:
        variants.append(("fast+bf16", True, True, True))
    n_params = sum(v.numel() for v in init.values())
    print(f"preset {args.preset}, {n_params / 1e6:.1f} M parameters, {args.samples} samples, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    results = {}
    for name, fast, foreach, bf16 in variants:
        model = CausalNet(cfg.with_overrides({"fast": fast}))
        model.load_state_dict(init)
        times, loss = step_times(model, x, y, args.steps, foreach, bf16)
        results[name] = statistics.median(times)
        print(f"{name:10s} median step {results[name]:7.2f} s  (steps: {', '.join(f'{t:.2f}' for t in times)}; "
              f"first loss {loss:.6f})", flush=True)
        del model
    print(f"ratio plain/fast: {results['plain'] / results['fast']:.2f}x")
    if "fast+bf16" in results:
        print(f"ratio plain/fast+bf16: {results['plain'] / results['fast+bf16']:.2f}x")


if __name__ == "__main__":
    main()
