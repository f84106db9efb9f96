"""Where fold jobs run: this process, a local process pool, or a Ray cluster.

Every backend takes jobs (:class:`~causalnet.engine.result.Job`) and the function that runs one
(``run_job``, e.g. :func:`causalnet.train.fold.run_fold`), and hands each finished
:class:`~causalnet.engine.result.FoldOutcome` back to the driver (``on_done``), which writes it; no
backend writes result files itself, so a Ray cluster needs no shared file system, and killing the
driver loses only the folds in flight (a rerun resumes). Backends know nothing of what a job trains.

- :class:`LocalBackend` with ``workers = 1`` runs folds in this process (per-epoch progress);
  with ``workers > 1`` a pool of spawned processes, each fold with ``threads`` torch threads.
- :class:`RayBackend` submits each fold as a Ray task asking for ``cpus_per_fold`` CPUs and
  ``gpus_per_fold`` GPUs (fractions let several small folds share one GPU). Large arrays that many
  jobs share (the same array object in a field of every job, e.g. a LOSO run's inputs) are put into
  Ray's object store once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from causalnet.engine.result import FoldKey, FoldOutcome, Job, RunJob

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "available_cpus", "make_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")

OnDone = Callable[["FoldOutcome"], None]
OnEpoch = Callable[["FoldKey", int], None]


def available_cpus() -> int:
    """CPUs this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Backend(Protocol):
    """Runs fold jobs and reports each finished one to ``on_done`` (in the driver process)."""

    #: torch threads each fold uses (recorded in the jobs).
    threads: int

    def run(self, jobs: Iterable[Job], run_job: RunJob, on_done: OnDone,
            on_epoch: OnEpoch | None = None) -> None: ...


