"""Lazy package exports (PEP 562): ``from causalnet.eval import X`` imports X's module on first use.

Packages whose submodules hold both light constants (e.g. the protocol names a command-line parser
offers as choices) and heavy code (torch, scikit-learn) use this, so that importing a constant does
not import the heavy libraries, and ``causalnet --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` exporting ``name -> submodule`` (relative names)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
