"""``causalnet predict``: a trained checkpoint + a clip (frames or video) → class and probabilities."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    import numpy as np

    from causalnet.flow.config import PreprocessConfig

#: Class names by number of model outputs, when the checkpoint does not store its own.
DEFAULT_CLASS_NAMES = {
    3: ("negative", "positive", "surprise"),
    5: ("disgust", "fear", "happiness", "others", "surprise"),
}


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
        choices=("dlib", "none"),
        default="dlib",
        help="dlib: detect and align the face on the onset frame (default); none: frames are "
        "already cropped, aligned faces",
    )
    p.add_argument("--size", type=int, default=None, metavar="N", help="aligned face size in pixels (default 128)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch threads for the model (default 1: one clip is a tiny batch, and more threads "
        "only wait on each other when the machine is busy)",
    )
    p.add_argument(
        "--save-images",
        metavar="DIR",
        default=None,
        help="also write the four 28x28 images there (published naming, clip id 'clip')",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def _checkpoint_extra(path: str) -> dict:
    """The ``extra`` metadata of a safetensors checkpoint, read from its header without importing torch."""
    import struct
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        meta = header.get("__metadata__") or {}
        extra = json.loads(meta.get("extra", "{}"))
    except (struct.error, ValueError, OSError, MemoryError, OverflowError):
        raise ValueError(f"{path}: not a safetensors checkpoint") from None
    return extra if isinstance(extra, dict) else {}


def _config(args: argparse.Namespace, extra: dict) -> PreprocessConfig:
    from causalnet.flow.config import PreprocessConfig

    stored = extra.get("preprocess")
    cfg = PreprocessConfig.from_dict(stored) if isinstance(stored, dict) else PreprocessConfig()
    overrides = {"face_method": args.face}
    if args.size is not None:
        overrides["face_size"] = args.size
    return dataclasses.replace(cfg, **overrides)  # typed values: no string parsing ("none" stays "none")


def _class_names(extra: dict, n: int) -> list[str]:
    names = extra.get("class_names")
    if isinstance(names, list | tuple) and len(names) == n:
        return [str(x) for x in names]
    return list(DEFAULT_CLASS_NAMES.get(n, tuple(f"class {k}" for k in range(n))))


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
    extra = _checkpoint_extra(args.checkpoint)
    cfg = _config(args, extra)
    from causalnet.flow.face import require_face_backend

    require_face_backend(cfg)
    pool, job = _start_images(args, cfg)
    try:
        import numpy as np
        import torch

        torch.set_num_threads(max(1, args.threads))
        from einops import rearrange

        from causalnet.data.mosaic import facial_mosaic
        from causalnet.models import load_checkpoint

        model = load_checkpoint(args.checkpoint)
        images = job.result()  # [4, 28, 28, 3] uint8, BGR
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if args.save_images:
        from causalnet.data.builders.writer import write_clip_images

        write_clip_images(args.save_images, "predict", "clip", images)
    mosaic = np.stack([facial_mosaic(img) for img in images]).astype(np.float32)  # [4, 28, 28, 3], 0..255
    x = rearrange(mosaic, "n h w c -> 1 n c h w").copy()
    if extra.get("train", {}).get("mirror_tta"):  # trained with test-time mirror averaging: use it here too
        from causalnet.data.mirror import mirror_clips

        x = np.concatenate([x, mirror_clips(x)])
    with torch.inference_mode():
        probs = torch.softmax(model(torch.from_numpy(x)).float(), dim=-1).mean(dim=0).numpy()
    names = _class_names(extra, len(probs))
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
