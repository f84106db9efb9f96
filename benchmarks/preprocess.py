"""Preprocessing throughput (clips/s) of ``causalnet preprocess`` from frames on disk.

A raw dataset in the generic layout is written to a temporary folder first (not timed): per clip,
``--frames`` JPEG frames of ``--height``×``--width`` with a drawn face (dlib finds it) whose brow
and mouth regions move to the apex and back. Then :func:`causalnet.data.builders.build_dataset` —
exactly what the command runs — builds it with each ``--workers`` value, from a fresh output
folder each time; the wall time includes starting the worker processes and loading dlib's models
in each. The CPU time the workers spent per clip is also shown, with the throughput it gives on
that many *free* cores (the machine may be shared: compare the load average printed). With
``--face none`` the frames are written as already-cropped ``--size`` px faces.

Usage::

    python benchmarks/preprocess.py               # 48 clips, dlib, 640x480 -> 128 px, workers 1 and 2
    python benchmarks/preprocess.py --face none --clips 96
    python benchmarks/preprocess.py --preset opencv   # OpenCV's own TV-L1 parameters
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from causalnet.data.builders import build_dataset, read_plan
from causalnet.flow import PreprocessConfig
from causalnet.flow.synthetic import cartoon_face, local_displacement

#: Moving regions of the drawn face at scale 1 relative to its centre: (x, y, dx, dy) at the apex.
MOTIONS = ((-40, -45, 0.8, -1.6), (40, -45, -0.8, -1.6), (-35, 70, -0.7, 0.8), (35, 70, 0.7, 0.8))


def _centre_square(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return cv2.resize(frame[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)


def write_dataset(
    root: Path, n_clips: int, n_frames: int, height: int, width: int, face: str, size: int
) -> None:
    """A generic-layout raw dataset of ``n_clips`` clips (8 subjects)."""
    lines = ["dataset,subject,clip,onset,apex,offset,label,fps"]
    scale = min(height / 480, width / 640)
    onset, apex, offset = 2, n_frames // 2, n_frames - 3
    for k in range(n_clips):
        rng = np.random.default_rng(k)
        subject = f"p{k % 8:02d}"
        base = cartoon_face(height, width, scale=scale, angle_deg=float(rng.uniform(-8, 8)), seed=k)
        moved = base
        for x, y, dx, dy in MOTIONS:
            gain = rng.uniform(0.5, 1.5)
            centre = (width / 2 + x * scale, height / 2 + y * scale)
            moved = local_displacement(moved, centre, 4 * scale, dx * gain, dy * gain, radius=8 * scale)
        if face == "none":  # already-cropped faces: the central square, resized
            base, moved = _centre_square(base, size), _centre_square(moved, size)
        folder = root / "frames" / subject / f"clip{k:03d}"
        folder.mkdir(parents=True)
        for i in range(n_frames):
            frame = moved if i == apex else base
            noisy = np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"img{i + 1}.jpg"), noisy, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines.append(f"bench,{subject},clip{k:03d},{onset},{apex},{offset},{k % 3},200")
    (root / "annotations.csv").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--frames", type=int, default=30, help="frames per clip on disk (3 are read)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--face", choices=("dlib", "none"), default="dlib")
    parser.add_argument("--size", type=int, default=128, help="aligned face size in pixels")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to time")
    parser.add_argument("--preset", default="default", choices=PreprocessConfig.preset_names())
    parser.add_argument("--keep", metavar="DIR", help="write the raw and built data here (kept)")
    args = parser.parse_args(argv)

    cfg = dataclasses.replace(
        PreprocessConfig.preset(args.preset), face_method=args.face, face_size=args.size
    )
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="causalnet-bench-"))
    try:
        raw = root / "raw"
        start = time.perf_counter()
        write_dataset(raw, args.clips, args.frames, args.height, args.width, args.face, args.size)
        print(
            f"wrote {args.clips} clips x {args.frames} frames "
            f"({args.height}x{args.width} JPEG{', face crops' if args.face == 'none' else ''}) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        plan = read_plan("generic", raw)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__}; face {args.face}, {args.size} px, preset {args.preset}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        for workers in (int(w) for w in args.workers.split(",")):
            out = root / f"out_w{workers}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            report = build_dataset(plan, out, cfg, workers=workers, progress=False)
            wall = time.perf_counter() - start
            assert report.built == args.clips and not report.failed, report.summary()
            cpu = report.cpu_seconds / args.clips
            print(
                f"workers {workers}: {args.clips} clips in {wall:6.2f} s -> {args.clips / wall:5.2f} clips/s "
                f"wall (incl. worker start and model loading); CPU {1000 * cpu:5.1f} ms/clip -> "
                f"{workers / cpu:5.2f} clips/s on {workers} free core(s)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
