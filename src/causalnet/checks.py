"""Validation at the boundary, shared by every loader and command (scikit-learn style).

Placeholder of the lead's engine branch: the issue-11 work provides the full module; this keeps
only :func:`safe_path_part`, whose signature is shared.
"""

from __future__ import annotations

import unicodedata

__all__ = ["safe_path_part"]

MAX_PART_BYTES = 200


def safe_path_part(name: str, *, what: str, source: str | None = None) -> str:
    """``name`` unchanged when it is safe as one path component; a ``ValueError`` naming ``source`` otherwise."""
    where = f"{source}: " if source else ""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is a relative path reference"
    elif any(sep in name for sep in ("/", "\\")):
        problem = "contains a path separator"
    elif len(name) >= 2 and name[1] == ":":
        problem = "looks like a drive letter"
    elif any(unicodedata.category(ch) == "Cc" for ch in name):
        problem = "contains a control character"
    elif len(name.encode("utf-8")) > MAX_PART_BYTES:
        problem = f"is longer than {MAX_PART_BYTES} bytes"
    if problem:
        raise ValueError(f"{where}{what} {name!r} {problem}; it cannot name a file")
    return name
