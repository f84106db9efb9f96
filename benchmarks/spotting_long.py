"""Spot-then-recognise on the synthetic long-video benchmark: accuracy, speed and memory.

Everything is built from nothing in ``--out`` (cached between runs):

1. **model** — a compact CausalNet trained on a *clip* benchmark of other subjects (``causalnet synth``
   seed ``--train-seed``: its faces differ from the test recordings'), as a user would:
   ``causalnet synth`` → ``causalnet preprocess --face none`` → ``causalnet train --save-model``;
2. **test recordings** — ``causalnet synth --long`` with seed ``--seed`` (never used for tuning;
   the spotter's settings were chosen on seed 100 with ``benchmarks/spotting_tune.py``);
3. ``causalnet spot-eval`` on them: MEGC spotting metrics (IoU ≥ 0.5), recognition UF1/UAR on the
   true-positive intervals and on the annotated intervals (same model, same key-frame ensembling), STRS;
4. **speed**: every test recording analysed again as ``causalnet analyze`` does (reading, face, spotting,
   recognition of the spotted intervals; no ground truth; the model loaded once), wall-clock and CPU time;
5. with ``--memory``: peak RSS of ``causalnet analyze`` (a separate process) on a recording and on
   one 10 times longer;
6. with ``--dlib``: ``causalnet analyze --face dlib`` on a 640×480 MJPG video of a drawn face (dlib finds
   it; the synthetic faces are crops) with a few brief mouth and brow movements and a slow drift: the
   speed of the whole path with face detection and alignment.

Usage::

    python benchmarks/spotting_long.py --out spotting-bench            # accuracy + speed
    python benchmarks/spotting_long.py --out spotting-bench --memory   # + memory
    python benchmarks/spotting_long.py --out spotting-bench --tag _hard --long-set amplitude_px=0.4,1.5 \
        --long-set noise_sigma=3 --long-set confuser_prob=0.5 --long-set confuser_intensity=0.2,0.6
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

from causalnet.cli import main as cli

EYES = ["--set", "eye_row=0.37", "--set", "eye_distance=0.34"]  # the synthetic faces' eye geometry


def _run(argv: list[str]) -> None:
    print("$ causalnet " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    code = cli(argv)
    if code != 0:
        raise SystemExit(f"causalnet {argv[0]} failed ({code})")
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def build_model(out: Path, seed: int, workers: int) -> Path:
    model = out / f"model_clips_seed{seed}.safetensors"
    if model.is_file():
        return model
    raw, of = out / f"clips_seed{seed}", out / f"clips_seed{seed}_of"
    if not (raw / "annotations.csv").is_file():
        _run(["synth", "--num-subjects", "12", "--clips-per-subject", "12", "--seed", str(seed), "--out", str(raw),
              "--workers", str(workers), "--no-progress"])
    _run(["preprocess", "--raw", str(raw), "--format", "generic", "--face", "none", "--size", "128", "--out",
          str(of), "--workers", str(workers)])
    _run(["train", "--data", str(of), "--preset", "compact", "--save-model", str(model), "--no-progress"])
    return model


def build_recordings(out: Path, name: str, workers: int, *options: str) -> Path:
    data = out / name
    if not (data / "annotations.csv").is_file():
        _run(["synth", "--long", "--out", str(data), "--workers", str(workers), "--no-progress", *options])
    return data


def peak_rss(argv: list[str]) -> tuple[float, float]:
    """(peak resident memory in MiB, wall seconds) of ``causalnet <argv>`` run as its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "causalnet.cli", *argv], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"causalnet {' '.join(argv)} failed")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - t0


