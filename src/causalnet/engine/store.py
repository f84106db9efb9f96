"""A run folder's fold results: paths, integrity on resume, a lock against concurrent writers, a log.

Layout under the run folder::

    folds/[<group>/]run<r>/<subject>.npz              one FoldResult per finished fold
    checkpoints/[<group>/]run<r>/<subject>.safetensors   optional final weights of a fold
    run.log                                          one line per finished fold (time, key, seconds, where)
    .lock                                            held while a process trains into the folder

Every path part that comes from data (subject ids, group labels) passes
:func:`causalnet.checks.safe_path_part`, so no name can place a file outside the run folder. A fold
file is written atomically when its fold ends; on resume every existing fold file is read back and
checked, and a damaged one (e.g. truncated by a full disk) is reported, moved aside to
``<name>.damaged`` (nothing is deleted) and recomputed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from causalnet.checks import safe_path_part
from causalnet.engine.fold import FoldKey, FoldOutcome, FoldResult
from causalnet.io import atomic_path

__all__ = ["FoldStore", "RunLockedError"]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
LOG_NAME = "run.log"


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
        return self.out / "folds" / self._relative(key, ".npz")

    def checkpoint_path(self, key: FoldKey) -> Path:
        """The checkpoint file of ``key`` (written when the job asked for one)."""
        return self.out / "checkpoints" / self._relative(key, ".safetensors")

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
        """Append one timestamped line to the run folder's ``run.log``."""
        self.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(self.out / LOG_NAME, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")

    # -- exclusive access -------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder's lock: a second process training into it fails at once with a clear error.

        The lock is an advisory ``flock`` on ``.lock``: the operating system releases it when the
        holder exits, even when it is killed, so a stale lock never blocks a resume.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / LOCK_NAME
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            yield
            return
        fh = open(path, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise RunLockedError(f"{self.out}: another causalnet process ({holder}) is training into this "
                                     "folder; wait for it to finish or use another --out") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
            fh.flush()
            yield
        finally:
            fh.close()