@dataclasses.dataclass
class LocalBackend:
    """This machine: ``workers`` folds at a time (1 = in this process), ``threads`` torch threads per fold.

    ``threads = 0`` divides the CPUs among the workers.
    """

    workers: int = 1
    threads: int = 0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if not self.threads:
            self.threads = max(1, available_cpus() // self.workers)

    def run(self, jobs: Iterable[Job], run_job: RunJob, on_done: OnDone, on_epoch: OnEpoch | None = None) -> None:
        if self.workers == 1:
            for job in jobs:
                epoch_cb = (lambda e, key=job.key: on_epoch(key, e)) if on_epoch else None
                on_done(run_job(job, on_epoch=epoch_cb))
            return
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            _drain(jobs, lambda job: pool.submit(run_job, job), _wait_futures, self.workers + 1, on_done,
                   cancel=Future.cancel)


def _drain(jobs: Iterable[Job], submit: Callable[[Job], Any], wait_any: Callable[[list], tuple[list, list]],
           limit: int, on_done: OnDone, cancel: Callable[[Any], None] | None = None) -> None:
    """The one way jobs are kept in flight on any pool: at most ``limit`` submitted at a time (jobs are built
    lazily), each result reported as it finishes. ``submit(job)`` returns a handle; ``wait_any(handles)``
    blocks until some finish and returns (their outcomes, the handles still running); on an error
    (or Ctrl-C) ``cancel`` is called on every handle still running."""
    source: Iterator[Job] = iter(jobs)
    running: list = []
    try:
        while True:
            while len(running) < limit:
                job = next(source, None)
                if job is None:
                    break
                running.append(submit(job))
            if not running:
                return
            outcomes, running = wait_any(running)
            for outcome in outcomes:
                on_done(outcome)
    except BaseException:
        for handle in running if cancel is not None else ():
            cancel(handle)
        raise


def _wait_futures(running: list[Future]) -> tuple[list, list[Future]]:
    finished, pending = wait(running, return_when=FIRST_COMPLETED)
    return [fut.result() for fut in finished], list(pending)


@dataclasses.dataclass
class RayBackend:
    """A Ray cluster (``address``: ``auto``, ``HOST:PORT``, or None for a local instance started here).

    Args:
        address: cluster to join; None starts a local Ray instance with ``num_cpus`` CPUs.
        cpus_per_fold, gpus_per_fold: the resources each fold task asks for.
        num_cpus: CPUs of a local instance (default: this machine's).
        max_in_flight: tasks submitted ahead of the results (default: enough to keep the cluster busy).
    """

    address: str | None = None
    cpus_per_fold: float = 1.0
    gpus_per_fold: float = 0.0
    num_cpus: int | None = None
    max_in_flight: int | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if self.cpus_per_fold <= 0 or self.gpus_per_fold < 0:
            raise ValueError(f"--cpus-per-fold must be > 0 and --gpus-per-fold >= 0 "
                             f"(got {self.cpus_per_fold}, {self.gpus_per_fold})")
        if self.gpus_per_fold > 1 and not float(self.gpus_per_fold).is_integer():
            raise ValueError(f"--gpus-per-fold above 1 must be a whole number, got {self.gpus_per_fold}")
        self.threads = self.threads or max(1, math.ceil(self.cpus_per_fold))

    def _init(self) -> bool:
        try:
            import ray
        except ImportError:
            raise ValueError('--backend ray needs Ray: pip install "causalnet[ray]"') from None
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = self.num_cpus or available_cpus()
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise ValueError(f"--ray-address {self.address}: cannot connect to a Ray cluster ({exc})") from None
        if self.gpus_per_fold > 0 and not ray.cluster_resources().get("GPU"):
            ray.shutdown()
            raise ValueError(f"--gpus-per-fold {self.gpus_per_fold:g}: the Ray cluster has no GPUs")
        return True

    def run(self, jobs: Iterable[Job], run_job: RunJob, on_done: OnDone, on_epoch: OnEpoch | None = None) -> None:
        import ray

        started = self._init()
        try:
            task = ray.remote(num_cpus=self.cpus_per_fold, num_gpus=self.gpus_per_fold,
                              max_retries=0)(_ray_fold)
            shared: dict[int, tuple[np.ndarray, Any]] = {}  # id(array) -> (array kept alive, object ref)

            def submit(job: Job):
                refs = {}
                for name in _shared_fields(job):
                    value = getattr(job, name)
                    entry = shared.get(id(value))
                    if entry is None or entry[0] is not value:
                        entry = shared[id(value)] = (value, ray.put(value))
                    refs[name] = entry[1]
                # object refs as top-level arguments: Ray hands the task the arrays they name
                return task.remote(run_job, dataclasses.replace(job, **dict.fromkeys(refs)), tuple(refs),
                                   *refs.values())

            limit = self.max_in_flight or max(4, 2 * int(ray.cluster_resources().get("CPU", 1)
                                                        / self.cpus_per_fold))

            def wait_any(running: list) -> tuple[list, list]:
                ready, rest = ray.wait(running, num_returns=1)
                return [ray.get(ready[0])], rest

            _drain(jobs, submit, wait_any, limit, on_done)
        finally:
            if started:
                ray.shutdown()


#: arrays at least this large travel through Ray's object store (once per array object, not once per job)
SHARED_BYTES = 1 << 20


def _shared_fields(job: Job) -> list[str]:
    """Names of the job's dataclass fields holding large NumPy arrays (shipped once through the object store)."""
    import numpy as np

    return [f.name for f in dataclasses.fields(job)
            if isinstance(getattr(job, f.name), np.ndarray) and getattr(job, f.name).nbytes >= SHARED_BYTES]


def _ray_fold(run_job: RunJob, job: Job, names: tuple[str, ...], *arrays: np.ndarray) -> FoldOutcome:
    """A Ray task: the job with its shared (read-only) arrays copied back in, run by ``run_job``."""
    import numpy as np

    return run_job(dataclasses.replace(job, **{name: np.array(a) for name, a in zip(names, arrays, strict=True)}))


def make_backend(name: str = "local", *, workers: int | None = None, ray_address: str | None = None,
                 cpus_per_fold: float = 1.0, gpus_per_fold: float = 0.0) -> Backend:
    """The backend for ``--backend`` and its options (``workers`` None: one fold per CPU)."""
    if name == "local":
        if gpus_per_fold:
            raise ValueError("--gpus-per-fold applies to --backend ray; with --backend local use --workers")
        return LocalBackend(workers=available_cpus() if workers is None else workers)
    if name == "ray":
        return RayBackend(address=ray_address, cpus_per_fold=cpus_per_fold, gpus_per_fold=gpus_per_fold)
    raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
