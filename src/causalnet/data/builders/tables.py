"""Annotation spreadsheets: ``.csv`` and ``.xlsx`` read without extra dependencies.

An ``.xlsx`` file is a zip of XML parts; :func:`read_rows` reads the first worksheet's cell values
as text (shared strings, inline strings, numbers — whole numbers without ``.0``). Old binary
``.xls`` files are not read: save them as ``.xlsx`` or ``.csv``. :func:`find_columns` locates the
header row (it need not be the first: SAMM's sheet starts with a title block) by column-name
aliases compared without case, blanks or punctuation. :func:`write_xlsx` writes a minimal
workbook (used to build test fixtures in the official layouts).
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from causalnet.io import restore_cell

__all__ = ["Table", "find_columns", "read_rows", "read_table", "write_xlsx"]

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
#: How many leading rows are searched for the header row.
HEADER_SEARCH_ROWS = 40


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - ord("A") + 1)
    return index - 1


def _number_text(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    if number.is_integer():
        return str(int(number))
    return f"{number:.10g}"


def _text_of(element: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in element.iter() if _local(t.tag) == "t")


def _sheet_part(zf: zipfile.ZipFile, index: int = 0) -> str:
    names = set(zf.namelist())
    try:
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        sheet = [e for e in workbook.iter() if _local(e.tag) == "sheet"][index]
        rid = sheet.get(f"{{{_NS_REL}}}id")
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if part in names:
            return part
    except (KeyError, IndexError, StopIteration, ElementTree.ParseError):
        pass
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/sheet") and n.endswith(".xml"))
    if len(sheets) <= index:
        raise ValueError(f"no worksheet {index + 1} in the workbook")
    return sheets[index]


def _read_xlsx(path: Path, sheet_index: int = 0) -> list[list[str]]:
    try:
        with zipfile.ZipFile(path) as zf:
            shared: list[str] = []
            if "xl/sharedStrings.xml" in zf.namelist():
                root = ElementTree.fromstring(zf.read("xl/sharedStrings.xml"))
                shared = [_text_of(si) for si in root if _local(si.tag) == "si"]
            sheet = ElementTree.fromstring(zf.read(_sheet_part(zf, sheet_index)))
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    rows: list[list[str]] = []
    for row in (e for e in sheet.iter() if _local(e.tag) == "row"):
        values: dict[int, str] = {}
        next_col = 0
        for cell in (c for c in row if _local(c.tag) == "c"):
            ref = cell.get("r")
            match = _CELL_REF.match(ref) if ref else None
            col = _column_index(match.group(1)) if match else next_col
            next_col = col + 1
            kind = cell.get("t", "n")
            v = next((e for e in cell if _local(e.tag) == "v"), None)
            raw = v.text if v is not None and v.text is not None else ""
            if kind == "s":
                text = shared[int(raw)] if raw.strip().isdigit() and int(raw) < len(shared) else ""
            elif kind == "inlineStr":
                text = _text_of(cell)
            elif kind == "b":
                text = "TRUE" if raw.strip() == "1" else "FALSE"
            elif kind in ("str", "e"):
                text = raw
            else:
                text = _number_text(raw) if raw else ""
            values[col] = text.strip()
        r_attr = row.get("r")
        index = int(r_attr) - 1 if r_attr and r_attr.isdigit() else len(rows)
        while len(rows) < index:
            rows.append([])
        width = max(values) + 1 if values else 0
        rows.append([values.get(i, "") for i in range(width)])
    return rows


def _read_csv(path: Path) -> list[list[str]]:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with open(path, newline="", encoding=encoding) as fh:
                sample = fh.read(4096)
                fh.seek(0)
                try:
                    delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
                except csv.Error:
                    delimiter = ","
                # only the delimiter is guessed: the quote is '"' as every spreadsheet writes it (the sniffer
                # takes the leading ' of cells neutralised against formulas, '=x, for a quote character)
                return [[c.strip() for c in row] for row in csv.reader(fh, csv.excel, delimiter=delimiter)]
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: cannot decode the CSV file")  # pragma: no cover - latin-1 decodes anything


def read_rows(path: str | os.PathLike, sheet: int = 0) -> list[list[str]]:
    """Every row of a ``.csv`` or ``.xlsx`` file (worksheet ``sheet``, from 0) as lists of text cells."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path)
    if suffix == ".xls":
        raise ValueError(
            f"{path}: the old binary Excel .xls format is not supported; open it and save it as .xlsx or .csv"
        )
    raise ValueError(f"{path}: unsupported annotation file type {suffix!r} (use .xlsx or .csv)")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_columns(
    rows: Sequence[Sequence[str]],
    aliases: Mapping[str, Sequence[str]],
    path: str | os.PathLike,
    optional: Sequence[str] = (),
) -> tuple[int, dict[str, int]]:
    """Find the header row and the column of every wanted field.

    Args:
        rows: the table's rows.
        aliases: field → accepted header names (compared without case, blanks, punctuation).
        path: the file, for the error message.
        optional: fields that may be missing (their column is then absent from the result).

    Returns:
        (index of the header row, field → column index).

    Raises:
        ValueError: no row within the first :data:`HEADER_SEARCH_ROWS` has every required column
        (the message lists the missing ones for the best candidate row).
    """
    required = [f for f in aliases if f not in optional]
    best: tuple[int, list[str], list[str]] | None = None
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = [_key(c) for c in row]
        found: dict[str, int] = {}
        for field, names in aliases.items():
            for name in names:
                if _key(name) in keys:
                    found[field] = keys.index(_key(name))
                    break
        missing = [f for f in required if f not in found]
        if not missing:
            return i, found
        if best is None or len(missing) < len(best[1]):
            best = (i, missing, [c for c in row if c])
    if best is None:
        raise ValueError(f"{path}: the annotation table is empty")
    _, missing, header = best
    wanted = ", ".join(f"{f} ({' / '.join(aliases[f])})" for f in missing)
    raise ValueError(f"{path}: annotation table is missing column(s) {wanted}; closest header row has {header}")


