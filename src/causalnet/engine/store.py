"""A run folder, owned here: its layout, fold results, integrity on resume, a lock against concurrent
writers, a log, ``config.json`` with the run's kind, and the read API that reports and evaluation use
(no other module builds a path inside a run folder).

Layout under the run folder::

    config.json                                      the experiment; its "kind" (train, sweep, robustness, ...)
    folds/[<group>/]run<r>/<subject>.npz              one FoldResult per finished fold
    checkpoints/[<group>/]run<r>/<subject>.safetensors   optional final weights of a fold
    run.log                                          one line per finished fold (time, key, seconds, where)
    .lock                                            held while a process trains into the folder

Every path part that comes from data (subject ids, group labels) passes
:func:`causalnet.checks.safe_path_part`, so no name can place a file outside the run folder, and a
folder holding a symbolic link is refused before any work (:mod:`causalnet.folders`): nothing is
written, truncated or deleted through a link. A fold file is written atomically when its fold ends;
on resume every existing fold file is read back and checked, and a damaged one (e.g. truncated by a
full disk) is reported, moved aside to ``<name>.damaged`` (nothing is deleted) and recomputed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from causalnet.checks import safe_path_part
from causalnet.engine.result import FoldKey, FoldOutcome, FoldResult
from causalnet.folders import LockHeldError, append_line, file_lock, refuse_symlinks
from causalnet.io import atomic_path, read_json, write_json_atomic
from causalnet.provenance import provenance

__all__ = ["FoldStore", "RunLockedError"]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
LOG_NAME = "run.log"
CONFIG_NAME = "config.json"
FOLDS, CHECKPOINTS = "folds", "checkpoints"


class RunLockedError(ValueError):
    """Another process is training into the same run folder."""


class FoldStore:
    """The fold results of one run folder (see the module docstring)."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self._checked: dict[Path, tuple[int, int]] = {}

    # -- paths -----------------------------------------------------------------------------------
    def _relative(self, key: FoldKey, suffix: str) -> Path:
        parts = [safe_path_part(key.group, what="group")] if key.group else []
        subject = safe_path_part(key.subject, what="subject id")
        return Path(*parts, f"run{int(key.run)}", subject + suffix)

    def path(self, key: FoldKey) -> Path:
        """The fold file of ``key``."""
        return self.out / FOLDS / self._relative(key, ".npz")

    def checkpoint_path(self, key: FoldKey) -> Path:
        """The checkpoint file of ``key`` (written when the job asked for one)."""
        return self.out / CHECKPOINTS / self._relative(key, ".safetensors")

    # -- reading a finished (or partly finished) folder -------------------------------------------
    def stored_keys(self, group: str | None = "") -> list[FoldKey]:
        """The keys of the fold files present, sorted (``group``: only that group, ``""`` the plain LOSO
        folds; None: every group). Files whose names are not fold keys are ignored."""
        root = self.out / FOLDS
        if not root.is_dir():
            return []
        keys = []
        for path in root.rglob("*.npz"):
            parts = path.relative_to(root).parts
            if len(parts) not in (2, 3) or not parts[-2].startswith("run") or not parts[-2][3:].isdigit():
                continue
            key = FoldKey(parts[0] if len(parts) == 3 else "", int(parts[-2][3:]), path.stem)
            if group is None or key.group == group:
                keys.append(key)
        return sorted(keys)

    def has_folds(self) -> bool:
        """Whether the folder holds any fold file."""
        return bool(self.stored_keys(None))

    def read_config(self) -> dict[str, Any] | None:
        """``config.json`` (None when absent); a ``ValueError`` naming it when it is not a JSON object."""
        path = self.out / CONFIG_NAME
        if not path.is_file():
            return None
        record = read_json(path)
        if not isinstance(record, dict):
            raise ValueError(f"{path}: must hold a JSON object")
        return record

    def write_config(self, kind: str, record: dict[str, Any]) -> None:
        """Write ``config.json`` atomically, with the run's ``kind`` recorded explicitly (what readers trust)
        and its ``provenance`` (the command line, the package version, the commit when known:
        :func:`causalnet.provenance.provenance`; never compared on resume); a folder holding a symbolic link
        is refused first."""
        self.check_contained()
        body = {k: v for k, v in record.items() if k != "kind"}
        body.setdefault("provenance", provenance())
        write_json_atomic(self.out / CONFIG_NAME, {"kind": kind, **body})

    def kind(self) -> str | None:
        """The run kind ``config.json`` records (None: no config, or one written before kinds were recorded)."""
        record = self.read_config()
        return str(record["kind"]) if record and record.get("kind") else None

    # -- state -----------------------------------------------------------------------------------
    def done(self, key: FoldKey) -> bool:
        """True when ``key`` has a sound fold file; a damaged one is moved aside (and reported)."""
        path = self.path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._checked.get(path) == stamp:
            return True
        try:
            FoldResult.load(path)
        except ValueError as exc:
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)
            log.warning("%s; moved to %s, the fold will be recomputed", exc, aside.name)
            return False
        self._checked[path] = stamp
        return True

    def pending(self, keys: Iterable[FoldKey]) -> list[FoldKey]:
        """The keys without a sound fold file, in the given order."""
        return [k for k in keys if not self.done(k)]

    def load(self, key: FoldKey) -> FoldResult:
        return FoldResult.load(self.path(key))

    def save(self, outcome: FoldOutcome) -> Path:
        """Write a finished fold (result, optional checkpoint) atomically and log it; returns the fold path."""
        if outcome.checkpoint is not None:
            with atomic_path(self.checkpoint_path(outcome.key)) as tmp:
                tmp.write_bytes(outcome.checkpoint)
        path = self.path(outcome.key)
        outcome.result.save(path)
        stat = path.stat()
        self._checked[path] = (stat.st_mtime_ns, stat.st_size)
        self.log(f"fold {outcome.key} done in {outcome.seconds:.1f} s on {outcome.device} ({outcome.worker})")
        return path

    def log(self, message: str) -> None:
        """Append one timestamped line to the run folder's ``run.log`` (never through a symbolic link)."""
        self.out.mkdir(parents=True, exist_ok=True)
        append_line(self.out / LOG_NAME, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}")

    # -- exclusive access -------------------------------------------------------------------------
    def check_contained(self) -> None:
        """Refuse (before any work) a run folder that holds a symbolic link anywhere (:mod:`causalnet.folders`)."""
        refuse_symlinks(self.out, "run folder")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder's lock: a second process training into it fails at once with a clear error.

        The lock is an advisory ``flock`` on ``.lock`` (:func:`causalnet.folders.file_lock`): the operating
        system releases it when the holder exits, even when it is killed, so a stale lock never blocks a
        resume. The folder is checked for symbolic links first.
        """
        self.check_contained()
        try:
            with file_lock(self.out / LOCK_NAME, wait=False, note=True):
                yield
        except LockHeldError as exc:
            raise RunLockedError(f"{self.out}: another causalnet process ({exc.holder}) is training into this "
                                 "folder; wait for it to finish or use another --out") from None
