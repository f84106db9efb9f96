"""``causalnet predict``: a trained checkpoint + a clip (frames or video) → class and probabilities."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import TYPE_CHECKING

from causalnet.commands.options import add_device_option

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    import numpy as np

    from causalnet.flow.config import PreprocessConfig

FACE_METHODS = ("dlib", "none")  # = causalnet.flow.config.FACE_METHODS (not imported: keeps --help fast)


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
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint written by causalnet train")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", metavar="DIR", help="folder of the clip's frame images")
    src.add_argument("--video", metavar="FILE", help="video file of the clip")
    p.add_argument("--onset", type=int, required=True, metavar="I", help="onset frame index")
    p.add_argument("--apex", type=int, required=True, metavar="J", help="apex frame index")
    p.add_argument("--offset", type=int, required=True, metavar="K", help="offset frame index")
    p.add_argument(
        "--face",
        choices=FACE_METHODS,
        default=None,
        help="dlib: detect and align the face on the onset frame; none: frames are already cropped, aligned "
        "faces (default: what the checkpoint's training data used, else dlib)",
    )
    p.add_argument("--size", type=int, default=None, metavar="N",
                   help="aligned face size in pixels (default: the checkpoint's, else 128)")
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


def _config(args: argparse.Namespace, extra: dict) -> PreprocessConfig:
    """The preprocessing the checkpoint's training data used (stored by ``causalnet train --save-model``),
    with the command line's ``--face`` / ``--size`` overriding it."""
    from causalnet.flow.config import PreprocessConfig

    stored = extra.get("preprocess")
    cfg = PreprocessConfig.from_dict(stored) if isinstance(stored, dict) else PreprocessConfig()
    overrides = {}
    if args.face is not None:
        overrides["face_method"] = args.face
    if args.size is not None:
        overrides["face_size"] = args.size
    return dataclasses.replace(cfg, **overrides)  # typed values: no string parsing ("none" stays "none")


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
    from causalnet.engine.device import check_device_syntax
    from causalnet.inference import read_checkpoint_metadata

    device = check_device_syntax(args.device)  # no torch import yet

    extra = read_checkpoint_metadata(args.checkpoint)["extra"]  # no torch import yet
    cfg = _config(args, extra)
    from causalnet.flow.face import require_face_backend

    require_face_backend(cfg)
    pool, job = _start_images(args, cfg)
    try:
        import numpy as np
        import torch

        torch.set_num_threads(max(1, args.threads))
        from causalnet import inference
        from causalnet.engine.device import resolve_device
        from causalnet.models import load_checkpoint

        device = resolve_device(device)  # a clear error for CUDA where there is none, before the model loads
        model = load_checkpoint(args.checkpoint)
        images = job.result()  # [4, 28, 28, 3] uint8, BGR
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if args.save_images:
        from causalnet.data.builders.writer import write_clip_images

        write_clip_images(args.save_images, "predict", "clip", images)
    x = inference.images_to_input(images[None])  # [1, 4, 3, 28, 28], 0..255
    probs = inference.predict_proba(model, x, mirror=inference.uses_mirror_tta(extra), device=device)[0]
    names = inference.class_names(extra, len(probs))
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
                    "checkpoint": str(args.checkpoint),
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