class Table:
    """Records of an annotation table: ``Table.read(path, aliases)`` then iterate ``(line, record)``."""

    def __init__(self, path: Path, records: list[tuple[int, dict[str, str]]]) -> None:
        self.path = path
        self.records = records

    @classmethod
    def read(cls, path: str | os.PathLike, aliases: Mapping[str, Sequence[str]], optional: Sequence[str] = ()) -> Table:
        """Read ``path`` and keep, per non-blank row after the header, the wanted fields as text
        (a cell neutralised against spreadsheet formulas by :func:`causalnet.io.csv_text` is restored)."""
        path = Path(path)
        rows = read_rows(path)
        header, columns = find_columns(rows, aliases, path, optional)
        records = []
        for i, row in enumerate(rows[header + 1 :], start=header + 2):
            # restore_cell: a cell the package's CSV writer guarded against formulas ('=x) reads as written (=x)
            record = {f: (restore_cell(row[c].strip()) if c < len(row) else "") for f, c in columns.items()}
            if any(record.values()):
                records.append((i, record))
        return cls(path, records)

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def read_table(path: str | os.PathLike, aliases: Mapping[str, Sequence[str]], optional: Sequence[str] = ()) -> Table:
    """Shorthand for :meth:`Table.read`."""
    return Table.read(path, aliases, optional)


def _cell_xml(ref: str, value: object) -> str:
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def write_xlsx(
    path: str | os.PathLike,
    rows: Sequence[Sequence[object]],
    sheet_name: str = "Sheet1",
    more_sheets: Sequence[tuple[str, Sequence[Sequence[object]]]] = (),
) -> None:
    """Write ``rows`` (text, int, float, bool or None cells) as a minimal ``.xlsx`` file; ``more_sheets``
    adds further worksheets ``(name, rows)`` after the first."""
    sheets = [(sheet_name, rows), *more_sheets]
    parts = []
    for sheet_rows in (r for _, r in sheets):
        body = []
        for r, row in enumerate(sheet_rows, start=1):
            cells = "".join(_cell_xml(f"{_column_letters(c)}{r}", v) for c, v in enumerate(row) if v is not None)
            body.append(f'<row r="{r}">{cells}</row>')
        parts.append(
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<worksheet xmlns="{_NS_MAIN}"><sheetData>{"".join(body)}</sheetData></worksheet>'
        )
    entries = "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, (name, _) in enumerate(sheets, start=1))
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><sheets>{entries}</sheets></workbook>'
    )
    links = "".join(f'<Relationship Id="rId{i}" '
                    f'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                    f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
    workbook_rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="{_NS_PKG_REL}">{links}</Relationships>'
    )
    root_rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="{_NS_PKG_REL}"><Relationship Id="rId1" '
        f'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        f'Target="xl/workbook.xml"/></Relationships>'
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-'
                  'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(sheets) + 1))
        + "</Types>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", root_rels)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        for i, part in enumerate(parts, start=1):
            zf.writestr(f"xl/worksheets/sheet{i}.xml", part)
