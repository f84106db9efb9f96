"""Validation at the boundary: names that become path parts, config fields, options, output folders.

Everything that comes from outside (a data file, ``--set``, a command-line option, a stored config)
is checked here before any work starts, in the scikit-learn manner: one function per kind of
input, raising :class:`ValueError` with one line that names the source (``file:line``, the config
field, or the option) and the problem. The command line prints that line and exits with status 1.

- :func:`safe_path_part`: a name from a data file (subject, clip, dataset) that becomes one
  component of a file or folder name. Nothing it accepts can leave the folder it is joined to.
- :class:`Check` and :func:`check_value` / :func:`check_fields`: the type and the allowed range of
  a config field or an option. Config dataclasses declare their ranges in a ``FIELD_CHECKS`` table
  and :class:`causalnet.config.PresetMixin` checks every field on construction.
- :func:`check_output_dir`: an output folder that is not a file and can be created.
- :func:`check_outputs_apart` and :func:`check_replaceable`: no output replaces an input, or a file
  the command did not write itself.
- :func:`check_regular_file`: an input that must be a regular file (not a device, FIFO or folder).
- Bounds on counts that size work (:data:`MAX_RUNS`, :data:`MAX_CANDIDATES`, ...), and
  :func:`check_count` for a product of counts.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import math
import numbers
import os
import re
import stat
import types
import typing
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ANY",
    "FILE_NAME",
    "MAX_CANDIDATES",
    "MAX_NAME_BYTES",
    "MAX_RUNS",
    "MAX_SYNTH_ITEMS",
    "MAX_TRAININGS_PER_FOLD",
    "Check",
    "at_least",
    "between",
    "check_count",
    "check_fields",
    "check_fps",
    "check_option",
    "check_output_dir",
    "check_outputs_apart",
    "check_ray_address",
    "check_regular_file",
    "check_replaceable",
    "check_value",
    "one_of",
    "path_part_problem",
    "positive",
    "safe_path_part",
    "workers_check",
]

#: Longest name (UTF-8 bytes) accepted as a path component; file systems allow 255, and names are
#: combined (``<subject>_<clip>_1 .png``), so a name alone must leave room.
MAX_NAME_BYTES = 200
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Longest shown value in an error message (a 5000-digit number is cut).
_SHOWN_CHARS = 80
#: Most repetitions with new seeds (``--runs`` of train, sweep): each repeats every fold.
MAX_RUNS = 1000
#: Most candidates of a sweep grid (the reference grid has 36).
MAX_CANDIDATES = 1000
#: Most trainings per fold of a sweep (candidates x runs).
MAX_TRAININGS_PER_FOLD = 10_000
#: Most clips (or recordings) of one synthetic benchmark (subjects x clips per subject).
MAX_SYNTH_ITEMS = 100_000
#: Highest frame rate accepted from an option or an annotation file (high-speed cameras film at up to ~1e5).
MAX_FPS = 100_000.0


# --- names that become path parts ---------------------------------------------------------------


def path_part_problem(name: object) -> str | None:
    """Why ``name`` is not a safe single path component (None if it is one)."""
    if not isinstance(name, str):
        return f"is not text ({type(name).__name__})"
    if not name:
        return "is empty"
    if name in (".", ".."):
        return "is a relative folder reference"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\')"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "contains a control character"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "contains characters that cannot be encoded (a lone surrogate)"
    if size > MAX_NAME_BYTES:
        return f"is too long ({size} bytes; at most {MAX_NAME_BYTES})"
    return None


def safe_path_part(name: str, *, what: str, source: str | os.PathLike | None = None) -> str:
    """Return ``name`` unchanged if it is a safe single path component, else raise ValueError.

    Refused: empty names, ``.`` and ``..``, any ``/`` or ``\\`` (so no absolute path either), drive
    letters (``C:``), control characters (NUL, newline, ...) and names over :data:`MAX_NAME_BYTES`.

    Args:
        name: the name, e.g. a subject id read from a CSV.
        what: what the name is, for the message (``"subject"``).
        source: where it was read, for the message (``"annotations.csv:12"``).

    >>> safe_path_part("sub01", what="subject")
    'sub01'
    >>> safe_path_part("../../T", what="subject", source="a.csv:3")
    Traceback (most recent call last):
    ...
    ValueError: a.csv:3: subject '../../T' contains a path separator ('/' or '\\')
    """
    problem = path_part_problem(name)
    if problem:
        where = f"{source}: " if source else ""
        raise ValueError(f"{where}{what} {_show(name)} {problem}")
    return name


# --- output folders ---------------------------------------------------------------------------


def check_output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check that ``path`` can be used as an output folder, before any work; returns it as a Path.

    It must be a folder or not exist yet; the nearest existing parent must be a writable folder.
    Nothing is created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: {what} names an existing file, not a folder")
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{path}: {what} cannot be created: {parent} is a file, not a folder")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: {what} is not writable ({parent} does not allow writing)")
    return path


def _same_path(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (symlinks and ``..`` resolved; hard links too)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a permission problem: compare as written
        return os.path.abspath(a) == os.path.abspath(b)


def check_outputs_apart(outputs: Iterable[tuple[str, str | os.PathLike | None]],
                        inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Refuse, before any work, an output path that is one of the command's input paths.

    Args:
        outputs: ``(what, path)`` of every file or folder the command writes, e.g. ``("--save-model", p)``.
        inputs: ``(what, path)`` of every file or folder it reads, e.g. ``("--data's preprocess.json", p)``;
            a ``None`` path (an option not given) is skipped on both sides.

    >>> check_outputs_apart([("--out", "a/x.json")], [("--data", "a/x.json")])
    Traceback (most recent call last):
    ...
    ValueError: a/x.json: --out would overwrite --data (a/x.json); choose another name
    """
    inputs = [(what, Path(p)) for what, p in inputs if p is not None]
    for what_out, out in outputs:
        if out is None:
            continue
        out = Path(out)
        for what_in, source in inputs:
            if _same_path(out, source):
                raise ValueError(f"{out}: {what_out} would overwrite {what_in} ({source}); choose another name")


