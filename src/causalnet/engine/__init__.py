"""The one fold engine every experiment runs on: a generic fold runner that knows fold keys, results,
the run folder and the backends — and nothing of models or training (the experiment hands it the
function that runs a job).

- :mod:`~causalnet.engine.result` — :class:`FoldKey`, :class:`FoldResult` (what a fold leaves:
  per-member, per-epoch test probabilities, validation scores, optional features and
  experiment-specific extras), :class:`FoldOutcome` and the :class:`Job` protocol.
- :mod:`~causalnet.engine.store` — the one owner of a run folder's layout: fold files, checkpoints,
  ``config.json`` (with the run kind), integrity on resume, lock, log, and the read API reports use.
- :mod:`~causalnet.engine.backends` — this process, a local process pool, or Ray.
- :mod:`~causalnet.engine.runner` — :func:`run_folds`: pending folds → backend → stored results.

Exports are imported lazily, so command-line parsers can use the constant :data:`BACKENDS` cheaply.
"""

from causalnet._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("BACKENDS", "Backend", "LocalBackend", "RayBackend", "available_cpus", "make_backend"),
                    "backends"),
    **dict.fromkeys(("FoldKey", "FoldOutcome", "FoldResult", "Job", "RunJob"), "result"),
    **dict.fromkeys(("FoldProgress", "run_folds"), "runner"),
    **dict.fromkeys(("FoldStore", "RunLockedError"), "store"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
