"""Crash-safe file writing: every result file is written to a temporary sibling and renamed.

Guarantees of :func:`atomic_path` (and the ``write_*_atomic`` helpers built on it):

- the file appears at its path complete or not at all (``os.replace`` of an fsynced sibling);
- its permissions follow the umask like any newly created file (``0o666 & ~umask``: 0644 under
  the usual umask 022, 0600 under 077), so results can be shared on a cluster;
- the temporary sibling is named ``.<name>.<random>.tmp``; it is removed when the body raises, and
  when a process is killed mid-write the leftover is recognisable: :func:`clean_stale_temp_files`
  removes those older than a threshold (``causalnet preprocess`` calls it on its output folder).

Every CSV file the package writes goes through :func:`csv_text` / :func:`write_csv_atomic`, which
neutralise cells that a spreadsheet would run as a formula (OWASP "CSV injection"): a text cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``; numbers
(``-0.5`` as a number or as plain numeric text) are written as they are. :func:`restore_cell`
undoes it on reading, so names round-trip.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Name of a temporary file of :func:`atomic_path`: ``.<name>.<8 random characters>.tmp``
#: (older versions used ``tempfile.mkstemp``'s random part, letters, digits and ``_``).
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
#: Age in seconds after which :func:`clean_stale_temp_files` treats a temporary file as abandoned.
#: No atomic write in causalnet keeps its temporary file longer than a few seconds.
STALE_AFTER_S = 3600.0

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (another thread creating a file meanwhile gets 022)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def temp_path_for(path: str | os.PathLike) -> Path:
    """A fresh temporary sibling name for ``path``: ``<folder>/.<name>.<random>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success it replaces ``path`` atomically.

    Whatever the body writes to the yielded path appears at ``path`` all at once, or not at all
    if the body raises (the temporary file is removed). A crash never leaves a half-written file.
    The file gets the permissions a new file gets under the current umask.
    """
    path = Path(path)
    with naming_file(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = temp_path_for(path)
        os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        with naming_file(path, tmp_path):
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~current_umask())  # private while written, then as any new file
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def naming_file(path: Path, tmp_path: Path | None = None) -> Iterator[None]:
    """Re-raise an OS error (a full disk: errno 28, ...) that names no file, or names the temporary
    sibling, as the same error naming ``path``: the file the user asked for."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or (exc.filename is not None and exc.filename not in (str(tmp_path), tmp_path)):
            raise
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc


def clean_stale_temp_files(folder: str | os.PathLike, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporary files of :func:`atomic_path` left under ``folder`` (recursively) by killed writes.

    Only files named like them (``.<name>.<random>.tmp``) and last modified more than ``older_than``
    seconds ago are removed (a concurrent writer's file is younger); a caller that holds the folder
    exclusively (a run lock) may pass 0. Returns the removed paths; a missing folder is no error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            if not TEMP_NAME.match(name):
                continue
            path = Path(dirpath) / name
            try:
                if path.lstat().st_mtime <= cutoff and path.is_file() and not path.is_symlink():
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:  # removed meanwhile (its writer finished)
                continue
    if removed:
        log.info("removed %d temporary file(s) left by interrupted writes under %s", len(removed), folder)
    return removed


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (not UTF-8 text: {exc.reason})") from None


# --- CSV files ---------------------------------------------------------------------------------------

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A cell that :func:`neutralise_cell` quotes: optional quotes already added, then a formula start.
_NEEDS_QUOTE = re.compile(r"^'*[=+\-@\t\r]")
#: A cell that :func:`neutralise_cell` wrote: one or more quotes, then a formula start.
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")
#: Plain numeric text (``-0.5``, ``+3``, ``1e-4``, ``-inf``): a spreadsheet reads it as a number, not a formula.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$", re.IGNORECASE)


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @``, a tab or a
    carriage return (after any ``'`` already there) gets a leading ``'``; numbers and numeric text
    are unchanged. :func:`restore_cell` gives the text back.

    >>> neutralise_cell("=cmd|' -C calc'!A0"), neutralise_cell(-0.5), neutralise_cell("-0.5")
    ("'=cmd|' -C calc'!A0", -0.5, '-0.5')
    """
    if not isinstance(value, str) or not _NEEDS_QUOTE.match(value) or _NUMBER.match(value):
        return value
    return "'" + value


def restore_cell(text: str) -> str:
    """The text :func:`neutralise_cell` was given (one leading ``'`` removed from a quoted formula start)."""
    return text[1:] if _QUOTED.match(text) else text


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> str:
    """The text of a CSV file: a header of ``columns``, then one line per row, every cell neutralised.

    A row is a mapping (its values for ``columns``; a missing key or ``None`` is an empty cell, other
    keys are ignored) or a sequence of cells in column order (``None`` is an empty cell).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise_cell(c) for c in columns])
    for row in rows:
        cells = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
        writer.writerow(["" if c is None else neutralise_cell(c) for c in cells])
    return buf.getvalue()


def write_csv_atomic(path: str | os.PathLike, columns: Sequence[str],
                     rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> None:
    """Write a CSV file atomically (see :func:`csv_text`): the one writer of every CSV causalnet writes."""
    write_text_atomic(path, csv_text(columns, rows))