def check_replaceable(path: str | os.PathLike, what: str, is_ours: Callable[[Path], bool], kind: str) -> Path:
    """Refuse, before any work, to replace an existing file that is not an earlier output of this kind.

    ``path`` may be absent (it will be created) or a regular file for which ``is_ours(path)`` is true
    (e.g. an earlier checkpoint); anything else is a ValueError naming ``what`` and ``kind``.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return path
    if not path.is_file():
        raise ValueError(f"{path}: {what} names something that is not a regular file; refusing to replace it")
    if not is_ours(path):
        raise ValueError(f"{path}: {what} would replace a file that is not a {kind}; refusing "
                         "(remove it or choose another name)")
    return path


def check_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """An input that must be an existing regular file (symlinks followed); returns it as a Path.

    Missing: FileNotFoundError ``"<path>: <what> not found"``; a folder, a device (``/dev/zero``), a
    FIFO or a socket: ValueError ``"<path>: <what> is not a regular file (...)"``, so nothing blocks
    on it or reads without end.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(f"{path}: {what} not found (a symlink to a missing file)") from None
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path}: {what} is a symlink loop") from None
        raise
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: {what} is not a regular file ({_file_kind(mode)})")
    return path


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "a special file")


# --- bounds on work and frame rates ---------------------------------------------------------------


def check_count(parts: Mapping[str, int], most: int) -> int:
    """Refuse a product of counts above ``most`` (``{"--grid": 40, "--runs": 500}``); returns the product.

    The message names every option and the bound: ``--grid x --runs = 20000 trainings; at most 10000``.
    """
    total = math.prod(parts.values())
    if total > most:
        names = " x ".join(parts)
        values = " x ".join(str(v) for v in parts.values())
        raise ValueError(f"{names}: {values} = {total}, more than the bound of {most}; split the work")
    return total


