"""Latency of ``causalnet predict`` on one clip of 100 frames, model loading included.

A clip of ``--frames`` JPEG frames (640x480, a drawn face dlib finds, brows and mouth moving to the
apex and back) and a checkpoint (a fresh ``CausalNet`` of ``--model-preset``, or ``--checkpoint``)
are written to a temporary folder. ``causalnet predict --json`` is then run ``--repeats`` times as
a separate process; for each run the table shows

- ``command``: the time the command reports, from the start of its ``run`` (torch import, model
  loading, face detection and landmarks, TV-L1 flow, inference);
- ``process``: the wall time of the whole process (adds Python start-up and the CLI import);
- ``CPU``: CPU time of the command's main process (``main``: Python start-up, torch import, model
  loading, inference) and of the whole process tree (``all``: adds the helper process that
  computes the images). On a shared machine the wall times stretch with the load; with two free
  cores the wall time approaches the larger of ``main`` and ``all − main`` (the two run at once).

Usage::

    python benchmarks/predict_latency.py                    # compact model, dlib faces, 100 frames
    python benchmarks/predict_latency.py --face none --video
    python benchmarks/predict_latency.py --checkpoint my_model.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from causalnet.flow.synthetic import cartoon_face, expression_frames


def write_clip(folder: Path, n_frames: int, face: str, video: bool) -> Path:
    """Frames (or one MJPG video) of a drawn face whose brow region rises and falls."""
    base = cartoon_face(480, 640, scale=1.0, seed=7)
    onset, apex, offset = 20, n_frames // 2, n_frames - 20
    frames = expression_frames(base, n_frames, onset, apex, offset, (280, 195), 20.0, (0.0, -2.0), noise_sigma=1.5)
    if face == "none":
        frames = [cv2.resize(f[40:440, 120:520], (128, 128), interpolation=cv2.INTER_AREA) for f in frames]
    if video:
        path = folder / "clip.avi"
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 100, (w, h))
        for f in frames:
            writer.write(f)
        writer.release()
        return path
    path = folder / "frames"
    path.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(path / f"img{i + 1}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--face", choices=("dlib", "none"), default="dlib")
    parser.add_argument("--video", action="store_true", help="give the clip as a video file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model-preset", default="compact", help="CausalNetConfig preset of the fresh model")
    parser.add_argument("--checkpoint", help="time this checkpoint instead of a fresh model")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="causalnet-predict-"))
    try:
        clip = write_clip(root, args.frames, args.face, args.video)
        ckpt = args.checkpoint
        if ckpt is None:
            from causalnet.models import CausalNet, CausalNetConfig, save_checkpoint

            ckpt = str(root / "model.safetensors")
            save_checkpoint(ckpt, CausalNet(CausalNetConfig.preset(args.model_preset)))
        size_mb = os.path.getsize(ckpt) / 1e6
        onset, apex, offset = 20, args.frames // 2, args.frames - 20
        cmd = [sys.executable, "-m", "causalnet.cli", "predict", "--checkpoint", ckpt,
               "--video" if args.video else "--frames", str(clip), "--onset", str(onset), "--apex", str(apex),
               "--offset", str(offset), "--face", args.face, "--json"]  # fmt: skip
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"clip {args.frames} frames 640x480{' video' if args.video else ''}, face {args.face}; "
            f"checkpoint {size_mb:.1f} MB ({args.checkpoint or args.model_preset}); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        commands, processes, mains, helpers = [], [], [], []
        for k in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_all = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if done.returncode != 0:
                raise SystemExit(f"predict failed: {done.stderr.strip()}")
            result = json.loads(done.stdout)
            commands.append(result["seconds"])
            processes.append(wall)
            mains.append(result["cpu_seconds"])
            helpers.append(cpu_all - result["cpu_seconds"])
            print(
                f"run {k + 1}: command {result['seconds']:.2f} s, process {wall:.2f} s; CPU main "
                f"{result['cpu_seconds']:.2f} s, all {cpu_all:.2f} s -> {result['class']}"
            )
        print(
            f"median of {args.repeats}: command {statistics.median(commands):.2f} s, "
            f"process {statistics.median(processes):.2f} s (min {min(commands):.2f} / {min(processes):.2f} s); "
            f"CPU main {statistics.median(mains):.2f} s, helper {statistics.median(helpers):.2f} s"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
