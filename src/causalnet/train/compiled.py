"""The members' compiled training step for ``fit`` (``train.compile``; issue 33), with a clean fallback to eager.

The compact model is small: a training step is thousands of tiny operators, and eager PyTorch spends a large
part of a step dispatching them and copying between them (docs/speed.md). ``torch.compile`` (inductor's C++
backend on a CPU) fuses the members' vmapped forward and its backward into a few loops. Two things make
that work and pay:

- **constant buffers stay unbatched**: the vmapped function receives the members' stacked parameters but
  one copy of the model's buffers (``in_dims=None``). A batched buffer reaches AOTAutograd as a
  ``BatchedTensorImpl`` it cannot trace ("Cannot access storage of BatchedTensorImpl"). So only models
  whose buffers are all non-persistent constants (CausalNet's sparse mask) are compiled; a model with
  running statistics (BatchNorm) keeps the eager path.
- **one compiled step per architecture and process**: the function is built around a structural
  copy of the model on the ``meta`` device (``functional_call`` swaps the real weights in), cached by the
  model's config, member count, forward arguments and device, so the next fold in the same worker
  reuses the traced graph instead of tracing again. Inductor's on-disk cache (``/tmp/torchinductor_<user>``)
  makes a later process's compile short (≈ 11 s against ≈ 115 s cold on the 2-core Xeon; docs/speed.md).

The per-epoch evaluation stays eager: compiled, it was at most 1.35× faster for more compile time per process.

Compiled kernels are not bit-identical to eager ones (other summation orders): the outputs agree to float32
rounding per step, but training is chaotic, so after 40 epochs a compiled fold's probabilities differ from
the eager fold's as another seed's would (up to 0.3 measured); a compiled fold depends only on its job and
the processor, as an eager one does. Compilation that fails — no C++ compiler, an operator inductor cannot
lower — is logged and the fold goes on eagerly (:class:`CompiledOrEager`); ``train.compile`` is off by
default.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from causalnet.models.auxiliary import functional_training_outputs

log = logging.getLogger(__name__)

__all__ = ["CompiledOrEager", "compilable", "compiled_members"]

T = TypeVar("T")

#: ``torch.compile`` backend: inductor (fused C++ loops on a CPU, Triton on a GPU); the tests use ``aot_eager``,
#: which traces the same graphs through dynamo and AOTAutograd without generating code
BACKEND = "inductor"

_CACHE: dict[tuple, Callable] = {}


def compilable(model: nn.Module) -> bool:
    """Whether ``model``'s buffers are all non-persistent constants (so they can stay unbatched under vmap)."""
    for module in model.modules():
        persistent = set(module._buffers) - module._non_persistent_buffers_set
        if any(module._buffers[name] is not None for name in persistent):
            return False
    return True


def compiled_members(base: nn.Module, m_count: int, kwargs: dict[str, Any], device: torch.device) -> Callable | None:
    """``(params, buffers, x [M, B, ...], y [M, B]) -> (logits [M, B, C], aux [M])`` compiled, with ``params`` the
    members' stacked weights and ``buffers`` **one** copy of the model's constant buffers (training mode); ``None``
    for a single member or a model that cannot be compiled this way (:func:`compilable`).

    Built once per process and architecture around a template: ``base``'s structure with its parameters on
    ``meta`` (``functional_call`` swaps the real ones in) and real copies of its constant buffers (so the graph's
    guards see the kind of tensors it is called with). A model without a ``config`` is compiled anew each time."""
    if m_count < 2 or not compilable(base) or not hasattr(torch, "compile"):
        return None
    config = getattr(base, "config", None)
    key = (BACKEND, type(base).__qualname__, repr(config), m_count, tuple(sorted(kwargs.items())), str(device))
    if config is not None and key in _CACHE:
        return _CACHE[key]
    from torch.func import vmap

    template = copy.deepcopy(base)
    buffers = {name: buf.detach().clone() for name, buf in template.named_buffers()}
    template.to("meta")
    for name, buf in buffers.items():
        owner, _, leaf = name.rpartition(".")
        template.get_submodule(owner)._buffers[leaf] = buf
    call = functional_training_outputs(template.train(), **kwargs)
    step = torch.compile(vmap(call, in_dims=(0, None, 0, 0), randomness="different"), backend=BACKEND)
    if config is not None:
        _CACHE[key] = step
    return step


class CompiledOrEager:
    """Runs ``work(fn)`` with the compiled ``fn`` until it fails once, then with the eager one for good.

    ``work`` must be repeatable (e.g. forward and backward of a step before the optimizer touches the weights):
    after a failure of the compiled path it runs again eagerly.
    """

    def __init__(self, compiled: Callable | None, eager: Callable) -> None:
        self.compiled, self.eager = compiled, eager

    def __call__(self, work: Callable[[Callable], T]) -> T:
        if self.compiled is not None:
            try:
                return work(self.compiled)
            except Exception as err:  # noqa: BLE001 - any compiler failure falls back to the eager path
                log.warning("train.compile: compiling the members' step failed (%s: %s); training eagerly",
                            type(err).__name__, str(err).splitlines()[0] if str(err) else "")
                self.compiled = None
        return work(self.eager)
