"""Where a result came from: the command line, the package version and, when the package runs from a git
checkout of its source, the commit. :meth:`causalnet.engine.FoldStore.write_config` adds it to every
``config.json`` (nothing of it is compared when a run resumes).

>>> record = provenance()
>>> sorted(record) in (["causalnet_version", "command", "cwd"], ["causalnet_version", "command", "commit", "cwd"])
True
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["command_line", "git_commit", "provenance", "set_command"]

_command: list[str] | None = None


def set_command(argv: list[str]) -> None:
    """Record the command line being run (``causalnet.cli.main`` calls it with ``["causalnet", *args]``)."""
    global _command
    _command = [str(a) for a in argv]


def command_line() -> list[str]:
    """The command line recorded by :func:`set_command`, else this process's ``sys.argv``."""
    return list(_command) if _command is not None else [str(a) for a in sys.argv]


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit (``git rev-parse HEAD``) of the source checkout this package runs from; None when it is
    not one (an installed wheel, no git, a package inside some other repository) — never an error."""
    package = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if len(out) != 2:
        return None
    top, commit = Path(out[0]).resolve(), out[1]
    try:
        inside = package.relative_to(top).parts
    except ValueError:
        return None
    # the package's own checkout (src layout or flat), not a repository that merely holds an installation
    if inside not in (("src", package.name), (package.name,)) or not (top / "pyproject.toml").is_file():
        return None
    return commit if len(commit) == 40 and all(c in "0123456789abcdef" for c in commit) else None


def provenance() -> dict[str, Any]:
    """``{"command": [...], "cwd": ..., "causalnet_version": ..., "commit": ...}`` (``commit`` only when known;
    ``cwd``: the folder the command ran in, against which its relative paths are read on a rerun)."""
    import os

    from causalnet import __version__

    record: dict[str, Any] = {"command": command_line(), "cwd": os.getcwd(), "causalnet_version": __version__}
    commit = git_commit()
    if commit:
        record["commit"] = commit
    return record