def speed(data: Path, model: Path, tta: int | None) -> None:
    """Analyse every recording of ``data`` as ``causalnet analyze`` does and print the throughput."""
    import dataclasses

    from causalnet.flow.config import PreprocessConfig
    from causalnet.flow.frames import open_frames
    from causalnet.spotting.analyze import analyze_recording
    from causalnet.spotting.config import SpotConfig
    from causalnet.spotting.datasets import read_long_dataset
    from causalnet.spotting.recognise import RecogniseConfig, Recogniser

    prep = PreprocessConfig(face_method="none", face_size=128)
    rec = RecogniseConfig() if tta is None else dataclasses.replace(RecogniseConfig(), tta_k=tta)
    recogniser = Recogniser(model, prep, rec)
    spot = SpotConfig(eye_row=0.37, eye_distance=0.34)
    frames = wall = cpu = 0.0
    load = [os.getloadavg()[0]]
    for video in read_long_dataset("generic", data).videos:
        a = analyze_recording(open_frames(video.frames), video.fps, prep, spot, recogniser)
        frames, wall, cpu = frames + a.n_frames, wall + a.seconds, cpu + a.cpu_seconds
        load.append(os.getloadavg()[0])
    print(f"speed (analyze, face none, 128 px, tta {rec.tta_k}): {frames:.0f} frames in {wall:.1f} s wall = "
          f"{frames / wall:.0f} frames/s (target >= 100); CPU {cpu:.1f} s (both threads) = {frames / cpu:.0f} frames "
          f"per CPU-second; {recogniser.flows} TV-L1 flows; load average {min(load):.2f}-{max(load):.2f}")


def dlib_video(path: Path, seconds: float = 10.0, fps: float = 200.0) -> int:
    """A 640×480 MJPG video of a drawn face with six 0.2 s local movements; returns its frame count."""
    import cv2
    import numpy as np

    from causalnet.flow.synthetic import cartoon_face, displace, local_displacement

    n = int(seconds * fps)
    base = cartoon_face(480, 640, scale=1.0, seed=7).astype(np.float32)
    rng = np.random.default_rng(7)
    events = [(int(fps * (1 + 1.4 * i)), ((320 + (35 if i % 2 else -35), 310) if i % 3 else (280, 195)),
               (0.0, -2.0 if i % 3 else 2.0)) for i in range(6)]
    length = int(0.2 * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for t in range(n):
        img = base
        for start, centre, (dx, dy) in events:
            if start <= t <= start + length:
                w = 0.5 - 0.5 * np.cos(2 * np.pi * (t - start) / length)
                img = local_displacement(img, centre, 12.0, dx * w, dy * w)
        img = displace(img, 1.5 * np.sin(2 * np.pi * t / (4 * fps)), 0.0)  # slow head drift
        writer.write(np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8))
    writer.release()
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="spotting-bench", help="work folder (cached between runs)")
    parser.add_argument("--seed", type=int, default=200, help="seed of the test recordings")
    parser.add_argument("--subjects", type=int, default=8, help="test subjects (one recording each)")
    parser.add_argument("--train-seed", type=int, default=0, help="seed of the clip benchmark the model learns")
    parser.add_argument("--model", default=None, help="use this checkpoint instead of training one")
    parser.add_argument("--tta", type=int, default=None, help="key-frame triples per interval (default 8)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory, 1x and 10x long")
    parser.add_argument("--dlib", action="store_true", help="also time --face dlib on a 640x480 video")
    parser.add_argument("--long-set", action="append", default=[], metavar="KEY=VALUE",
                        help="LongSynthConfig override of the test recordings (e.g. amplitude_px=0.4,1.5)")
    parser.add_argument("--tag", default="", help="suffix of the test recordings' folder (with --long-set)")
    parser.add_argument("--only-extra", action="store_true", help="skip the accuracy run (--memory / --dlib only)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed pass of the accuracy run")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    model = Path(args.model) if args.model else build_model(out, args.train_seed, args.workers)
    if not args.only_extra:
        accuracy(args, out, model)
    if args.memory:
        memory(args, out, model)
    if args.dlib:
        video = out / "dlib_face.avi"
        if not video.is_file():
            dlib_video(video)
        analysis = out / "dlib_out"
        _run(["analyze", "--video", str(video), "--checkpoint", str(model), "--face", "dlib", "--size", "128",
              "--out", str(analysis), "--no-progress"])
        doc = json.loads((analysis / "intervals.json").read_text())
        timing = doc["timing"]
        print(f"speed (analyze --face dlib, 640x480 MJPG -> 128 px faces): {doc['n_frames']} frames, "
              f"{timing['frames_per_second']} frames/s wall, {doc['n_frames'] / timing['cpu_seconds']:.0f} frames per "
              f"CPU-second, {len(doc['intervals'])} intervals, {len(doc['realigned'])} re-alignments; "
              f"load average {os.getloadavg()[0]:.2f}")


