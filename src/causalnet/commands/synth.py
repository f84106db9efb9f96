"""``causalnet synth``: generate the synthetic micro-expression benchmark (generic raw layout)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic micro-expression benchmark with exact key-frames (no data needed)",
        description=(
            "Draw N subjects (procedural faces) and K clips each: neutral frames, onset, apex, offset, "
            "neutral frames, with action-unit-like local motions per class (negative: brow lowerer "
            "± lip corner depressor; positive: lip corner puller ± cheek raiser; surprise: brow raiser + "
            "jaw drop), sensor noise, head drift, flicker and blinks. Writes the generic raw layout "
            "(annotations.csv + frames/<subject>/<clip>/*.png) that `causalnet preprocess --format "
            "generic --face none` reads. Deterministic for a seed. See docs/synthetic.md."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--preset",
        default="default",
        help="SynthConfig preset: default | demo | tiny | easy | hard (default: default)",
    )
    p.add_argument("--subjects", type=int, default=None, metavar="N", help="number of subjects")
    p.add_argument("--clips-per-subject", type=int, default=None, metavar="K", help="clips per subject")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    p.add_argument("--size", type=int, default=None, metavar="PX", help="frame side in pixels")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default 200)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any SynthConfig field, e.g. --set noise_sigma=3 (repeatable)",
    )
    p.add_argument("--workers", type=int, default=1, metavar="N", help="parallel processes (default 1)")
    p.add_argument(
        "--probe",
        action="store_true",
        help="afterwards, measure learnability: LOSO logistic regression on TV-L1 flow "
        "(spatial) vs. on global flow statistics (trivial)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def synth_config(args: argparse.Namespace):
    """The SynthConfig of the parsed options: preset, then ``--set``, then the direct options."""
    from causalnet.config import parse_key_values
    from causalnet.synth import SynthConfig

    overrides: dict[str, object] = dict(parse_key_values(args.set))
    direct = {
        "n_subjects": args.subjects,
        "clips_per_subject": args.clips_per_subject,
        "seed": args.seed,
        "image_size": args.size,
        "fps": args.fps,
    }
    overrides.update({k: v for k, v in direct.items() if v is not None})
    return SynthConfig.preset(args.preset).with_overrides(overrides)


def run(args: argparse.Namespace) -> int:
    """Generate the benchmark, print a summary (and the probe's numbers with ``--probe``)."""
    from collections import Counter

    from causalnet.checks import check_option, check_output_dir, workers_check
    from causalnet.synth import CLASS_NAMES, generate_benchmark

    check_option("--workers", args.workers, workers_check())
    check_output_dir(args.out, "--out")
    cfg = synth_config(args)
    start = time.perf_counter()
    clips = generate_benchmark(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    counts = Counter(c["label"] for c in clips)
    frames = sum(c["n_frames"] for c in clips)
    out = Path(args.out).resolve()
    print(
        f"synth: {len(clips)} clips of {cfg.n_subjects} subjects ({frames} frames, {cfg.image_size} px, "
        f"{cfg.fps:g} fps, seed {cfg.seed}) in {elapsed:.1f} s"
    )
    print("classes: " + ", ".join(f"{name} {counts.get(i, 0)}" for i, name in enumerate(CLASS_NAMES)))
    print(f"annotations: {out / 'annotations.csv'}")
    print(f"frames:      {out / 'frames'}")
    print(f"truth:       {out / 'ground_truth.json'}")
    if args.probe:
        from causalnet.synth.probe import probe_benchmark

        result = probe_benchmark(out, progress=not args.no_progress)
        print(
            f"probe (LOSO logistic regression on TV-L1 flow, {result.n_subjects} subjects): "
            f"spatial UF1 {result.spatial_uf1:.3f}, global-statistics UF1 {result.global_uf1:.3f} "
            f"(chance {1 / len(CLASS_NAMES):.3f})"
        )
    print(
        f"next: causalnet preprocess --raw {out} --format generic --face none --size {cfg.image_size} "
        f"--out {out}_of"
    )
    return 0
