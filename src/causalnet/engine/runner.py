"""Run an experiment's pending folds on a backend and store what comes back.

:func:`run_folds` is the one place where fold jobs are executed: it takes the run folder's lock,
skips folds whose result file is sound (damaged ones are recomputed), builds the remaining jobs
lazily, runs them on the backend with the experiment's job function and writes each result as it
arrives. Experiments (:class:`causalnet.train.LosoRun`, :class:`causalnet.robustness.RobustnessRun`,
:class:`causalnet.train.sweep.SweepRun`) only say which folds exist, what each one trains on and
which function trains one (:func:`causalnet.train.fold.run_fold`); the engine never imports them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

from causalnet.device import check_device_syntax, resolve_device
from causalnet.engine.backends import Backend, LocalBackend
from causalnet.engine.result import FoldKey, FoldOutcome, Job, RunJob
from causalnet.engine.store import FoldStore
from causalnet.io import clean_stale_temp_files

__all__ = ["FoldProgress", "run_folds"]

log = logging.getLogger(__name__)


class FoldProgress:
    """One progress bar over every fold of a run (all runs, models or candidates), with an ETA.

    Folds run in this process fill the bar epoch by epoch; folds run elsewhere fill it when they finish.
    The count shown is of whole finished folds (``3/10 folds``). Disabled (no bar) unless ``enabled``;
    the command line enables it only when stderr is a terminal. Each finished fold is also logged (INFO),
    so a redirected run with ``-v`` shows one line per fold instead of a bar.
    """

    def __init__(self, total: int, desc: str = "folds", enabled: bool = False) -> None:
        from tqdm.auto import tqdm

        self.total, self.desc, self.finished = total, desc, 0
        self.bar = tqdm(total=total, desc=desc, unit="fold", disable=not enabled, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]")
        self.bar.set_postfix_str(self._count(), refresh=False)
        self._partial: dict[FoldKey, float] = {}
        self._epochs: dict[FoldKey, int] = {}

    def _count(self, last: FoldKey | None = None) -> str:
        return f"{self.finished}/{self.total} folds" + (f", last {last}" if last is not None else "")

    def expect(self, key: FoldKey, epochs: int) -> None:
        self._epochs[key] = epochs

    def epoch(self, key: FoldKey, epoch: int) -> None:
        step = 1.0 / max(1, self._epochs.get(key, 1))
        self._partial[key] = self._partial.get(key, 0.0) + step
        self.bar.update(step)

    def done(self, outcome: FoldOutcome) -> None:
        self.finished += 1
        self.bar.set_postfix_str(self._count(outcome.key), refresh=False)
        self.bar.update(1.0 - self._partial.pop(outcome.key, 0.0))
        log.info("%s: %d/%d folds done (last %s)", self.desc, self.finished, self.total, outcome.key)

    def close(self) -> None:
        self.bar.close()


def run_folds(store: FoldStore, keys: Sequence[FoldKey], make_job: Callable[[FoldKey], Job], run_job: RunJob, *,
              backend: Backend | None = None, device: str = "cpu", progress: bool = False,
              desc: str = "folds", on_done: Callable[[FoldOutcome], None] | None = None) -> int:
    """Train every fold of ``keys`` that has no sound result in ``store``; returns how many were trained.

    Args:
        store: the run folder's fold store (its lock is held throughout).
        keys: every fold of the experiment, in the order they should run.
        make_job: builds the job of one key (called lazily, just before the job is submitted).
        run_job: runs one job where the backend sends it (a module-level function, so that it pickles).
        backend: where jobs run (default: this process).
        device: ``auto|cpu|cuda|cuda:N``. Resolved once, where the jobs run: here for a local backend
            (before any work; jobs carry the concrete device), on each task's machine for a cluster.
        progress: show one progress bar over the pending folds.
        on_done: also called with each outcome after it is stored.
    """
    backend = backend or LocalBackend()
    device = check_device_syntax(device) if _remote(backend) else str(resolve_device(device))
    with store.lock():
        for stale in clean_stale_temp_files(store.out, older_than=0):  # we hold the folder: no writer is live
            log.info("removed %s, left by an interrupted write", stale)
        todo = store.pending(keys)
        done = len(keys) - len(todo)
        if done:
            log.info("%s: %d finished fold(s) found, %d to train", store.out, done, len(todo))
        if not todo:
            return 0
        bar = FoldProgress(len(todo), desc, progress)
        store.log(f"start: {len(todo)} fold(s) to train on {type(backend).__name__} "
                  f"(threads per fold {backend.threads}, device {device})")
        start = time.perf_counter()

        def jobs():
            for key in todo:
                job = dataclasses.replace(make_job(key), device=device, threads=backend.threads)
                bar.expect(key, job.epochs)
                yield job

        def finished(outcome: FoldOutcome) -> None:
            store.save(outcome)
            bar.done(outcome)
            if on_done is not None:
                on_done(outcome)

        try:
            backend.run(jobs(), run_job, finished, bar.epoch)
        finally:
            bar.close()
        store.log(f"finished: {len(todo)} fold(s) in {time.perf_counter() - start:.1f} s")
    return len(todo)


def _remote(backend: Backend) -> bool:
    """A backend whose folds may run on other machines (their devices are checked there)."""
    return getattr(backend, "address", None) is not None
