"""Leave-one-generator-out (LOGO) spotting benchmark: settings fitted on the other generators only.

Generates (or reuses) the recordings of every generator of ``causalnet.synth.long_generators`` into
``OUT/data/<generator>``, then for each spotter and each held-out generator fits the spotter's free
settings (a grid; the learned spotter's model and acceptance probability) on the other generators and
scores the held-out one (``causalnet.spotting.logo``). Prints the per-generator table.

Spotters compared:

- ``classic``: the hand-set rule spotter of 2026-11 (``--spot-preset classic``, eye boxes where the
  alignment puts the eyes, 0.30 / 0.36, as ``analyze --face none`` assumes), nothing fitted;
- ``classic-au-eyes``: the same with the ``au`` generator's eyes (0.37 / 0.34, the documented ``--set`` for
  ``synth --long``: a choice made on one generator, shown for reference);
- ``classic-fit``: the same rules with threshold, window and eye boxes on/off chosen on the training generators;
- ``learned``: candidates above a noise-floor-relative threshold, decided by a logistic regression over
  candidate features fitted on the training generators (candidate threshold and window chosen by an inner
  LOGO over the training generators);
- ``learned-fps`` (the shipped default since 2026-12-07 evening): the same, fitted on the training generators'
  recordings and on those recordings resampled to 100, 50 and 30 fps (``causalnet.spotting.logo.augment``);
- ``learned-fps-flow``: ``learned-fps`` with the optical-flow candidate features too (measured, not adopted).

Usage::

    python benchmarks/spotting_logo.py --out L                     # spot-only table
    python benchmarks/spotting_logo.py --out L --recognition       # + STRS and recognition (shipped model)
    python benchmarks/spotting_logo.py --out L --spotters "" --save-model src/causalnet/spotting/models/generators.json
    python benchmarks/spotting_logo.py --out L --speed-only        # frames/s of `causalnet analyze --face none`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from causalnet.spotting.config import SpotConfig
from causalnet.spotting.logo import AUGMENT_FPS, Fit, augment, fit_spotter, load_recordings, logo
from causalnet.synth.long_generators import GENERATORS, generate_long

#: where the eye boxes of the rule spotter are: the alignment's eyes (what `analyze --face none` assumes);
#: ``classic-au-eyes`` is given the ``au`` generator's eyes (the documented ``--set`` for ``synth --long``)
EYE = (0.30, 0.36)
AU_EYE = (0.37, 0.34)

SPOTTERS = {
    "classic": (SpotConfig.preset("classic"), {}, EYE),
    "classic-au-eyes": (SpotConfig.preset("classic"), {}, AU_EYE),
    "classic-fit": (SpotConfig.preset("classic"), {"threshold": (2.0, 3.0, 4.0, 6.0), "window_s": (0.08, 0.12),
                                                   "eye_boxes": (True, False)}, EYE),
    "learned": (SpotConfig.preset("learned"), {"threshold": (2.0, 2.5, 3.0), "window_s": (0.08, 0.12),
                                               "edge_pad_s": (0.0, 0.02), "feature_set": ("intensity",)}, EYE),
    # the version before model_first (persistent changes macro without the model), measured on seeds 0 and 1
    "learned-persistence-first": (SpotConfig.preset("learned").with_overrides({"model_first": False}),
                                  {"threshold": (2.0, 2.5, 3.0), "window_s": (0.08, 0.12), "edge_pad_s": (0.0, 0.02),
                                   "feature_set": ("intensity",)}, EYE),
    # the learned spotter fitted on its training generators' recordings and on those recordings resampled to
    # 100, 50 and 30 fps (frames averaged: `causalnet.spotting.logo.augment`)
    "learned-fps": (SpotConfig.preset("learned"), {"threshold": (2.0, 2.5, 3.0), "window_s": (0.08, 0.12),
                                                   "edge_pad_s": (0.0, 0.02), "feature_set": ("intensity",)}, EYE),
    # learned-fps with the optical-flow candidate features too (`causalnet.spotting.learned.flow_features`)
    "learned-fps-flow": (SpotConfig.preset("learned"), {"threshold": (2.0, 2.5, 3.0), "window_s": (0.08, 0.12),
                                                        "edge_pad_s": (0.0, 0.02), "feature_set": ("all",)}, EYE),
    # measured once, never chosen by the inner protocol on any split (2026-12-07): the model without the
    # features that say where the change is (upper, lower, symmetry)
    "learned-no-location": (SpotConfig.preset("learned").with_overrides({"model_first": False}),
                            {"threshold": (2.0, 2.5, 3.0), "window_s": (0.08, 0.12), "feature_set": ("no-location",)},
                            EYE),
}


#: spotters whose training recordings are also resampled to these frame rates (`logo(..., augment_fps=...)`)
AUGMENTED = {"learned-fps": AUGMENT_FPS, "learned-fps-flow": AUGMENT_FPS}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def generate(out: Path, seed: int, subjects: int | None) -> dict[str, Path]:
    folders = {}
    for name in GENERATORS:
        folder = out / "data" / name
        if not (folder / "annotations.csv").is_file():
            t0 = time.perf_counter()
            overrides = {"seed": seed, **({"n_subjects": subjects} if subjects else {})}
            generate_long(name, folder, overrides)
            print(f"generated {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        folders[name] = folder
    return folders


def _chosen(fit: Fit, grid: dict) -> dict:
    """The values of ``grid``'s keys that ``fit`` chose (the model's feature set included)."""
    out = {k: getattr(fit.cfg, k) for k in grid if k != "feature_set"}
    if "feature_set" in grid and fit.model is not None:
        out["feature_set"] = fit.model.info.get("feature_set")
    return out


def fmt(m: dict, kind: str) -> str:
    r = m[kind]
    return f"{r['tp']}/{r['fp']}/{r['fn']} {r['f1']:.3f}"


def recognition(out: Path, folders: dict[str, Path], fits: dict[str, tuple[Fit, dict]], tta: int) -> dict:
    """spot-eval of every held-out generator with its LOGO-fitted spotter and the shipped model."""
    from causalnet.flow.config import PreprocessConfig
    from causalnet.models.shipped import shipped_checkpoint
    from causalnet.spotting.datasets import read_long_dataset
    from causalnet.spotting.evaluate import evaluate_dataset, subject_checkpoints
    from causalnet.spotting.recognise import RecogniseConfig

    ckpt = str(shipped_checkpoint())
    results = {}
    for held, (fit, _) in fits.items():
        cfg = fit.cfg
        if fit.model is not None:
            path = out / "models" / f"without_{held}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            fit.model.save(path)
            cfg = cfg.with_overrides({"model": str(path.resolve())})
        if cfg.method == "rules":
            cfg = cfg.with_overrides({"eye_row": EYE[0], "eye_distance": EYE[1]})  # what the LOGO scored
        ds = read_long_dataset("generic", folders[held])
        prep = PreprocessConfig().with_overrides({"face_method": "none", "face_size": 128})
        ev = evaluate_dataset(ds, ds.videos, subject_checkpoints(ds.videos, ckpt, None), out / "eval" / held, prep,
                              cfg, RecogniseConfig(tta_k=tta), threads=1)
        results[held] = ev.metrics
        m = ev.metrics
        print(f"  {held}: micro F1 {m['micro']['f1']:.3f}; STRS {m.get('strs', float('nan')):.3f}; "
              f"UF1 TP {m['recognition_tp']['uf1']:.3f} (n {m['recognition_tp']['n']}), annotated "
              f"{m['recognition_annotated']['uf1']:.3f} (n {m['recognition_annotated']['n']})", flush=True)
    return results


def speed(out: Path, folder: Path, spot_preset: str, mp4: bool) -> dict:
    """frames/s of `causalnet analyze --face none` (shipped model, default --tta) on the generator's first
    recording: its 128-px PNG frames, or (``mp4``) an MP4 copy of them (``synth --long --mp4``'s encoding)."""
    from causalnet.synth.long import write_mp4

    rec = json.loads((folder / "ground_truth.json").read_text())["recordings"][0]
    if mp4:
        video = folder / "videos" / f"{rec['video']}.mp4"
        if not video.is_file():
            write_mp4(folder, [rec])
        source = ["--video", str(video)]
    else:
        source = ["--frames", str(folder / "frames" / rec["subject"] / rec["video"])]
    target = out / f"speed_{spot_preset}_{'mp4' if mp4 else 'png'}"
    cmd = [sys.executable, "-m", "causalnet.cli", "analyze", *source, "--fps", str(rec["fps"]),
           "--face", "none", "--size", "128", "--spot-preset", spot_preset, "--out", str(target), "--no-progress"]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    doc = json.loads((target / "intervals.json").read_text())
    n = doc["n_frames"]
    return {"input": "mp4" if mp4 else "png", "frames": n, "intervals": len(doc["intervals"]), "wall_s": round(wall, 1),
            "analysis_s": doc["timing"]["seconds"], "cpu_s": doc["timing"]["cpu_seconds"],
            "fps_analysis": round(n / doc["timing"]["seconds"], 1), "fps_command": round(n / wall, 1),
            "load": (round(load0, 2), round(os.getloadavg()[0], 2))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="spotting-logo", help="work folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subjects", type=int, default=3, help="subjects (one recording each) per generator")
    parser.add_argument("--spotters", default=",".join(SPOTTERS), help="which spotters to compare")
    parser.add_argument("--recognition", action="store_true",
                        help="also STRS and recognition (shipped model) of the chosen spotter per held-out generator")
    parser.add_argument("--tta", type=int, default=8, help="key-frame ensemble of --recognition (default 8)")
    parser.add_argument("--save-model", metavar="JSON",
                        help="fit the learned spotter on every generator (settings by LOGO within them) and save it")
    parser.add_argument("--chosen", default="learned-fps",
                        help="the spotter that --recognition scores and --save-model fits (default: learned-fps, "
                             "the shipped default)")
    parser.add_argument("--speed", action="store_true", help="also time `causalnet analyze --face none`")
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    folders = generate(out, args.seed, args.subjects)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; python {platform.python_version()}")
    if args.speed or args.speed_only:
        for mp4 in (True, False):
            for preset in ("default", "classic"):
                print(f"speed ({preset}, au recording 0): {speed(out, folders['au'], preset, mp4)}", flush=True)
        if args.speed_only:
            return
    t0 = time.perf_counter()
    data = {g: load_recordings(g, str(f)) for g, f in folders.items()}
    for g, recs in data.items():
        n_micro = sum(t.type == "micro" for r in recs for t in r.truth)
        print(f"{g}: {len(recs)} recordings, {sum(len(r.faces) for r in recs)} frames at {recs[0].video.fps:g} fps, "
              f"{n_micro} micro-expressions", flush=True)
    summary: dict[str, dict] = {}
    all_fits: dict[str, dict[str, tuple[Fit, dict]]] = {}
    for name in [n for n in args.spotters.split(",") if n]:  # --spotters "": no LOGO table (e.g. --save-model)
        base, grid, eye = SPOTTERS[name]
        print(f"\n== {name} ==", flush=True)

        def show(held: str, fit: Fit, m: dict, grid: dict = grid) -> None:
            changed = _chosen(fit, grid)
            print(f"held out {held:10s} fitted on {','.join(fit.trained_on)}: {changed} inner {fit.inner_f1:.3f} | "
                  f"micro {fmt(m, 'micro')} | macro {fmt(m, 'macro')} | all {fmt(m, 'all')}", flush=True)

        fits = logo(data, base, grid, eye, on_result=show, augment_fps=AUGMENTED.get(name, ()))
        all_fits[name] = fits
        micro = [m["micro"]["f1"] for _, m in fits.values()]
        summary[name] = {g: {"inner_micro_f1": f.inner_f1, "micro": m["micro"], "macro": m["macro"], "all": m["all"],
                             "settings": _chosen(f, grid)} for g, (f, m) in fits.items()}
        print(f"{name}: held-out micro F1 per generator {[round(x, 3) for x in micro]}, mean {np.mean(micro):.3f}, "
              f"min {min(micro):.3f}", flush=True)
    if summary:
        print(f"\nLOGO done in {time.perf_counter() - t0:.0f} s")
        print("| held-out generator | " + " | ".join(f"{n} micro F1" for n in summary) + " |")
        print("|---" * (len(summary) + 1) + "|")
        for g in data:
            print(f"| {g} | " + " | ".join(f"{summary[n][g]['micro']['f1']:.3f}" for n in summary) + " |")
        print("| mean | " + " | ".join(f"{np.mean([summary[n][g]['micro']['f1'] for g in data]):.3f}"
                                       for n in summary) + " |")
        (out / "logo.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if args.recognition and all_fits:
        best = args.chosen if args.chosen in all_fits else next(iter(all_fits))
        print(f"\nrecognition with the shipped model, spotter {best} (LOGO-fitted), --tta {args.tta}:")
        rec = recognition(out, folders, all_fits[best], args.tta)
        (out / "recognition.json").write_text(json.dumps(rec, indent=1, default=str) + "\n")
    if args.save_model:
        base, grid, eye = SPOTTERS[args.chosen]
        rates = AUGMENTED.get(args.chosen, ())
        fit = fit_spotter({g: augment(r, rates) if rates else r for g, r in data.items()}, base, grid, eye)
        fit.model.info.update({"inner_logo_micro_f1": round(fit.inner_f1, 4), "seed": args.seed,
                               "spotter": args.chosen, "augment_fps": list(rates),
                               "date": time.strftime("%Y-%m-%d")})
        fit.model.save(args.save_model)
        print(f"saved {args.save_model}: settings {_chosen(fit, grid)}, inner LOGO micro F1 "
              f"{fit.inner_f1:.3f}, accept {fit.model.accept}")


if __name__ == "__main__":
    main()
