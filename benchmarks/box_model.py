"""Rebuild and score the shipped model ``compact-composite`` (src/causalnet/weights/, docs/box-model.md).

    python benchmarks/box_model.py --data ../shared/data/composite            # retrain (≈ 4 min, 2 cores), score
    python benchmarks/box_model.py --data ../shared/data/composite --score-only  # score the shipped file only

Retraining is exactly ``causalnet train --data DATA --preset compact --save-model
src/causalnet/weights/compact-composite.safetensors`` (one model on every clip, the preset's seed 2025,
deterministic on one machine). Scoring prints the training-set accuracy, UF1 and UAR of the file on the
composite (every clip is a training clip: not an estimate of accuracy on new subjects; the card gives the
recipe's leave-one-subject-out figures for that), per source dataset, the file's size and the SHA-256 of its
weights (:func:`weights_digest`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "causalnet" / "weights" / "compact-composite.safetensors"


def weights_digest(path: Path) -> str:
    """SHA-256 of the tensors (names, dtypes, shapes, bytes, in name order): the same for two rebuilds with the
    same weights, unlike the file's own hash (safetensors writes its metadata entries in no fixed order)."""
    import torch
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, tensor in sorted(load_file(str(path)).items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def training_set_scores(path: Path, data: Path) -> dict:
    """Accuracy / UF1 / UAR of the checkpoint at ``path`` on every clip of ``data`` (mirror averaging as stored)."""
    import numpy as np

    from causalnet.data import load_composite
    from causalnet.eval.metrics import grouped_metrics
    from causalnet.inference import predict_proba
    from causalnet.models import load_checkpoint
    from causalnet.models.format import uses_mirror_tta

    model = load_checkpoint(path)
    clips = load_composite(data)
    probs = predict_proba(model, clips.x, mirror=uses_mirror_tta(model.extra))
    pred = np.argmax(probs, axis=1)
    names = list(dict.fromkeys(clips.datasets.tolist()))
    return grouped_metrics(clips.y, pred, clips.datasets, names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "composite"),
                    help="the composite in the published layout (default ../shared/data/composite)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="checkpoint to write (default: the shipped file)")
    ap.add_argument("--score-only", action="store_true", help="do not retrain; score the file at --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.score_only:
        from causalnet.cli import main as cli

        code = cli(["train", "--data", args.data, "--preset", "compact", "--save-model", str(out)])
        if code:
            return code
    scores = training_set_scores(out, Path(args.data))
    print(json.dumps({"file": str(out), "bytes": out.stat().st_size, "weights_sha256": weights_digest(out),
                      "training_set": {k: {m: round(v, 4) if isinstance(v, float) else v for m, v in s.items()}
                                       for k, s in scores.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
