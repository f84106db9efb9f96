"""``causalnet convert``: the authors' released checkpoints (``<subject>.pth``) -> our checkpoints or a run folder.

- ``--reference FILE.pth --out FILE.safetensors``: one reference state dict -> a checkpoint that
  :func:`causalnet.models.load_checkpoint` and ``causalnet predict`` read.
- ``--reference DIR --data COMPOSITE_DIR --out RUN_DIR``: every ``DIR/<subject>.pth`` (one LOSO fold
  each) is converted and evaluated on that subject's clips; the run folder holds ``config.json``,
  ``predictions.csv`` (``run, subject, dataset, clip, label, pred, p0..``) and ``metrics.json``
  (per-dataset table, protocol ``released``) and is read by ``causalnet evaluate RUN_DIR``. Subjects of
  the data without a file are listed as missing (printed and recorded), never dropped silently.
  Per-subject results are kept in ``RUN_DIR/released/<subject>.npz``: a rerun skips finished subjects.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from causalnet.commands.options import add_config_option, add_device_option, show_progress

log = logging.getLogger(__name__)

#: the epoch-selection label of a run folder of released weights: one prediction per clip, no epochs.
PROTOCOL = "released"
SUFFIX = ".pth"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``convert`` sub-command."""
    p = subparsers.add_parser(
        "convert",
        help="convert the authors' released checkpoints (<subject>.pth) and evaluate them",
        description="Convert one reference state dict to a causalnet checkpoint (--out FILE.safetensors), or a "
                    "folder of per-subject <subject>.pth files into a run folder evaluated on --data "
                    "(--out RUN_DIR; read it with `causalnet evaluate RUN_DIR`). Files are loaded with "
                    "torch.load(weights_only=True): no code is unpickled.",
    )
    p.add_argument("--reference", required=True, metavar="PATH", help="a <subject>.pth file or a folder of them")
    p.add_argument("--out", required=True, metavar="PATH", help="FILE.safetensors (one file) or RUN_DIR (a folder)")
    p.add_argument("--data", metavar="DIR", help="composite-layout data to evaluate a folder of checkpoints on")
    add_device_option(p, "converted models are evaluated (a folder with --data)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_config_option(p, "convert")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from causalnet.checks import check_output_dir

    reference = Path(args.reference)
    if reference.is_dir():
        if not args.data:
            raise ValueError(f"{reference}: a folder of <subject>.pth files needs --data COMPOSITE_DIR to evaluate on")
        from causalnet.device import check_device

        out = check_output_dir(args.out)  # before any work
        device = check_device(args.device)
        return convert_folder(reference, Path(args.data), out, progress=show_progress(args), device=device)
    if not reference.is_file():
        raise FileNotFoundError(f"{reference}: no such file or folder")
    if args.data:
        raise ValueError("--data is for a folder of <subject>.pth files; one file converts to --out FILE.safetensors")
    check_output_dir(Path(args.out).parent, "--out's folder")
    from causalnet.checks import check_outputs_apart
    from causalnet.commands.train import check_model_output

    check_outputs_apart([("--out", args.out)], [("--reference", reference)])
    check_model_output(args.out, "--out")
    return convert_file(reference, Path(args.out))


def convert_file(path: Path, out: Path) -> int:
    """One reference ``.pth`` -> one causalnet checkpoint."""
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; one checkpoint converts to --out FILE.safetensors")
    from causalnet.models import load_reference, save_checkpoint
    from causalnet.models.format import class_names

    model = load_reference(path)
    extra = {"class_names": class_names({}, model.config.num_classes), "converted_from": str(path.resolve()),
             "source": "reference state dict (shared/reference/README.md)"}
    save_checkpoint(out, model, extra=extra)
    print(f"converted {path} ((l1, l2, l3) = {model.config.depths}, gamma {model.config.gamma:g}, "
          f"{model.config.num_classes} classes) to {out.resolve()}")
    return 0


def convert_folder(folder: Path, data: Path, out: Path, progress: bool = True, device: str = "auto") -> int:
    """Every ``folder/<subject>.pth`` evaluated on its subject's clips of ``data`` -> run folder ``out``.

    ``device``: where the models run (``auto|cpu|cuda|cuda:N``)."""
    import numpy as np
    from tqdm.auto import tqdm

    from causalnet import __version__
    from causalnet.checks import safe_path_part
    from causalnet.data import load_composite
    from causalnet.eval import metrics_from_rows, metrics_table, predictions_csv
    from causalnet.io import write_json_atomic, write_text_atomic

    files = {safe_path_part(p.stem, what="subject id", source=p): p
             for p in sorted(folder.iterdir()) if p.suffix == SUFFIX and p.is_file()}
    if not files:
        raise ValueError(f"{folder}: no <subject>{SUFFIX} files")
    clips = load_composite(data)
    subjects = clips.subject_list()
    todo = [s for s in subjects if s in files]
    missing = [s for s in subjects if s not in files]
    unmatched = [s for s in files if s not in set(subjects)]
    if not todo:
        raise ValueError(f"{folder}: none of its {len(files)} file(s) names a subject of {data} "
                         f"(e.g. {next(iter(files))}{SUFFIX}; subjects look like {subjects[0]!r})")
    from causalnet.engine.store import FoldStore

    store = FoldStore(out)
    config_path = out / "config.json"
    record = {"causalnet_version": __version__, "experiment": {"protocol": PROTOCOL, "model_name": "causalnet"},
              "data": str(clips.root), "reference": str(folder.resolve()), "runs": 1, "subjects": todo,
              "missing_subjects": missing, "unmatched_files": [f"{s}{SUFFIX}" for s in unmatched]}
    old = store.read_config()
    if old is not None:
        if (old.get("experiment", {}).get("protocol"), old.get("data"), old.get("reference")) != (
                PROTOCOL, record["data"], record["reference"]):
            raise ValueError(f"{config_path}: this run folder holds another run; use a new --out folder")
    store.write_config("released", record)
    rows = []
    with tqdm(todo, desc="released weights", unit="subject", disable=not progress, dynamic_ncols=True) as bar:
        for subject in bar:
            bar.set_postfix_str(subject)
            mask = clips.subjects == subject
            probs = _subject_probs(files[subject], out / "released" / f"{subject}.npz", clips.x[mask],
                                   clips.num_classes, device)
            for clip, label, dataset, p in zip(clips.clips[mask].tolist(), clips.y[mask].tolist(),
                                               clips.datasets[mask].tolist(), probs, strict=True):
                rows.append({"run": 0, "subject": subject, "dataset": dataset, "clip": clip, "label": int(label),
                             "pred": int(np.argmax(p)), "probs": [float(v) for v in p]})
    write_text_atomic(out / "predictions.csv", predictions_csv(rows, clips.num_classes))
    metrics = {**metrics_from_rows(rows, PROTOCOL), "missing_subjects": missing}
    write_json_atomic(out / "metrics.json", metrics)
    print(metrics_table(metrics))
    n_missing = int(np.isin(clips.subjects, missing).sum())
    if missing:
        print(f"\nmissing: {len(missing)} of {len(subjects)} subjects have no {SUFFIX} file in {folder} "
              f"({n_missing} clips not evaluated): {', '.join(missing)}")
    if unmatched:
        print(f"ignored: {len(unmatched)} file(s) name no subject of {data}: "
              f"{', '.join(f'{s}{SUFFIX}' for s in unmatched)}")
    print(f"\nrun folder: {out.resolve()} (config.json, predictions.csv, metrics.json)")
    return 0


def _subject_probs(path: Path, cache: Path, x, num_classes: int, device: str = "auto"):
    """Probabilities of one subject's clips under its fold checkpoint (kept in ``cache``; reused while the
    checkpoint file is unchanged)."""
    import numpy as np

    from causalnet.inference import predict_proba
    from causalnet.io import atomic_path

    stat = path.stat()
    stamp = np.array([stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if np.array_equal(z["stamp"], stamp) and z["probs"].shape == (len(x), num_classes):
                    log.info("%s: reused %s", path, cache)
                    return z["probs"]
        except (OSError, ValueError, KeyError):
            log.warning("%s: unreadable; recomputing", cache)
    from causalnet.models import load_reference

    model = load_reference(path)
    if model.config.num_classes != num_classes:
        raise ValueError(f"{path}: the model has {model.config.num_classes} classes, the data {num_classes}")
    probs = predict_proba(model, x, device=device)  # the reference predicts each clip once (no mirror averaging)
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, probs=probs, stamp=stamp)
    return probs
