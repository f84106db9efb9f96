"""The paper configuration on a GPU (issue 13): the paper's tables, honest and oracle, side by side.

One command runs every measurement, in order of importance, each resumable (rerun the same command
after an interruption: finished folds are skipped)::

    python benchmarks/paper_gpu.py --out runs/paper_gpu --device cuda            # all four tables
    python benchmarks/paper_gpu.py --out runs/paper_gpu --device cuda --tables 1 # the main table only

Tables (printed as markdown and written to ``OUT/results.md`` and ``OUT/results.json``):

1. ``paper`` preset, full 68-fold LOSO, 200 epochs (the reference's tuning script), Adam 5e-5, full-batch
   steps, seeds 2025.. (``--seeds``, default 5): per-dataset UF1/UAR/ACC under ``fixed`` and ``oracle``
   from the same runs, and under ``val`` from runs whose members validate on held-out training subjects
   (``--val-members`` members, default 3: those runs train each member on the other training subjects).
2. Paper Table 3 rows (cumulative, as the paper's rows): none of the four parts, +CMPLM, +STCA, +CRM,
   +pseudo-attention (= the full model of table 1), ``--ablation-seeds`` seeds (default 3).
3. ``compact`` preset on the same seeds and device: does the large model beat it honestly?
4. Speed: training step time of the paper preset in fp32 and under bf16 autocast (``train.amp``), peak
   GPU memory, full-LOSO wall time per run (from table 1), the compact preset's full LOSO on the GPU, and
   a full LOSO under bf16 autocast (accuracy beside fp32).

On a machine without a GPU the same script runs on the CPU (``--device cpu``), which is how it is tested
(``--preset compact --subjects ... --epochs 1 --set model.dim=8 --threads 1``); the paper preset itself needs a
GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from causalnet.config import parse_key_values
from causalnet.data import load_composite
from causalnet.device import resolve_device
from causalnet.engine import LocalBackend
from causalnet.eval import metrics_from_rows
from causalnet.train import ExperimentConfig, LosoRun

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "composite"
GROUPS = ("composite", "casme2", "smic", "samm")
#: Paper Table 1 and Table 3 (SPEC §6), UF1 / UAR in % (composite).
PAPER_TABLE1 = {"composite": (89.30, 89.41, 90.77), "casme2": (97.48, 97.82, 98.21), "smic": (84.05, 84.33, 84.27),
                "samm": (87.08, 85.22, 90.83)}
ABLATIONS = [  # (row, overrides, paper UF1/UAR)
    ("none of the four parts", {"model.cmplm": False, "model.stca": False, "model.crm": False,
                                "model.pseudo_attention": False}, (86.40, 86.55)),
    ("+CMPLM", {"model.stca": False, "model.crm": False, "model.pseudo_attention": False}, (87.01, 87.25)),
    ("+STCA", {"model.crm": False, "model.pseudo_attention": False}, (88.42, 88.50)),
    ("+CRM", {"model.pseudo_attention": False}, (88.81, 88.94)),
]


def cell(group: dict, metric: str) -> str:
    if "std" in group:
        return f"{100 * group['mean'][metric]:.2f} ± {100 * group['std'][metric]:.2f}"
    return f"{100 * group[metric]:.2f}"


def row(label: str, metrics: dict) -> str:
    cells = [" / ".join(cell(metrics[g], m) for m in ("uf1", "uar", "acc")) if g in metrics else "–" for g in GROUPS]
    return f"| {label} | " + " | ".join(cells) + " |"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.clips = load_composite(args.data)
        self.subjects = [s for s in args.subjects.split(",") if s] if args.subjects else None
        self.sets: dict[str, str] = parse_key_values(args.set)
        self.backend = LocalBackend(workers=args.workers, threads=args.threads)
        self.results: dict[str, Any] = json.loads((self.out / "results.json").read_text()) \
            if (self.out / "results.json").is_file() else {}
        self.lines: list[str] = []

    def experiment(self, preset: str, overrides: dict[str, Any]) -> ExperimentConfig:
        cfg = ExperimentConfig.preset(preset)
        over: dict[str, Any] = {**self.sets, **overrides}  # each table's own settings win over --set
        if self.args.epochs:
            over["train.epochs"] = self.args.epochs
        return cfg.with_overrides(over)

    def loso(self, name: str, cfg: ExperimentConfig, runs: int) -> tuple[LosoRun, float, dict]:
        run = LosoRun(self.out / name, self.clips, cfg, runs=runs, subjects=self.subjects)
        pending = len(run.pending())
        device = resolve_device(self.args.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        run.train(progress=True, backend=self.backend, device=self.args.device)
        wall = time.perf_counter() - start
        info = {"folds_trained": pending, "wall_s": round(wall, 1), "device": str(device),
                "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                "peak_gpu_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                if device.type == "cuda" else None}
        if pending:  # timings only for what this invocation trained
            self.results.setdefault("timings", {})[name] = info
        return run, wall, info

    def metrics(self, run: LosoRun, protocol: str) -> dict:
        return metrics_from_rows(run.prediction_rows(protocol), protocol)

    def emit(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    # -- the tables --------------------------------------------------------------------------
    def table1(self) -> None:
        seeds = self.args.seeds
        main, _, _ = self.loso("table1_paper", self.experiment(self.args.preset, {}), seeds)
        val_cfg = self.experiment(self.args.preset, {"train.members": self.args.val_members,
                                                     "train.member_validation": True}).with_protocol("val")
        val, _, _ = self.loso("table1_paper_val", val_cfg, seeds)
        m = {"fixed": self.metrics(main, "fixed"), "oracle": self.metrics(main, "oracle"),
             "val": self.metrics(val, "val"), "val_runs_oracle": self.metrics(val, "oracle")}
        self.results["table1"] = m
        self.emit(f"## Table 1: {self.args.preset} preset, {seeds} seeds (UF1 / UAR / ACC %, mean ± std)", "",
                  "| protocol | composite | CASME II | SMIC | SAMM |", "|---|---|---|---|---|",
                  row("fixed (honest)", m["fixed"]),
                  row(f"val (honest; {self.args.val_members} members on held-out training subjects)", m["val"]),
                  row("ORACLE (best epoch on each test subject)", m["oracle"]),
                  "| paper Table 1 (oracle protocol) | " + " | ".join(
                      " / ".join(f"{v:.2f}" for v in PAPER_TABLE1[g]) for g in GROUPS) + " |", "")

    def table2(self) -> None:
        seeds = self.args.ablation_seeds
        self.emit(f"## Table 2: paper Table 3 rows, {seeds} seeds (composite UF1 / UAR %)", "",
                  "| row | fixed | ORACLE | paper (oracle) |", "|---|---|---|---|")
        out = {}
        for label, over, paper in [*ABLATIONS, ("+pseudo-attention (full)", {}, (89.30, 89.41))]:
            name = "table1_paper" if not over else "table2_" + "_".join(k.split(".")[1] for k in over)
            run, _, _ = self.loso(name, self.experiment(self.args.preset, over), seeds if over else self.args.seeds)
            fixed, oracle = self.metrics(run, "fixed"), self.metrics(run, "oracle")
            out[label] = {"fixed": fixed, "oracle": oracle}
            both = lambda m: f"{cell(m['composite'], 'uf1')} / {cell(m['composite'], 'uar')}"  # noqa: E731
            self.emit(f"| {label} | {both(fixed)} | {both(oracle)} | {paper[0]:.2f} / {paper[1]:.2f} |")
        self.results["table2"] = out
        self.emit("")

    def table3(self) -> None:
        run, _, _ = self.loso("table3_compact", self.experiment("compact", {}), self.args.seeds)
        m = {p: self.metrics(run, p) for p in ("val", "fixed", "oracle")}
        self.results["table3"] = m
        t1 = self.results.get("table1", {})
        self.emit(f"## Table 3: compact vs {self.args.preset}, same seeds (UF1 / UAR / ACC %)", "",
                  "| model, protocol | composite | CASME II | SMIC | SAMM |", "|---|---|---|---|---|",
                  row("compact, val (its preset's honest protocol)", m["val"]), row("compact, fixed", m["fixed"]),
                  *([row(f"{self.args.preset}, fixed", t1["fixed"]), row(f"{self.args.preset}, val", t1["val"])]
                    if t1 else []), row("compact, ORACLE", m["oracle"]), "")

    def table4(self) -> None:
        from causalnet.models import create_model
        from causalnet.train.loop import fit

        device = resolve_device(self.args.device)
        cfg = self.experiment(self.args.preset, {})
        x = self.clips.x[:430] if len(self.clips) >= 430 else self.clips.x
        y = self.clips.y[: len(x)]
        steps = {}
        for amp in (False, True):
            tcfg = cfg.train.with_overrides({"epochs": self.args.step_epochs, "amp": amp})
            torch.manual_seed(0)
            model = create_model(cfg.model_name, cfg.model)
            times: list[float] = []
            last = [time.perf_counter()]

            def tick(_epoch: int, times=times, last=last) -> None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                now = time.perf_counter()
                times.append(now - last[0])
                last[0] = now

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            fit([model], x, y, [np.arange(len(x))], tcfg, seed=0, num_classes=self.clips.num_classes,
                eval_sets=[np.zeros(0, np.int64)], device=device, on_epoch=tick)
            steps["bf16" if amp else "fp32"] = {
                "step_s_median": float(np.median(times[1:] or times)), "steps": len(times),
                "peak_gpu_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                if device.type == "cuda" else None}
        amp_run, _, _ = self.loso("table4_paper_amp", self.experiment(self.args.preset, {"train.amp": True}),
                                  self.args.amp_seeds)
        compact, compact_wall, _ = self.loso("table3_compact", self.experiment("compact", {}), self.args.seeds)
        self.results["table4"] = {"step": steps, "amp_fixed": self.metrics(amp_run, "fixed"),
                                  "timings": self.results.get("timings", {})}
        ratio = steps["fp32"]["step_s_median"] / steps["bf16"]["step_s_median"]
        amp_fixed = self.results["table4"]["amp_fixed"]
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        fp32, bf16 = steps["fp32"], steps["bf16"]
        self.emit(f"## Table 4: speed on {device} ({name})",
                  "", f"- full-batch training step ({len(x)} clips), median of {fp32['steps']} epochs: "
                  f"fp32 {fp32['step_s_median']:.3f} s, bf16 autocast {bf16['step_s_median']:.3f} s "
                  f"({ratio:.2f}x); peak GPU memory {fp32['peak_gpu_gib']} / {bf16['peak_gpu_gib']} GiB",
                  f"- bf16 full LOSO, fixed: composite UF1 {cell(amp_fixed['composite'], 'uf1')}",
                  "- timings of every LOSO this invocation trained (wall s, peak GPU GiB):",
                  *[f"  - {k}: {v['wall_s']} s for {v['folds_trained']} folds, {v['peak_gpu_gib']} GiB"
                    for k, v in self.results.get("timings", {}).items()], "")

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=float))
        (self.out / "results.md").write_text("\n".join(self.lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tables", default="1,2,3,4", help="which tables, in this order")
    ap.add_argument("--preset", default="paper", help="the large preset (paper; compact for a CPU smoke test)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ablation-seeds", type=int, default=3)
    ap.add_argument("--amp-seeds", type=int, default=1)
    ap.add_argument("--val-members", type=int, default=3)
    ap.add_argument("--epochs", type=int, help="override every preset's epochs (smoke tests)")
    ap.add_argument("--step-epochs", type=int, default=6, help="epochs timed for the step time")
    ap.add_argument("--subjects", help="limit the test folds (smoke tests)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="overrides of every experiment, e.g. a smaller model for smoke tests (model.dim=8)")
    ap.add_argument("--workers", type=int, default=1, help="folds at a time (1: in process, for GPU memory stats)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of each fold and of the step timing (default 0: CPUs / --workers for a "
                         "fold, torch's default for the step timing)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench(args)
    try:
        for t in args.tables.split(","):
            getattr(bench, f"table{int(t)}")()
            bench.save()
    finally:
        bench.save()
    print(f"written: {bench.out / 'results.md'}, {bench.out / 'results.json'}")


if __name__ == "__main__":
    main()