def check_fps(value: Any, name: str) -> float:
    """A frame rate from an option or a file: a finite number in (0, :data:`MAX_FPS`]; ValueError naming it."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{name}: must be a frame rate (a number > 0), got {_show(value)}") from None
    check_value(value, float, positive(hi=MAX_FPS), name)
    return float(value)


#: A host (a name, an IPv4 address or a bracketed IPv6 address) and a port, optionally ``ray://`` first.
_RAY_ADDRESS = re.compile(r"^(?:ray://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
                          r":(?P<port>[0-9]{1,5})$")


def check_ray_address(text: str, name: str = "--ray-address") -> str:
    """A Ray cluster address: ``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT`` (port 1..65535);
    checked before any work, so a typo never leaves a half-made run folder behind."""
    match = _RAY_ADDRESS.match(text) if isinstance(text, str) else None
    if text in ("auto", "local") or (match and 1 <= int(match["port"]) <= 65535):
        return text
    raise ValueError(f"{name}: must be 'auto' or HOST:PORT (e.g. 10.0.0.5:6379 or ray://head:10001), "
                     f"got {_show(text)}")


# --- values of config fields and options ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Check:
    """What a field allows beyond its type: a range, a fixed set of choices, a number of items.

    For a tuple field the range and the choices apply to each item, ``items`` to the length.
    Build one with :func:`between`, :func:`at_least`, :func:`positive`, :func:`one_of` or
    :data:`ANY` (the type alone).
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] | None = None
    items: tuple[int, int] | None = None
    odd: bool = False
    file_name: bool = False

    def allows(self, value: Any) -> bool:
        """Whether one (type-checked) value is allowed."""
        if self.choices is not None and value not in self.choices:
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        if self.file_name and path_part_problem(value) is not None:
            return False
        return not (self.odd and value % 2 == 0)

    def describe(self) -> str:
        """The allowed range as words: ``" >= 1"``, ``" in [0, 1)"``, ``"one of 'a', 'b'"``."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.lo is not None and self.hi is not None:
            parts.append(f" in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}"
                         f"{')' if self.hi_open else ']'}")
        elif self.lo is not None:
            parts.append(f" {'>' if self.lo_open else '>='} {_num(self.lo)}")
        elif self.hi is not None:
            parts.append(f" {'<' if self.hi_open else '<='} {_num(self.hi)}")
        if self.odd:
            parts.append(" and odd")
        if self.file_name:
            parts.append(f" usable as a file name (not empty, '.' or '..'; no '/', '\\' or control characters; "
                         f"at most {MAX_NAME_BYTES} bytes)")
        return "".join(parts)


#: The type alone (any finite number, any text, ...): declares that a field is deliberately unbounded.
ANY = Check()


def between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
            items: tuple[int, int] | None = None, odd: bool = False) -> Check:
    """``lo <= value <= hi`` (``<`` on an open side)."""
    return Check(lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, items=items, odd=odd)


def at_least(lo: float, *, items: tuple[int, int] | None = None) -> Check:
    """``value >= lo``, no upper bound (use :func:`between` for sizes, which must be bounded)."""
    return Check(lo=lo, items=items)


def positive(hi: float | None = None, *, items: tuple[int, int] | None = None) -> Check:
    """``0 < value`` (``<= hi`` when given)."""
    return Check(lo=0, hi=hi, lo_open=True, items=items)


def one_of(*choices: Any) -> Check:
    """One of a fixed set of values."""
    return Check(choices=tuple(choices))


def workers_check() -> Check:
    """Allowed values of a ``--workers`` option: 1 to 4 x the CPUs (at least 64)."""
    return between(1, max(64, 4 * (os.cpu_count() or 1)))


#: A text that becomes a path part (a dataset name, ...): see :func:`safe_path_part`.
FILE_NAME = Check(file_name=True)


def check_value(value: Any, hint: Any, check: Check | None, name: str) -> None:
    """Raise ValueError ``"<name>: must be <type and range>, got <value>"`` unless ``value`` fits.

    Args:
        value: the value.
        hint: its type annotation: ``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``,
            ``tuple[float, float]``, ``X | None``; other classes are checked with ``isinstance``,
            ``Any`` not at all.
        check: the allowed range or choices (None: the type alone).
        name: the field or option, for the message (``TrainConfig.epochs``, ``--workers``).
    """
    check = check or ANY
    if _fits(value, hint, check):
        return
    raise ValueError(f"{name}: must be {_describe(hint, check)}, got {_show(value)}")


def check_option(name: str, value: Any, check: Check, hint: Any = int) -> Any:
    """:func:`check_value` for a command-line option; returns the value (``--workers 0`` is an error)."""
    check_value(value, hint, check, name)
    return value


def check_fields(obj: Any) -> None:
    """Check every field of a config dataclass against its type and its ``FIELD_CHECKS`` entry.

    The first field that does not fit raises ValueError naming ``Class.field``, the allowed range
    and the value.
    """
    cls = type(obj)
    checks: Mapping[str, Check] = getattr(cls, "FIELD_CHECKS", {})
    for name, hint in _field_hints(cls).items():
        check_value(getattr(obj, name), hint, checks.get(name), f"{cls.__name__}.{name}")


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def _optional_inner(hint: Any) -> tuple[bool, Any]:
    """(None allowed, the other type) of ``X | None``; (False, hint) otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            return True, rest[0]
    return False, hint


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _fits_scalar(value: Any, hint: Any, check: Check) -> bool:
    if hint is int:
        ok = _is_int(value)
    elif hint is float:
        ok = _is_number(value)
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is Any or not isinstance(hint, type):
        return True  # a type this module does not know how to check
    else:
        return isinstance(value, hint)
    return ok and check.allows(value)


def _fits(value: Any, hint: Any, check: Check) -> bool:
    optional, hint = _optional_inner(hint)
    if value is None:
        return optional
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            item_hint, lo, hi = args[0], 0, math.inf
        else:
            item_hint, lo, hi = (args[0] if args else Any), len(args), len(args)
        if check.items is not None:
            lo, hi = max(lo, check.items[0]), min(hi, check.items[1])
        return lo <= len(value) <= hi and all(_fits_scalar(v, item_hint, check) for v in value)
    return _fits_scalar(value, hint, check)


_TYPE_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true/false", "true/false"),
               str: ("text", "texts")}


def _describe(hint: Any, check: Check) -> str:
    optional, hint = _optional_inner(hint)
    prefix = "none or " if optional else ""
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        variable = len(args) == 2 and args[1] is Ellipsis
        item = args[0] if args else Any
        plural = _TYPE_WORDS.get(item, (None, "values"))[1]
        if variable:
            lo, hi = check.items or (0, None)
            count = f"{lo} to {hi}" if hi is not None else f"at least {lo}"
        else:
            count = str(len(args))
        return f"{prefix}a list of {count} {plural}{check.describe()}"
    if check.choices is not None:
        return f"{prefix}{check.describe()}"
    word = _TYPE_WORDS.get(hint, (getattr(hint, "__name__", str(hint)), ""))[0]
    if hint is float:
        word = "a finite number"
    return f"{prefix}{word}{check.describe()}"


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS - 20]}...{text[-12:]} ({len(text)} chars)"
