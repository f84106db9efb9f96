"""Where models run: ``--device auto|cpu|cuda|cuda:N`` (a ground-floor module: every room may use it).

``auto`` is CUDA when a GPU is visible, else the CPU. Asking for CUDA where there is none, or for a
GPU index that does not exist, is a clear error before any work starts (:func:`check_device`).
A device is resolved once, where the work runs: a local run resolves it in the driver and its
jobs carry the concrete device (``cpu``, ``cuda:0``); jobs sent to a cluster carry the spec, which
the task resolves on its own machine (so a Ray task given a GPU uses the one Ray made visible).
"""

from __future__ import annotations

import re

__all__ = ["DEVICE_CHOICES", "autocast", "check_device", "check_device_syntax", "resolve_device"]

#: What ``--device`` accepts (besides ``cuda:N``).
DEVICE_CHOICES = ("auto", "cpu", "cuda")
_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def check_device_syntax(spec: str) -> str:
    """``spec`` normalised when it is a valid ``--device`` value (does not import torch or look for GPUs)."""
    spec = str(spec).strip().lower()
    if spec not in DEVICE_CHOICES and not _CUDA_INDEX.fullmatch(spec):
        raise ValueError(f"--device must be one of auto, cpu, cuda or cuda:N, got {spec!r}")
    return spec


def resolve_device(spec: str = "auto"):
    """The ``torch.device`` for ``spec``; a clear ``ValueError`` when CUDA is asked for and absent."""
    import torch

    spec = check_device_syntax(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: no CUDA GPU is available on this machine (torch {torch.__version__}, "
                         f"CUDA build: {torch.version.cuda or 'no'}); use --device cpu or auto")
    match = _CUDA_INDEX.fullmatch(spec)
    if match and int(match.group(1)) >= torch.cuda.device_count():
        raise ValueError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                         f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return torch.device(spec)


def check_device(spec: str) -> str:
    """Resolve ``spec`` on this machine, before any work, to the concrete device it names (``cpu``, ``cuda``,
    ``cuda:1``): what a command passes on, so that nothing downstream resolves ``auto`` again."""
    return str(resolve_device(spec))


def autocast(device, enabled: bool):
    """bfloat16 autocast on ``device`` (a ``torch.device``) when ``enabled`` (``train.amp``), else a no-op."""
    import contextlib

    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
