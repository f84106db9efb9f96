"""Containment for folders that may be shared: one mechanism for every write into an output folder.

An output folder (a run folder, a preprocessed dataset, a report's figure folder) may have come
from someone else. causalnet never lets it reach outside itself:

- :func:`refuse_symlinks` — before any work, a folder that holds a symbolic link anywhere below it
  is refused with an error naming the links (a link is never followed, so nothing outside the folder
  can be written, truncated or deleted through it);
- :func:`append_line` and :func:`file_lock` open their files with ``O_NOFOLLOW`` (a link planted
  after the check is refused, not followed); atomic writes (:func:`causalnet.io.atomic_path`) replace
  the final name, so a link there is replaced, never written through;
- :class:`Manifest` — files are deleted only when this package wrote them (a manifest of names),
  never by glob.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from causalnet.io import write_json_atomic

__all__ = ["Manifest", "append_line", "file_lock", "find_symlinks", "refuse_symlinks"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def find_symlinks(folder: str | os.PathLike, limit: int = 10) -> list[Path]:
    """Symbolic links below ``folder`` (not followed), at most ``limit``. The folder itself may be a link
    (the path the user named is their choice); a missing folder has none."""
    folder = Path(folder)
    found: list[Path] = []
    if not folder.is_dir():
        return []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                found.append(path)
                if len(found) >= limit:
                    return found
    return found


def refuse_symlinks(folder: str | os.PathLike, what: str = "output folder") -> None:
    """``ValueError`` naming them when anything below ``folder`` is a symbolic link.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "run.log").symlink_to("/etc/hostname")
    ...     refuse_symlinks(d)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...: this output folder holds a symbolic link (run.log); causalnet never writes through links ...
    """
    links = find_symlinks(folder)
    if links:
        root = Path(folder)
        names = ", ".join(str(p.relative_to(root)) for p in links)
        raise ValueError(f"{root}: this {what} holds a symbolic link ({names}); causalnet never writes through "
                         "links in a folder it writes to: remove them or use another folder")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` and a newline to the text file ``path`` (created if missing), refusing a symbolic link."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666)
    except OSError as exc:
        if path.is_symlink():
            raise ValueError(f"{path}: is a symbolic link; causalnet does not write through it") from None
        raise exc
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


class LockHeldError(ValueError):
    """The lock file is held by another process; ``holder`` is what that process wrote into it."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path}: held by {holder}")
        self.path, self.holder = path, holder


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, wait: bool = True, note: bool = False) -> Iterator[None]:
    """Hold an exclusive advisory lock (POSIX ``flock``) on the file ``path`` — the one lock of the package.

    The operating system releases it when the holder exits, even when it is killed, so a stale lock
    never blocks anyone. ``wait=False``: raise :class:`LockHeldError` at once when another process
    holds it. ``note``: write ``pid N since TIME`` into the file while held (what the error shows).
    The file is opened with ``O_NOFOLLOW``: a symbolic link there is refused, never followed.
    Where ``flock`` does not exist (not POSIX) there is no locking.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o666)
    except OSError:
        if path.is_symlink():
            raise ValueError(f"{path}: the lock file is a symbolic link; causalnet does not follow it") from None
        raise
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            fh.seek(0)
            raise LockHeldError(path, fh.read().strip() or "unknown") from None
        try:
            if note:
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
                fh.flush()
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class Manifest:
    """The files this package wrote into a folder (``<folder>/<name>``, JSON list of relative names), so
    that a later clean-up deletes only those — never other files, never by glob, never through a link.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     m = Manifest(d)
    ...     _ = (Path(d) / "a.png").write_bytes(b"x"); _ = (Path(d) / "mine.png").write_bytes(b"y")
    ...     m.record(["mine.png"])
    ...     removed = m.remove_except([])        # deletes mine.png only
    ...     sorted(p.name for p in Path(d).iterdir())
    ['.causalnet-manifest.json', 'a.png']
    """

    NAME = ".causalnet-manifest.json"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.NAME

    def names(self) -> list[str]:
        """The recorded names (an unreadable or missing manifest records nothing)."""
        try:
            names = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")] \
            if isinstance(names, list) else []

    def record(self, names: Iterable[str]) -> None:
        """Add ``names`` (files directly in the folder) to the manifest."""
        write_json_atomic(self.path, sorted(set(self.names()) | set(names)))

    def remove_except(self, keep: Iterable[str]) -> list[str]:
        """Delete the recorded files not in ``keep`` (regular files only; links are left alone); returns them."""
        keep = set(keep)
        removed = []
        for name in self.names():
            path = self.folder / name
            if name in keep or path.is_symlink() or not path.is_file():
                continue
            path.unlink()
            removed.append(name)
        write_json_atomic(self.path, sorted(n for n in self.names() if n not in removed))
        return removed
