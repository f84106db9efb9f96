"""The one fold engine every experiment runs on.

- :mod:`~causalnet.engine.fold` — :class:`FoldJob` (what a fold trains on), :class:`FoldResult` (what
  it leaves: per-member, per-epoch test probabilities, validation scores, optional features and
  experiment-specific extras) and :func:`run_fold`.
- :mod:`~causalnet.engine.store` — a run folder's fold files: paths, integrity on resume, lock, log.
- :mod:`~causalnet.engine.backends` — this process, a local process pool, or Ray.
- :mod:`~causalnet.engine.device` — ``--device auto|cpu|cuda|cuda:N``.
- :mod:`~causalnet.engine.runner` — :func:`run_folds`: pending folds → backend → stored results.

Exports are imported lazily (torch only when a fold runs), so command-line parsers can use the
constants (:data:`BACKENDS`, :data:`DEVICE_CHOICES`) cheaply.
"""

from causalnet._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("BACKENDS", "Backend", "LocalBackend", "RayBackend", "available_cpus", "make_backend"),
                    "backends"),
    **dict.fromkeys(("DEVICE_CHOICES", "check_device", "resolve_device"), "device"),
    **dict.fromkeys(("FoldJob", "FoldKey", "FoldOutcome", "FoldResult", "run_fold"), "fold"),
    **dict.fromkeys(("FoldProgress", "run_folds"), "runner"),
    **dict.fromkeys(("FoldStore", "RunLockedError"), "store"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
