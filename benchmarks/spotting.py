"""Apex-spotting error of :func:`causalnet.keyframes.spot_apex` on synthetic clips with exact ground truth.

Clips come from :mod:`causalnet.synth` (rendered in memory, nothing written to disk). For each clip the
apex is spotted (a) within the ground-truth onset–offset range (the paper's protocol, Sec. 4.2) and
(b) over the whole clip; the error is ``spotted - true apex`` in frames. For context the table also
shows the middle frame of the onset–offset range (the usual stand-in when no apex is annotated).

Usage::

    python benchmarks/spotting.py                          # synth preset "default", 6 x 8 clips
    python benchmarks/spotting.py --synth-preset hard --subjects 8 --clips 10
    python benchmarks/spotting.py --spotter-preset peaks --set blur_sigma=1.5
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import cv2
import numpy as np

from causalnet.config import parse_key_values
from causalnet.keyframes import SpotterConfig, spot_apex
from causalnet.synth import SynthConfig, make_subject, render_subject_clip


def _summary(errors: np.ndarray) -> str:
    a = np.abs(errors)
    return (
        f"mean |err| {a.mean():5.2f}  median {np.median(a):4.1f}  p90 {np.percentile(a, 90):5.1f}  "
        f"max {a.max():3d}  within 3 fr {np.mean(a <= 3):5.1%}  within 5 fr {np.mean(a <= 5):5.1%}  "
        f"bias {errors.mean():+5.2f}"
    )


def _pairs(items: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` as a dictionary (values parsed by the config's ``with_overrides``)."""
    try:
        return parse_key_values(items)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth-preset", default="default", choices=SynthConfig.preset_names())
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--clips", type=int, default=8, help="clips per subject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spotter-preset", default="default", choices=SpotterConfig.preset_names())
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="SpotterConfig overrides")
    parser.add_argument(
        "--synth-set", nargs="*", default=[], metavar="KEY=VALUE", help="SynthConfig overrides"
    )
    args = parser.parse_args(argv)

    synth = dataclasses.replace(
        SynthConfig.preset(args.synth_preset),
        n_subjects=args.subjects,
        clips_per_subject=args.clips,
        seed=args.seed,
    ).with_overrides(_pairs(args.synth_set))
    spotter = SpotterConfig.preset(args.spotter_preset).with_overrides(_pairs(args.set))

    in_range, whole, middle, lengths = [], [], [], []
    spot_seconds = 0.0
    for s in range(synth.n_subjects):
        subject = make_subject(synth, s)
        for k, spec in enumerate(subject.clips):
            frames = render_subject_clip(synth, subject, k).frames
            gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f for f in frames]
            t0 = time.perf_counter()
            in_range.append(spot_apex(gray, spec.onset, spec.offset, spotter) - spec.apex)
            spot_seconds += time.perf_counter() - t0
            whole.append(spot_apex(gray, None, None, spotter) - spec.apex)
            middle.append((spec.onset + spec.offset) // 2 - spec.apex)
            lengths.append(spec.offset - spec.onset + 1)

    n = len(in_range)
    changed = f" with {_pairs(args.synth_set)}" if args.synth_set else ""
    print(
        f"synthetic preset {args.synth_preset!r}{changed}: {n} clips, "
        f"{synth.image_size} px, {synth.fps:g} fps, "
        f"onset-offset length {np.mean(lengths):.1f} frames on average (seed {args.seed})"
    )
    print(f"spotter: {spotter.to_dict()}")
    print(f"spotted, search in [onset, offset]: {_summary(np.asarray(in_range))}")
    print(f"spotted, search in the whole clip : {_summary(np.asarray(whole))}")
    print(f"middle of [onset, offset]         : {_summary(np.asarray(middle))}")
    print(
        f"spotting time {1000 * spot_seconds / n:.1f} ms per clip (range search), "
        f"{platform.machine()}, {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
