"""The baselines of the robustness table (issue 17): their cost, and the honest composite table.

Usage::

    python benchmarks/baselines.py cost [--time]
        # every registered model: input view, parameters (paper, compact), multiply-adds per training
        # sample of the compact preset (forward in training mode, incl. the forward_train hook) and its
        # ratio to the compact CausalNet's (the compact rule's cap is 4x, docs/robustness.md);
        # --time adds the time of one vectorised training step (5 members x 64 samples, one thread)
    python benchmarks/baselines.py pool
        # measured, not adopted (docs/results.md §6): torch's max-pool against the same pool with the batch
        # folded into channels-last channels (one thread, forward + backward, outputs and gradients compared,
        # and whether it runs under torch.func.vmap); and Dual-Inception's training step for 5 x 64 samples,
        # vectorised (vmap) against a loop over the members
    python benchmarks/baselines.py fold --raw synth_raw --out rob_fold [--subject s01] [--models A,B]
        # CPU and wall seconds of one robustness fold (run 0, 40 epochs, the settings of
        # docs/robustness.md, one thread) per model, one after the other; flows are cached in --out
    python benchmarks/baselines.py composite --data ../shared/data/composite --out runs/baselines [--runs 5]
        # for every model that reads the published flow images (input view "flow"), or --models A,B:
        # causalnet train --data DATA --model M --preset compact --runs R --workers W --out OUT/M
        # then causalnet evaluate OUT/M --protocol fixed; prints each model's wall time. Resumable.

Prints its figures; writes nothing but the run folders of ``composite``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def _macs_per_sample(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from causalnet.models.auxiliary import training_outputs

    with FlopCounterMode(display=False) as counter:
        training_outputs(model.train(), x, y)
    return counter.get_total_flops() / 2 / len(x)


def _step_seconds(name: str, members: int = 5, batch: int = 64, steps: int = 5, vectorised: bool = True) -> float:
    """Median time of a training step of ``members`` models (forward with the hook, cross-entropy, backward).

    ``vectorised``: the members in one ``torch.func.vmap`` call (the training path); otherwise a loop over them.
    """
    from torch.func import stack_module_state, vmap

    from causalnet.models import create_model
    from causalnet.models.auxiliary import functional_training_outputs

    models = [create_model(name, "compact") for _ in range(members)]
    params, buffers = stack_module_state(models)
    models[0].train()
    single = functional_training_outputs(models[0])
    step = vmap(single, in_dims=(0, 0, 0, 0), randomness="different")
    x = torch.rand(members, batch, 4, 3, 28, 28) * 255
    y = torch.randint(0, 3, (members, batch))

    def looped() -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [single({n: v[k] for n, v in params.items()}, {n: v[k] for n, v in buffers.items()}, x[k], y[k])
                   for k in range(members)]
        return torch.stack([lg for lg, _ in outputs]), torch.stack([aux for _, aux in outputs])

    times = []
    for _ in range(steps + 1):  # the first step warms up
        t = time.perf_counter()
        logits, aux = step(params, buffers, x, y) if vectorised else looped()
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()) + aux.sum()
        loss.backward()
        times.append(time.perf_counter() - t)
    return sorted(times[1:])[len(times[1:]) // 2]


def cost(args: argparse.Namespace) -> None:
    from causalnet.models import create_model, get_entry, input_view_of, list_models

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.rand(4, 4, 3, 28, 28) * 255, torch.tensor([0, 1, 2, 0])
    ref = _macs_per_sample(create_model("causalnet", "compact"), x, y)
    ref_time = _step_seconds("causalnet") if args.time else 0.0
    header = f"{'model':15s} {'view':11s} {'paper params':>14s} {'compact params':>15s} {'compact MMAC':>13s}"
    print(header + f" {'x CN':>6s}" + (f" {'step (s)':>9s} {'x CN':>6s}" if args.time else ""))
    for name in list_models():
        with torch.device("meta"):
            paper = sum(p.numel() for p in create_model(name, "paper").parameters())
        model = create_model(name, "compact")
        small = sum(p.numel() for p in model.parameters())
        macs = _macs_per_sample(model, x, y)
        line = (f"{name:15s} {input_view_of(get_entry(name).model_cls):11s} {paper:14,d} {small:15,d} "
                f"{macs / 1e6:13.2f} {macs / ref:6.2f}")
        if args.time:
            seconds = _step_seconds(name)
            line += f" {seconds:9.3f} {seconds / ref_time:6.2f}"
        print(line, flush=True)
    print(f"\ncompact rule's cap: 4 x {ref / 1e6:.2f} = {4 * ref / 1e6:.2f} M multiply-adds per training sample")


def _channels_last_pool(x: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """Max-pool with the batch folded into channels, pooled in channels-last layout (same values as torch's)."""
    from einops import rearrange

    z = rearrange(x, "n c h w -> 1 (n c) h w").contiguous(memory_format=torch.channels_last)
    y = torch.nn.functional.max_pool2d(z, kernel, stride, padding, ceil_mode=True)
    return rearrange(y, "1 (n c) h w -> n c h w", n=x.shape[0]).contiguous()


def _median_ms(fn, x: torch.Tensor, repeats: int = 12) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Median forward + backward time (ms) of ``fn(x)``, with the output and input gradient of the last call."""
    times = []
    for _ in range(repeats):
        xx = x.clone().requires_grad_()
        t = time.perf_counter()
        out = fn(xx)
        out.backward(torch.ones_like(out))
        times.append(time.perf_counter() - t)
    return 1e3 * sorted(times)[repeats // 2], out.detach(), xx.grad


def pool(args: argparse.Namespace) -> None:
    import torch.nn.functional as F
    from torch.func import vmap

    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"{'input':>18s} {'pool':>8s} {'torch ms':>9s} {'folded ms':>10s} same")
    for shape in [(320, 1, 28, 28), (320, 12, 14, 14), (320, 12, 28, 28), (64, 64, 56, 56)]:
        x = torch.randint(0, 4, shape).float()  # ties, as in quantised flow and ReLU maps
        for k, s, p in [(3, 1, 1), (2, 2, 0)]:
            ta, ya, ga = _median_ms(lambda z: F.max_pool2d(z, k, s, p, ceil_mode=True), x)  # noqa: B023
            tb, yb, gb = _median_ms(lambda z: _channels_last_pool(z, k, s, p), x)  # noqa: B023
            same = torch.equal(ya, yb) and torch.equal(ga, gb)
            print(f"{'x'.join(map(str, shape)):>18s} {f'{k}x{k}/{s}':>8s} {ta:9.2f} {tb:10.2f} {same}", flush=True)
    try:
        vmap(lambda z: _channels_last_pool(z, 3, 1, 1))(torch.rand(2, 4, 1, 8, 8))
        print("under torch.func.vmap: runs")
    except RuntimeError as err:
        print(f"under torch.func.vmap: fails ({str(err).splitlines()[0]})")
    for label, vectorised in [("vmap", True), ("loop", False)]:
        seconds = _step_seconds("dualinception", vectorised=vectorised)
        print(f"dualinception step, 5 members x 64 samples, {label}: {seconds:.3f} s", flush=True)


def fold(args: argparse.Namespace) -> None:
    from causalnet.commands.robustness import build_experiments
    from causalnet.data.builders import read_plan
    from causalnet.flow.config import PreprocessConfig
    from causalnet.models import list_models
    from causalnet.robustness import RobustnessConfig, RobustnessRun, clips_from_plan, parse_model_specs
    from causalnet.train.fold import run_fold

    torch.set_num_threads(1)
    names = args.models.split(",") if args.models else list_models()
    clips, _ = clips_from_plan(read_plan("generic", args.raw))
    prep = PreprocessConfig(face_method="none", face_size=112)
    settings = argparse.Namespace(preset="compact", epochs=args.epochs, protocol=None)
    exps = build_experiments(settings, names, 3, {"train": {"schedule": "constant", "label_smoothing": "0.1"}})
    run = RobustnessRun(args.out, clips, prep, RobustnessConfig(sigmas=(0, 10, 20, 30), spotting=True, runs=1),
                        parse_model_specs(",".join(names)), exps, ("negative", "positive", "surprise"))
    report = run.prepare(workers=args.workers)
    print(f"inputs: {report.flows} flows computed in {report.seconds:.0f} s")
    for training in run.trainings:
        job = run.make_job(run.fold_key(training, 0, args.subject))
        cpu, wall = time.process_time(), time.perf_counter()
        run_fold(job)
        print(f"{training.label:15s} one fold: {time.process_time() - cpu:6.1f} CPU-s, "
              f"{time.perf_counter() - wall:6.1f} s wall", flush=True)


def composite(args: argparse.Namespace) -> None:
    from causalnet.cli import main as cli
    from causalnet.models import FLOW_VIEW, get_entry, input_view_of, list_models

    names = args.models.split(",") if args.models else [
        n for n in list_models() if n != "causalnet" and input_view_of(get_entry(n).model_cls) == FLOW_VIEW]
    walls = {}
    for name in names:
        out = Path(args.out) / name
        t0 = time.perf_counter()
        code = cli(["train", "--data", args.data, "--model", name, "--preset", "compact", "--runs", str(args.runs),
                    "--workers", str(args.workers), "--out", str(out), "--no-progress"])
        walls[name] = time.perf_counter() - t0
        if code:
            raise SystemExit(f"causalnet train --model {name} failed (exit {code})")
        cli(["evaluate", str(out), "--protocol", "fixed"])
    print("\nwall time per model (min): " + ", ".join(f"{n} {s / 60:.1f}" for n, s in walls.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cost", help="parameters and multiply-adds of every model (the compact rule's cap)")
    c.add_argument("--time", action="store_true", help="also time a vectorised training step")
    c.set_defaults(func=cost)
    sub.add_parser("pool", help="measured, not adopted: a channels-last max-pool; vmap against a loop").set_defaults(
        func=pool)
    f = sub.add_parser("fold", help="CPU time of one robustness fold per model (demo synthetic benchmark)")
    f.add_argument("--raw", required=True, help="a `causalnet synth --preset demo` folder")
    f.add_argument("--out", required=True, help="work folder (flow cache, fold files)")
    f.add_argument("--models", default="", help="comma-separated models (default: all registered)")
    f.add_argument("--subject", default="s01")
    f.add_argument("--epochs", type=int, default=40)
    f.add_argument("--workers", type=int, default=2, help="processes for the inputs")
    f.set_defaults(func=fold)
    p = sub.add_parser("composite", help="5-seed composite LOSO of the flow baselines (compact presets)")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "composite"))
    p.add_argument("--out", required=True)
    p.add_argument("--models", default="", help="comma-separated models (default: every flow-view baseline)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=composite)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
