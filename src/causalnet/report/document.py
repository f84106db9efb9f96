"""The report as data (sections of tables, figures and notes) and its rendering with Jinja2.

Content is built in Python as plain structures; the templates in ``report/templates/`` decide the
look. The HTML is self-contained: figures are embedded as base64 PNG, the style sheet is inline,
and nothing needs JavaScript.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from causalnet.folders import Manifest, refuse_symlinks
from causalnet.io import atomic_path, restore_cell, write_json_atomic, write_text_atomic
from causalnet.report.runs import safe_name

TEMPLATE = "report.html.j2"


@dataclass
class Table:
    """A table: column headers, rows of display strings and an optional CSS class per row."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    row_classes: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class FigureItem:
    """A rendered figure: ``name`` becomes ``<name>.png`` beside the HTML."""

    name: str
    title: str
    png: bytes
    caption: str = ""

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    """A report section; it is only added when its inputs exist."""

    id: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Document:
    """A whole report: sections plus the numbers behind them (written as JSON beside the HTML)."""

    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> list[FigureItem]:
        return [f for s in self.sections for f in s.figures]


def render_html(doc: Document) -> str:
    """The self-contained HTML text of a document."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("causalnet.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from causalnet import __version__

    return env.get_template(TEMPLATE).render(doc=doc, generated=generated, version=__version__)


def check_html_path(path: str | Path) -> Path:
    """An output ``.html`` path whose folder (and figure folder) can be written; checked before any work."""
    from causalnet.checks import check_output_dir

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{path}: --out must name a .html file")
    if path.is_dir():
        raise ValueError(f"{path}: --out names a folder, not a .html file")
    check_output_dir(path.parent, "--out's folder")
    check_output_dir(figure_dir(path), "the figure folder")
    check_sidecars(path)
    return path


#: Names a report's numbers file (``<name>.json``) never takes, present or not: the files of run and data
#: folders (a run still training writes them later).
RESERVED_NAMES = frozenset({"config.json", "metrics.json", "results.json", "preprocess.json", "demo.json",
                            "ground_truth.json", "intervals.json"})
_GENERATOR = b'<meta name="generator" content="causalnet'


def report_outputs(html_path: Path) -> list[tuple[str, Path]]:
    """``(what, path)`` of everything a report named ``html_path`` writes (the HTML, its numbers, its figures)."""
    return [("--out", html_path), ("--out's numbers file", html_path.with_suffix(".json")),
            ("--out's figure folder", figure_dir(html_path))]


def check_sidecars(html_path: Path) -> None:
    """Refuse, before any work, a report whose HTML or numbers file would replace a file it did not write:
    ``--out RUN/config.html`` would turn ``RUN/config.json`` into the report's numbers."""
    from causalnet.checks import check_replaceable

    numbers = html_path.with_suffix(".json")
    if numbers.name in RESERVED_NAMES:
        raise ValueError(f"{html_path}: --out would write its numbers to {numbers.name}, the name of a run or "
                         "data file; choose another name")
    check_replaceable(numbers, "--out's numbers file", _is_report_json, "causalnet report's numbers file")
    check_replaceable(html_path, "--out", _is_report_html, "causalnet report")


def _is_report_json(path: Path) -> bool:
    from causalnet.io import read_json

    try:
        data = read_json(path)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("title", "")).startswith("causalnet") and "sections" in data


def _is_report_html(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return _GENERATOR in fh.read(4096)
    except OSError:
        return False


def figure_dir(html_path: Path) -> Path:
    """The folder of a report's PNG files: ``<name>_figures/`` beside ``<name>.html``."""
    return html_path.with_name(f"{html_path.stem}_figures")


def write_document(doc: Document, html_path: str | Path, figures_only: bool = False) -> dict[str, Any]:
    """Write the PNG of every figure, the numbers (``<name>.json``) and, unless ``figures_only``, the HTML.

    PNG files that an earlier report of the same name wrote into the figure folder (its manifest,
    :class:`causalnet.folders.Manifest`) are removed, so the folder matches the report; no other file is
    deleted, and a figure folder holding a symbolic link is refused (:mod:`causalnet.folders`).

    Returns ``{"html": path or None, "json": path, "figures": [paths]}``.
    """
    html_path = Path(html_path)
    folder = figure_dir(html_path)
    if folder.is_symlink():
        raise ValueError(f"{folder}: the report's figure folder is a symbolic link; causalnet does not write "
                         "through it: remove it or choose another --out")
    refuse_symlinks(folder, "report figure folder")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(folder)
    written = []
    for fig in doc.figures:
        path = folder / f"{safe_name(fig.name)}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(fig.png)
        written.append(path)
        manifest.record([path.name])
    manifest.remove_except(p.name for p in written)  # figures an earlier report of this name wrote, only those
    json_path = html_path.with_suffix(".json")
    payload = {**doc.data, "title": doc.title, "figures": [p.name for p in written],
               "sections": [{"id": s.id, "title": s.title, "tables": [asdict(t) for t in s.tables],
                             "notes": s.notes} for s in doc.sections]}
    write_json_atomic(json_path, json.loads(json.dumps(payload, default=_jsonable)))
    html = None
    if not figures_only:
        write_text_atomic(html_path, render_html(doc))
        html = html_path
    return {"html": html, "json": json_path, "figures": written}


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return None
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


#: Rows of a CSV table shown in a report.
MAX_TABLE_ROWS = 200


def tables_from_file(path: Path) -> list[Table]:
    """Tables of a markdown (pipe tables) or CSV file, as written (CSV cut at :data:`MAX_TABLE_ROWS` rows)."""
    import csv

    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".csv":  # cells as the data named them (the writer's formula guard undone)
        rows = [[restore_cell(c) for c in row] for row in csv.reader(text.splitlines())]
        if not rows:
            return []
        body = rows[1: MAX_TABLE_ROWS + 1]
        note = f"first {MAX_TABLE_ROWS} of {len(rows) - 1} rows" if len(rows) - 1 > MAX_TABLE_ROWS else ""
        return [Table(rows[0], body, title=path.name, note=note)]
    tables, block, heading = [], [], path.name
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if block:
            body = [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            tables.append(Table(block[0], body, title=heading))
            block = []
        if line.strip():
            heading = f"{path.name}: {line.strip().strip('#* ')}"
    return tables
