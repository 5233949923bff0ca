"""Typed reading: the upstream fields a recipe reads, their types, and what happens to a row that breaks them.

A recipe declares each upstream field it reads with a polars type (a struct lists only the sub-fields it
needs). A value of another JSON kind than declared (a list where text is expected, a number where a
rating string is expected, an object where a list is) is never coerced: its row is dropped and counted
under a reason naming the field and the kinds, e.g. ``response: a list where text is expected``. Text
that cannot be trusted (a lone UTF-16 surrogate, a NUL character) is dropped the same way. When no row of
a file has the declared kind for a field, the file itself has the wrong shape and reading stops with
the file, the field and the first offending line (`SourceFormatError`).

The checks here run on Python values, and only on the slow path: files that the strict columnar readers
(pyarrow with an explicit schema) refuse, or that contain a NUL escape.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import SourceFormatError

FieldTypes = dict[str, pl.DataType]
EXAMPLES_PER_REASON = 3
_SURROGATES = range(0xD800, 0xE000)


def kind_of(value: Any) -> str:
    """The JSON kind of a parsed value, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expected_kind(dtype: pl.DataType) -> str:
    """The JSON kind a declared type stands for, in words."""
    if dtype == pl.String:
        return "text"
    if dtype == pl.Boolean:
        return "a boolean"
    if dtype.is_numeric():
        return "a number"
    if isinstance(dtype, pl.List):
        return "a list"
    if isinstance(dtype, pl.Struct):
        return "an object"
    return str(dtype)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL character in text"
    if any(ord(ch) in _SURROGATES for ch in text):
        return "lone UTF-16 surrogate in text (invalid Unicode)"
    return None


def value_problem(value: Any, dtype: pl.DataType, path: str) -> str | None:
    """None if `value` has the declared type (null always has), else the reason, e.g. 'a: a list where text is expected'."""
    if value is None:
        return None
    if dtype == pl.String:
        if not isinstance(value, str):
            return f"{path}: {kind_of(value)} where text is expected"
        problem = _text_problem(value)
        return f"{path}: {problem}" if problem else None
    if dtype == pl.Boolean:
        return None if isinstance(value, bool) else f"{path}: {kind_of(value)} where a boolean is expected"
    if dtype.is_integer():
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{path}: {kind_of(value)} where an integer is expected"
    if dtype.is_numeric():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{path}: {kind_of(value)} where a number is expected"
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            return f"{path}: {kind_of(value)} where a list is expected"
        for item in value:
            problem = value_problem(item, dtype.inner, f"{path}[]")
            if problem:
                return problem
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            return f"{path}: {kind_of(value)} where an object is expected"
        for sub in dtype.fields:
            problem = value_problem(value.get(sub.name), sub.dtype, f"{path}.{sub.name}")
            if problem:
                return problem
        return None
    return None


@dataclass
class ReadReport:
    """Rows dropped while reading a source (reason → count, with located examples) and notices for the manifest."""

    drops: Counter = field(default_factory=Counter)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def drop(self, reason: str, file: str, line: int, value: Any = None) -> None:
        self.drops[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES_PER_REASON:
            kept.append({"file": file, "line": line, **({"value": _short(value)} if value is not None else {})})

    def count(self, reason: str, n: int, examples: list[dict] | None = None) -> None:
        if n:
            self.drops[reason] += n
            kept = self.examples.setdefault(reason, [])
            kept.extend((examples or [])[: EXAMPLES_PER_REASON - len(kept)])

    def merge(self, other: ReadReport) -> None:
        for reason, n in other.drops.items():
            self.count(reason, n, other.examples.get(reason))
        self.notices.extend(n for n in other.notices if n not in self.notices)


def _short(value: Any, limit: int = 120) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_records(
    records: list[tuple[int, Any]], fields: FieldTypes, where: str, report: ReadReport, unit: str = "line"
) -> list[tuple[int, dict]]:
    """The (number, record) pairs whose record has every declared field's type; the rest are counted.

    A record that is not a JSON object, or a field that no record of the file has with its declared kind,
    is the wrong shape for the whole file: `SourceFormatError` naming the file, the field and the first line.
    """
    good: list[tuple[int, dict]] = []
    seen_ok: Counter = Counter()
    first_bad: dict[str, tuple[int, str]] = {}
    for number, record in records:
        if not isinstance(record, dict):
            raise SourceFormatError(f"{where}, {unit} {number}: {kind_of(record)} where a JSON object (one record) is expected")
        problem: tuple[str, str] | None = None
        for name, dtype in fields.items():
            value = record.get(name)
            found = value_problem(value, dtype, name)
            if found is None:
                if value is not None:
                    seen_ok[name] += 1
                continue
            if " where " in found:  # a type clash, not a text-hygiene problem
                first_bad.setdefault(name, (number, found))
            problem = problem or (name, found)
        if problem is None:
            good.append((number, record))
        else:
            report.drop(problem[1], where, number, record.get(problem[0]))
    for name, (number, found) in first_bad.items():
        if not seen_ok[name]:
            raise SourceFormatError(
                f"{where}: field {name!r} has the wrong type in every row that has it (first at {unit} {number}: {found})"
            )
    return good
