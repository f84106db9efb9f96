"""What a run folder's ``config.json`` records, and the check that a resumed run is the same experiment on
the same data (``train`` and ``sweep``; the folder itself is owned by :class:`causalnet.engine.FoldStore`).
"""

from __future__ import annotations

from typing import Any

from causalnet.config import first_difference
from causalnet.engine import FoldStore
from causalnet.train.config import ExperimentConfig

__all__ = ["data_changes", "experiment_difference", "write_run_config"]


def write_run_config(store: FoldStore, kind: str, record: dict[str, Any], what: str) -> None:
    """Write a run folder's ``config.json`` (``record`` holds ``experiment`` and ``data``) with its ``kind``,
    unless the folder already holds a different one: then a ``ValueError`` "``config.json``: this ``what``
    (the first differing field); use a new --out folder". The protocol is not compared
    (see :func:`experiment_difference`)."""
    store.check_contained()  # a folder holding a symbolic link is refused before anything is read or written
    old = store.read_config()
    if old is not None:
        diff = experiment_difference(old.get("experiment"), record["experiment"])
        if diff is None and old.get("data") != record["data"]:
            diff = f"data: stored {old.get('data')!r}, requested {record['data']!r}"
        if diff:
            raise ValueError(f"{store.out / 'config.json'}: this {what} ({diff}); use a new --out folder "
                             "(or delete this one)")
        changed = data_changes(old.get("data_fingerprint"), record.get("data_fingerprint"))
        if changed:
            raise ValueError(f"{store.out / 'config.json'}: the data in {record['data']} changed since this run "
                             f"started ({changed}); its finished folds were trained on the old data. Use a new "
                             "--out folder (or delete this one)")
    store.write_config(kind, record)


def data_changes(stored: Any, current: Any) -> str | None:
    """What differs between two :meth:`ClipSet.fingerprint` records, in words (None: nothing, or no record).

    Every fold trains on every subject but its own, so any change affects every fold: a run refuses to
    resume rather than retrain only some folds (docs/errors.md).

    >>> data_changes({"s1": {"clips": "a", "labels": "b", "images": "c"}},
    ...              {"s1": {"clips": "a", "labels": "X", "images": "c"}, "s2": {}})
    'labels of subject s1; subject s2 added'
    """
    if not isinstance(stored, dict) or not isinstance(current, dict):
        return None
    words = []
    for subject, parts in current.items():
        if subject not in stored:
            words.append(f"subject {subject} added")
            continue
        what = [k for k in ("clips", "labels", "images") if (stored[subject] or {}).get(k) != parts.get(k)]
        if what:
            words.append(f"{' and '.join(what)} of subject {subject}")
    words += [f"subject {s} removed" for s in stored if s not in current]
    if len(words) > 5:
        words = [*words[:5], f"{len(words) - 5} more"]
    return "; ".join(words) or None


def experiment_difference(stored: dict | None, requested: dict) -> str | None:
    """The first field in which a stored experiment differs from the requested one (``None``: same), ignoring
    the protocol. Fields added to the configs since the run was started take their defaults (which
    reproduce the old behaviour), so a run from before a new field still resumes."""
    try:
        stored = ExperimentConfig.from_dict(stored).to_dict()
    except (TypeError, ValueError, KeyError, AttributeError):
        pass
    if not isinstance(stored, dict):
        return "the stored config.json has no readable experiment"
    return first_difference({k: v for k, v in stored.items() if k != "protocol"},
                            {k: v for k, v in requested.items() if k != "protocol"})
