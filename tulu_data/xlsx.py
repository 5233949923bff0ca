"""Reading the first worksheet of an Excel workbook with the standard library (an .xlsx file is zipped XML)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

import polars as pl

from .errors import SourceFormatError

_XLSX_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_XLSX_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def _xlsx_text(node: ElementTree.Element | None) -> str:
    """The text of a shared or inline string: its own <t>, or its rich-text runs' <t> (phonetic hints skipped)."""
    if node is None:
        return ""
    parts = [t.text or "" for t in node.findall(f"{_XLSX_MAIN}t")]
    parts += [t.text or "" for r in node.findall(f"{_XLSX_MAIN}r") for t in r.findall(f"{_XLSX_MAIN}t")]
    return "".join(parts)


def _xlsx_column(ref: str | None, fallback: int) -> int:
    """0-based column of a cell reference such as 'C7' (the running position when the reference is absent)."""
    letters = "".join(ch for ch in (ref or "") if ch.isalpha())
    if not letters:
        return fallback
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - ord("A") + 1
    return index - 1


def read_xlsx(path: Path) -> pl.DataFrame:
    """The first worksheet of an Excel workbook, every cell as text, the first non-empty row naming the columns.

    Read with the standard library (an .xlsx file is zipped XML), so no Excel package is needed.
    Wholly empty rows (formatting left-overs, not records) are skipped.
    """
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        shared = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(zf.read("xl/sharedStrings.xml"))
            shared = [_xlsx_text(si) for si in root.findall(f"{_XLSX_MAIN}si")]
        sheet = "xl/worksheets/sheet1.xml"
        if "xl/workbook.xml" in names and "xl/_rels/workbook.xml.rels" in names:
            first = ElementTree.fromstring(zf.read("xl/workbook.xml")).find(f"{_XLSX_MAIN}sheets/{_XLSX_MAIN}sheet")
            rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
            targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
            target = targets.get(first.get(f"{_XLSX_REL}id")) if first is not None else None
            if target:
                sheet = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        rows: list[dict[int, str | None]] = []
        for row in ElementTree.fromstring(zf.read(sheet)).iter(f"{_XLSX_MAIN}row"):
            cells: dict[int, str | None] = {}
            for position, cell in enumerate(row.findall(f"{_XLSX_MAIN}c")):
                kind, value = cell.get("t"), cell.find(f"{_XLSX_MAIN}v")
                if kind == "s" and value is not None:
                    text: str | None = shared[int(value.text or 0)]
                elif kind == "inlineStr":
                    text = _xlsx_text(cell.find(f"{_XLSX_MAIN}is"))
                else:
                    text = value.text if value is not None else None
                cells[_xlsx_column(cell.get("r"), position)] = text
            if any(v not in (None, "") for v in cells.values()):
                rows.append(cells)
    if not rows:
        return pl.DataFrame()
    header = rows[0]
    columns = {i: str(name) for i, name in sorted(header.items()) if name not in (None, "")}
    if len(set(columns.values())) != len(columns):
        raise SourceFormatError(f"{path}: the header row names a column twice: {list(columns.values())}")
    data = {name: [r.get(i) for r in rows[1:]] for i, name in columns.items()}
    return pl.DataFrame(data, schema={name: pl.String for name in columns.values()})