def accuracy(args: argparse.Namespace, out: Path, model: Path) -> None:
    """Steps 2-4 of the module docstring."""
    options = [item for kv in args.long_set for item in ("--set", kv)]
    data = build_recordings(out, f"long_seed{args.seed}{args.tag}", args.workers, "--seed", str(args.seed),
                            "--num-subjects", str(args.subjects), *options)
    evaluation = out / (f"eval_seed{args.seed}{args.tag}" + ("" if args.tta is None else f"_tta{args.tta}"))
    tta = [] if args.tta is None else ["--tta", str(args.tta)]
    load_before = os.getloadavg()
    _run(["spot-eval", "--data", str(data), "--checkpoint", str(model), "--face", "none", "--size", "128",
          "--out", str(evaluation), *EYES, *tta, "--no-progress"])
    load_after = os.getloadavg()
    m = json.loads((evaluation / "metrics.json").read_text())
    micro, tp, gt = m["micro"], m["recognition_tp"], m["recognition_annotated"]
    print(f"\n=== results (test seed {args.seed}, {m['videos']} recordings, {m['frames']} frames) ===")
    print(f"micro spotting: TP {micro['tp']} FP {micro['fp']} FN {micro['fn']}  P {micro['precision']:.3f}  "
          f"R {micro['recall']:.3f}  F1 {micro['f1']:.3f}   (target >= 0.75)")
    print(f"macro spotting F1 {m['macro']['f1']:.3f}; all intervals F1 {m['all']['f1']:.3f}")
    print(f"recognition UF1/UAR on TP intervals: {tp['uf1']:.3f} / {tp['uar']:.3f} (n={tp['n']}); "
          f"on annotated intervals: {gt['uf1']:.3f} / {gt['uar']:.3f} (n={gt['n']}); "
          f"difference {tp['uf1'] - gt['uf1']:+.3f} (target within 0.05)")
    print(f"STRS {m['strs']:.3f} (spotting F1 x analysis F1 {tp['analysis_f1']:.3f})")
    print(f"spot-eval: load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    if not args.no_speed:
        speed(data, model, args.tta)


def memory(args: argparse.Namespace, out: Path, model: Path) -> None:
    """Step 5 of the module docstring."""
    short = build_recordings(out, "memory_1x", args.workers, "--seed", "300", "--num-subjects", "1")
    longer = build_recordings(out, "memory_10x", args.workers, "--seed", "300", "--num-subjects", "1",
                              "--clips-per-subject", "60", "--set", "macro_per_recording=10",
                              "--set", "blinks_per_recording=40", "--set", "head_moves_per_recording=20",
                              "--set", "flicker_bursts_per_recording=10")
    for name, root in (("1x", short), ("10x", longer)):
        frames = next((root / "frames").glob("*/*"))
        n = len(list(frames.glob("*.png")))
        rss, wall = peak_rss(["analyze", "--frames", str(frames), "--fps", "200", "--checkpoint", str(model),
                              "--face", "none", "--size", "128", *EYES, "--out", str(out / f"memory_{name}_out"),
                              "--no-progress"])
        print(f"memory {name}: {n} frames ({n / 200:.0f} s at 200 fps): peak RSS {rss:.0f} MiB "
              f"(whole process, {wall:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
