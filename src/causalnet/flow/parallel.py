"""Worker processes for preprocessing that are safe next to OpenCV's thread pool.

A process that has run OpenCV (which starts a thread pool) must not ``fork`` workers: the child
inherits the pool's locks but not its threads and hangs at its first parallel OpenCV call. Workers
are therefore started with ``forkserver`` (a clean server process that imports the pipeline
modules once and forks each worker from there) or, where that is unavailable, ``spawn``.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

__all__ = ["PRELOAD", "process_context"]

#: Modules imported once by the fork server, so workers start without re-importing them.
PRELOAD = ("numpy", "cv2", "causalnet.flow.pipeline", "causalnet.data.builders.build")


def process_context() -> BaseContext:
    """A multiprocessing context for preprocessing workers (``forkserver`` if available, else ``spawn``)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")
