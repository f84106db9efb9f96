"""The micro-measurements behind docs/speed.md's "measured and not adopted" table (issue 33), in one run.

Usage::

    python benchmarks/step_levers.py [--threads 1] [--compile]

Compact CausalNet, 5 members × 64 rows (a training step of the compact preset), one torch thread. Prints
median times of: the vmapped 5-member training step against five single-model steps; the per-epoch
evaluation of 5 × 200 rows under vmap against member by member; matrix products of the step's shapes in
fp32 and bf16 (with the cost of casting the input); row gathering by advanced indexing against
``index_select``; with ``--compile``, the members' step eager against ``train.compile``'s compiled step (also
under bf16 autocast) and the evaluation eager against a compiled one (measured, not adopted), with the time of
their first calls.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from causalnet.models import CausalNet, CausalNetConfig
from causalnet.train.loop import _member_functions


def median_ms(fn, n: int = 20) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true",
                    help="also time train.compile's compiled step and evaluation (minutes on a cold inductor cache)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}; torch {torch.__version__}; {args.threads} thread(s)")
    cfg = CausalNetConfig.preset("compact")
    members, batch = 5, 64
    torch.manual_seed(0)
    models = [CausalNet(cfg) for _ in range(members)]
    params, buffers = stack_module_state(models)
    base = models[0]
    layout = base.input_layout()
    train_fn, eval_fn = _member_functions(base, members, layout.call_kwargs)
    x = layout.prepare((torch.rand(members * batch, 4, 3, 28, 28) * 255).round()).unflatten(0, (members, batch))
    y = torch.randint(0, 3, (members, batch))
    opt = torch.optim.Adam(list(params.values()), lr=1e-3, foreach=True)

    def vmapped_step():
        logits, _ = train_fn(params, buffers, x, y)
        loss = sum(F.cross_entropy(logits[k], y[k]) for k in range(members))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    single = CausalNet(cfg)
    opt1 = torch.optim.Adam(single.parameters(), lr=1e-3, foreach=True)

    def single_steps():
        for k in range(members):
            loss = F.cross_entropy(single(x[k], prepared=True), y[k])
            opt1.zero_grad(set_to_none=True)
            loss.backward()
            opt1.step()

    print(f"training step, {members} members x {batch} rows: vmap {median_ms(vmapped_step):.1f} ms, "
          f"five single-model steps {median_ms(single_steps):.1f} ms")

    from torch.func import vmap

    rows = layout.prepare((torch.rand(members * 200, 4, 3, 28, 28) * 255).round()).unflatten(0, (members, 200))
    batched = vmap(lambda p, b, i: functional_call(base, (p, b), (i,), {"prepared": True}))
    with torch.inference_mode():
        print(f"evaluation, {members} x 200 rows: vmap {median_ms(lambda: batched(params, buffers, rows), 5):.1f} ms, "
              f"member by member {median_ms(lambda: eval_fn(params, buffers, rows), 5):.1f} ms")

    for r, k, n in [(2048, 16, 64), (2048, 64, 16), (2048, 147, 16), (128, 64, 256)]:
        a, b = torch.randn(members, r, k), torch.randn(members, k, n)
        ab, bb = a.bfloat16(), b.bfloat16()
        fp32 = median_ms(lambda a=a, b=b: torch.bmm(a, b))
        bf16 = median_ms(lambda ab=ab, bb=bb: torch.bmm(ab, bb))
        cast = median_ms(lambda a=a: a.bfloat16())
        print(f"bmm [{members}, {r}, {k}] x [{members}, {k}, {n}]: fp32 {fp32:.3f} ms "
              f"({2 * members * r * k * n / fp32 / 1e6:.0f} GFLOP/s), bf16 {bf16:.3f} ms, "
              f"casting the input to bf16 {cast:.3f} ms")

    table = torch.randn(2000, 4, 4, 4, 147)
    idx = torch.randint(0, 2000, (members * batch,))
    indexed, selected = median_ms(lambda: table[idx], 50), median_ms(lambda: table.index_select(0, idx), 50)
    print(f"gathering {members * batch} rows of a 2000-row prepared table: table[rows] {indexed:.2f} ms, "
          f"index_select {selected:.2f} ms")

    if args.compile:
        # what train.compile runs (causalnet.train.compiled): the vmapped members' step and the member-by-member
        # evaluation, each against its eager twin, with the time of the first call (compiling; short when
        # inductor's on-disk cache already holds the graphs), and the compiled step under bf16 autocast
        from causalnet.train.loop import _compiled_step

        compiled_train = _compiled_step(base, members, layout.call_kwargs, torch.device("cpu"))
        # the evaluation compiled as train.compile once did (measured, dropped): one member's forward, one static
        # graph, the 200 rows padded to 256
        graph = torch.compile(lambda p, b, i: functional_call(base, (p, b), (i,), {"prepared": True}))
        padded = torch.cat([rows, rows[:, -1:].expand(-1, 56, *rows.shape[2:])], dim=1)

        def compiled_eval():
            return torch.stack([graph({n: v[k] for n, v in params.items()}, {n: v[k] for n, v in buffers.items()},
                                      padded[k])[:200] for k in range(members)])

        def members_step(fn, amp=False):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                logits, _ = fn(params, buffers, x, y)
            loss = sum(F.cross_entropy(logits[k].float(), y[k]) for k in range(members))
            opt.zero_grad(set_to_none=True)
            loss.backward()

        def first_call(fn):
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        base.train()
        warm = {"step": first_call(lambda: members_step(compiled_train)),
                "bf16 step": first_call(lambda: members_step(compiled_train, True))}
        base.eval()
        with torch.inference_mode():
            warm["evaluation"] = first_call(compiled_eval)
        print("torch.compile, first calls: " + ", ".join(f"{k} {v:.0f} s" for k, v in warm.items()))
        for _ in range(2):  # twice, alternating, so that a change of the machine's load shows
            base.train()
            eager, fast = median_ms(lambda: members_step(train_fn)), median_ms(lambda: members_step(compiled_train))
            bf16 = median_ms(lambda: members_step(compiled_train, True))
            base.eval()
            with torch.inference_mode():
                eager_eval = median_ms(lambda: eval_fn(params, buffers, rows), 5)
                fast_eval = median_ms(compiled_eval, 5)
            print(f"members' step (forward + backward, {members} x {batch} rows): eager {eager:.1f} ms, compiled "
                  f"{fast:.1f} ms ({eager / fast:.2f}x), compiled bf16 {bf16:.1f} ms; evaluation {members} x 200 rows: "
                  f"eager {eager_eval:.1f} ms, compiled (padded to 256) {fast_eval:.1f} ms "
                  f"({eager_eval / fast_eval:.2f}x)")

if __name__ == "__main__":
    main()
