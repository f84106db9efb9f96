"""``causalnet synth``: generate the synthetic micro-expression benchmark (generic raw layout)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from causalnet.commands.options import add_num_subjects_option, add_set_option, num_subjects, show_progress


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
        "--long",
        action="store_true",
        help="long recordings for spotting instead of clips: several seconds per subject with micro-expressions "
        "at known frames, neutral stretches, blinks, head moves, flicker bursts and macro-expressions; writes "
        "videos.csv, annotations.csv (MEGC spotting layout) and frames/<subject>/<video>/ (docs/spotting.md)",
    )
    p.add_argument(
        "--generator",
        default=None,
        metavar="NAME",
        help="with --long: a named long-recording generator (au, au-30, blob, blob-talk, blob-turn; "
        "causalnet.synth.long_generators, docs/spotting.md): its settings, then --set and the direct options; "
        "blob* are an independent generator (other faces, motion fields, blinks, head turns, talking)",
    )
    p.add_argument(
        "--mp4",
        action="store_true",
        help="with --long: also encode each recording as videos/<video>.mp4 (what `causalnet analyze --video` "
        "reads; use --size 256 or more for the dlib face detector of the shipped model)",
    )
    p.add_argument(
        "--preset",
        default="default",
        help="SynthConfig preset: default | demo | tiny | easy | hard (with --long, LongSynthConfig: "
        "default | tiny | easy) (default: default)",
    )
    add_num_subjects_option(p, "number of subjects (default: the preset's)")
    p.add_argument(
        "--clips-per-subject",
        type=int,
        default=None,
        metavar="K",
        help="clips per subject (with --long: micro-expressions per recording) (default: the preset's)",
    )
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (default: the preset's, 0)")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="frame side in pixels (default: the preset's, 128 for default)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default 200)")
    add_set_option(p, "override SynthConfig fields, e.g. --set noise_sigma=3 blink_prob=0")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="parallel processes (default 1)")
    p.add_argument(
        "--probe",
        action="store_true",
        help="afterwards, measure learnability: LOSO logistic regression on TV-L1 flow "
        "(spatial) vs. on global flow statistics (trivial)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a benchmark already in --out (removes only the files and clip folders an earlier "
        "`causalnet synth` listed in its ground_truth.json); without it such a folder is refused",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def synth_config(args: argparse.Namespace):
    """The SynthConfig of the parsed options: preset, then ``--set``, then the direct options."""
    from causalnet.config import parse_key_values
    from causalnet.synth import SynthConfig

    overrides: dict[str, object] = dict(parse_key_values(args.set))
    direct = {
        "n_subjects": num_subjects(args, "synth"),
        ("micro_per_recording" if args.long else "clips_per_subject"): args.clips_per_subject,
        "seed": args.seed,
        "image_size": args.size,
        "fps": args.fps,
    }
    overrides.update({k: v for k, v in direct.items() if v is not None})
    if args.long and getattr(args, "generator", None):
        from causalnet.synth.long_generators import generator_config

        return generator_config(args.generator, overrides)
    if args.long:
        from causalnet.synth.long import LongSynthConfig

        return LongSynthConfig.preset(args.preset).with_overrides(overrides)
    return SynthConfig.preset(args.preset).with_overrides(overrides)


def check_size(cfg, long: bool) -> None:
    """Refuse, before any work, a benchmark of more than :data:`causalnet.checks.MAX_SYNTH_ITEMS` clips
    (with ``--long``: recordings)."""
    from causalnet.checks import MAX_SYNTH_ITEMS, check_count

    per_subject = ("--set recordings_per_subject", cfg.recordings_per_subject) if long else \
        ("--clips-per-subject", cfg.clips_per_subject)
    check_count({"--num-subjects": cfg.n_subjects, per_subject[0]: per_subject[1]}, MAX_SYNTH_ITEMS)


def prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse an --out that already holds a benchmark unless ``overwrite``; then remove what synth wrote there."""
    from causalnet.synth.generate import existing_benchmark, remove_benchmark

    found = existing_benchmark(out)
    if not found:
        return
    if not overwrite:
        raise ValueError(f"{out}: --out already holds a dataset ({', '.join(found)}); give --overwrite to replace "
                         "what an earlier `causalnet synth` wrote there, or choose another folder")
    remove_benchmark(out)


def run(args: argparse.Namespace) -> int:
    """Generate the benchmark, print a summary (and the probe's numbers with ``--probe``)."""
    from collections import Counter

    from causalnet.checks import check_option, check_output_dir, workers_check
    from causalnet.synth import CLASS_NAMES, generate_benchmark

    check_option("--workers", args.workers, workers_check())
    check_output_dir(args.out, "--out")
    cfg = synth_config(args)
    check_size(cfg, args.long)
    prepare_out(Path(args.out), args.overwrite)
    if args.mp4 and not args.long:
        raise ValueError("--mp4 encodes long recordings; give --long too")
    if getattr(args, "generator", None) and not args.long:
        raise ValueError("--generator names a long-recording generator; give --long too")
    if args.long:
        return _run_long(args, cfg)
    start = time.perf_counter()
    clips = generate_benchmark(cfg, args.out, workers=args.workers, progress=show_progress(args))
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

        result = probe_benchmark(out, progress=show_progress(args))
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


def _run_long(args: argparse.Namespace, cfg) -> int:
    """``synth --long``: write the recordings and print a summary."""
    from causalnet.synth.long import generate_long_benchmark, write_mp4

    if args.probe:
        raise ValueError("--probe measures clip benchmarks; it does not apply to --long")
    from causalnet.synth.long_generators import event_counts, generate_long

    start = time.perf_counter()
    if args.generator:
        recordings = generate_long(args.generator, args.out, cfg.to_dict(), workers=args.workers,
                                   progress=show_progress(args))
    else:
        recordings = generate_long_benchmark(cfg, args.out, workers=args.workers, progress=show_progress(args))
    videos = write_mp4(args.out, recordings) if args.mp4 else []
    elapsed = time.perf_counter() - start
    frames = sum(r["n_frames"] for r in recordings)
    kinds = event_counts(recordings)
    out = Path(args.out).resolve()
    print(
        f"synth --long: {len(recordings)} recordings of {cfg.n_subjects} subjects ({frames} frames, "
        f"{frames / cfg.fps:.1f} s at {cfg.fps:g} fps, {cfg.image_size} px, seed {cfg.seed}) in {elapsed:.1f} s"
    )
    print("events: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"annotations: {out / 'annotations.csv'}")
    print(f"videos:      {out / 'videos.csv'}")
    print(f"truth:       {out / 'ground_truth.json'}")
    for video in videos:
        print(f"video file:  {Path(video).resolve()}")
    print(f"next: causalnet spot-eval --data {out} --face none --size {cfg.image_size} --checkpoint MODEL "
          f"--out {out}_eval")
    return 0
