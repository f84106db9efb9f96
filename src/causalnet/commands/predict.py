"""``causalnet predict``: a trained checkpoint + a clip (frames or video) → class and probabilities."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from causalnet.commands.options import add_device_option, add_face_options, checkpoint_preprocess

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    import numpy as np

    from causalnet.flow.config import PreprocessConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        help="classify one clip (frame folder or video) with a trained checkpoint",
        description=(
            "Compute CausalNet's four input images from the clip's onset, apex and offset frames (face "
            "alignment, TV-L1 flow, direction maps; as `causalnet preprocess` does) and print the predicted "
            "class and the class probabilities. Frame indexes count from 0 (natural sort order for a folder)."
        ),
    )
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="a checkpoint written by causalnet train (default: the shipped model compact-composite, "
                        "research use; see `causalnet models`)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", metavar="DIR", help="folder of the clip's frame images")
    src.add_argument("--video", metavar="FILE", help="video file of the clip")
    p.add_argument("--onset", type=int, required=True, metavar="I", help="onset frame index")
    p.add_argument("--apex", type=int, required=True, metavar="J", help="apex frame index")
    p.add_argument("--offset", type=int, required=True, metavar="K", help="offset frame index")
    add_face_options(p, "detect and align the face on the onset frame")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch threads for the model (default 1: one clip is a tiny batch, and more threads "
        "only wait on each other when the machine is busy)",
    )
    add_device_option(p, "model runs")
    p.add_argument(
        "--save-images",
        metavar="DIR",
        default=None,
        help="also write the four 28x28 images there (published naming, clip id 'clip')",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def _clip_images(
    frames: str | None, video: str | None, onset: int, apex: int, offset: int, cfg: PreprocessConfig
) -> np.ndarray:
    """The four images ``[4, 28, 28, 3]`` uint8 of the clip (runs in a helper process)."""
    from causalnet.flow.frames import FrameFolder, VideoFile
    from causalnet.flow.pipeline import images_from_source

    source = FrameFolder(frames) if frames else VideoFile(video)
    return images_from_source(source, onset, apex, offset, cfg)


def _start_images(args: argparse.Namespace, cfg: PreprocessConfig) -> tuple[Executor, Future]:
    """Start computing the clip's images in a helper process, so that face detection and optical
    flow overlap with importing torch and loading the model (both cores busy)."""
    import concurrent.futures

    from causalnet.flow.parallel import process_context

    job = (args.frames, args.video, args.onset, args.apex, args.offset, cfg)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=process_context())
    return pool, pool.submit(_clip_images, *job)


def run(args: argparse.Namespace) -> int:
    """Preprocess the clip, run the model, print the prediction."""
    start = time.perf_counter()
    from causalnet.flow.frames import FrameFolder, VideoFile

    source = FrameFolder(args.frames) if args.frames else VideoFile(args.video)  # early, clear errors
    if not args.onset < args.offset or not args.onset <= args.apex <= args.offset:
        raise ValueError(
            f"key-frames must satisfy onset <= apex <= offset and onset < offset "
            f"(got {args.onset}, {args.apex}, {args.offset})"
        )
    if isinstance(source, FrameFolder):
        source.check_indexes((args.onset, args.apex, args.offset))
    if args.save_images:
        from causalnet.checks import check_output_dir

        check_output_dir(args.save_images, "--save-images")  # before any work
    from causalnet.device import check_device_syntax
    from causalnet.models.format import read_checkpoint_metadata

    device = check_device_syntax(args.device)  # no torch import yet

    checkpoint = args.checkpoint
    if checkpoint is None:
        from causalnet.models.shipped import shipped_checkpoint, shipped_notice

        checkpoint = shipped_checkpoint()
        print(shipped_notice(), file=sys.stderr if args.json else sys.stdout)  # --json: stdout is the JSON alone
    extra = read_checkpoint_metadata(checkpoint)["extra"]  # no torch import yet
    cfg = checkpoint_preprocess(extra, args.face, args.size)
    from causalnet.flow.face import require_face_backend

    require_face_backend(cfg)
    pool, job = _start_images(args, cfg)
    try:
        import numpy as np
        import torch

        torch.set_num_threads(max(1, args.threads))
        from causalnet.data.mosaic import images_to_input
        from causalnet.device import resolve_device
        from causalnet.inference import predict_proba
        from causalnet.models import load_checkpoint
        from causalnet.models.format import class_names, uses_mirror_tta

        device = resolve_device(device)  # a clear error for CUDA where there is none, before the model loads
        model = load_checkpoint(checkpoint)
        images = job.result()  # [4, 28, 28, 3] uint8, BGR
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if args.save_images:
        from causalnet.data.builders.writer import write_clip_images

        write_clip_images(args.save_images, "predict", "clip", images)
    x = images_to_input(images[None])  # [1, 4, 3, 28, 28], 0..255
    probs = predict_proba(model, x, mirror=uses_mirror_tta(extra), device=device)[0]
    names = class_names(extra, len(probs))
    best = int(np.argmax(probs))
    seconds = time.perf_counter() - start
    if args.json:
        print(
            json.dumps(
                {
                    "class": names[best],
                    "label": best,
                    "probabilities": {n: round(float(p), 6) for n, p in zip(names, probs, strict=True)},
                    "source": str(source.path),
                    "onset": args.onset,
                    "apex": args.apex,
                    "offset": args.offset,
                    "checkpoint": str(checkpoint),
                    "shipped": args.checkpoint is None,
                    "seconds": round(seconds, 3),
                    "cpu_seconds": round(time.process_time(), 3),
                }
            )
        )
    else:
        print(f"prediction: {names[best]} (class {best})")
        width = max(len(n) for n in names)
        for k, (n, p) in enumerate(zip(names, probs, strict=True)):
            print(f"  {k} {n:<{width}}  {p:.4f}")
        print(f"({source.path}, frames {args.onset}/{args.apex}/{args.offset}; {seconds:.2f} s)")
    return 0
