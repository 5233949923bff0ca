"""Reading upstream files in their formats into frames, typed by the fields a recipe declares.

With `fields` (field → polars type; a struct lists only the sub-fields needed), a file is read strictly:

- JSON lines: pyarrow's reader with an explicit schema (multi-threaded, refuses any value of another kind);
  if it refuses, or the text holds a NUL escape, the file is read again line by line and each row is
  checked (`typed.check_records`): rows with a wrong-typed field, a NUL or a lone surrogate are dropped
  and counted with their line numbers; anything that is not a JSON record stops the build, naming the line;
- JSON arrays: each record is checked the same way (the array is parsed by Python's json anyway);
- parquet: the stored column types must match the declared kinds (else the file is the wrong shape);
  string values holding NUL send the file through the row check;
- CSV and xlsx: every cell is read as text; a declared number that does not parse is a counted drop.

Before any parser, `filecheck` names Git LFS pointers, HTML pages, empty files, false or truncated gzip.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SourceFormatError
from .filecheck import check_file, check_json_lines, read_data
from .typed import FieldTypes, ReadReport, check_records, expected_kind
from .xlsx import read_xlsx

if TYPE_CHECKING:
    from .sources import ResolvedSource

SUFFIXES = {
    ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx",
}
COMPRESSED = (".gz",)  # gzip-compressed text files (e.g. train.jsonl.gz) are read as their inner format
DUPLICATE_ROW = "exact duplicate of an earlier upstream row"
READER_VERSION = "2"  # in every fingerprint: typed reading and duplicate drops can change what a recipe sees


def data_suffix(path: Path) -> str:
    """The suffix that names a file's format, looking through a compression suffix."""
    return Path(path.stem).suffix if path.suffix in COMPRESSED else path.suffix


def file_format(path: Path, declared: str) -> str:
    """The format of one file: by suffix, and for .json by content (a JSON array or JSON lines)."""
    fmt = SUFFIXES.get(data_suffix(path), declared)
    if fmt == "json":
        fmt = "json" if read_data(path, 4096).lstrip().startswith(b"[") else "jsonl"
    return fmt


def arrow_schema(fields: FieldTypes) -> pa.Schema:
    """The plain (not large) Arrow schema of declared fields, as pyarrow's JSON reader needs."""
    from .writer import to_arrow

    return to_arrow(pl.DataFrame(schema=fields)).schema


# --------------------------------------------------------------------------------------------
# typed reading, one function per format


def _from_records(records: list[tuple[int, dict]], fields: FieldTypes) -> pl.DataFrame:
    """A frame from records whose declared fields were already checked (so no value is coerced)."""
    table = pa.Table.from_pylist([record for _, record in records], schema=arrow_schema(fields))
    return pl.from_arrow(table)  # type: ignore[return-value]


def parse_json_lines(
    data: bytes, path: Path, fields: FieldTypes, report: ReadReport, numbers: list[int] | None = None
) -> tuple[pl.DataFrame, list[int] | None]:
    """JSON lines typed by `fields`; also the numbers of the lines kept when some were dropped (else None).

    `numbers`: what to call each non-blank line in messages (default: its line number in `data`).
    """
    import pyarrow.json as pj

    if b"\\u0000" not in data:
        options = pj.ParseOptions(explicit_schema=arrow_schema(fields), unexpected_field_behavior="ignore")
        try:
            return pl.from_arrow(pj.read_json(io.BytesIO(data), parse_options=options)), None  # type: ignore[return-value]
        except pa.ArrowInvalid:
            pass  # a value of another kind, or text pyarrow refuses: find the rows below
    records = []
    lines = (line for line in enumerate(data.split(b"\n"), 1) if line[1].strip())
    for i, (number, line) in enumerate(lines):
        number = numbers[i] if numbers is not None else number
        try:
            records.append((number, json.loads(line)))
        except ValueError as err:
            raise SourceFormatError(f"{path}, line {number}: not a JSON record ({err})") from err
    good = check_records(records, fields, str(path), report)
    return _from_records(good, fields), [number for number, _ in good]


def _typed_json_lines(data: bytes, path: Path, fields: FieldTypes, report: ReadReport) -> pl.DataFrame:
    check_json_lines(data, path)
    return parse_json_lines(data, path, fields, report)[0]


def _typed_json_array(data: bytes, path: Path, fields: FieldTypes, report: ReadReport) -> pl.DataFrame:
    try:
        records = json.loads(data)
    except ValueError as err:
        raise SourceFormatError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(records, list):
        raise SourceFormatError(f"{path}: expected a JSON array of records or JSON lines")
    good = check_records(list(enumerate(records, 1)), fields, str(path), report, unit="record")
    return _from_records(good, fields)


def _kind_matches(stored: pa.DataType, dtype: pl.DataType) -> bool:
    """Whether a stored Arrow type holds values of the declared kind (sub-fields not declared are ignored)."""
    if pa.types.is_null(stored):
        return True
    if dtype == pl.String:
        return pa.types.is_string(stored) or pa.types.is_large_string(stored)
    if dtype == pl.Boolean:
        return pa.types.is_boolean(stored)
    if dtype.is_integer():
        return pa.types.is_integer(stored)
    if dtype.is_numeric():
        return pa.types.is_integer(stored) or pa.types.is_floating(stored)
    if isinstance(dtype, pl.List):
        is_list = pa.types.is_list(stored) or pa.types.is_large_list(stored)
        return is_list and _kind_matches(stored.value_type, dtype.inner)
    if isinstance(dtype, pl.Struct):
        if not pa.types.is_struct(stored):
            return False
        names = {stored.field(i).name: stored.field(i).type for i in range(stored.num_fields)}
        return all(f.name not in names or _kind_matches(names[f.name], f.dtype) for f in dtype.fields)
    return True


def _string_leaves(arr: pa.Array) -> list[pa.Array]:
    """Every string array nested in `arr` (through lists and structs)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [arr]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _string_leaves(arr.flatten())
    if pa.types.is_struct(kind):
        return [leaf for i in range(kind.num_fields) for leaf in _string_leaves(arr.field(i))]
    return []


def _has_nul(table: pa.Table) -> bool:
    leaves = [leaf for col in table.columns for leaf in _string_leaves(col)]
    return any(pc.any(pc.match_substring(leaf, "\x00")).as_py() for leaf in leaves if len(leaf))


def _typed_parquet(path: Path, fields: FieldTypes, report: ReadReport) -> pl.DataFrame:
    import pyarrow.parquet as pq

    try:
        stored = pq.read_schema(path)
    except Exception as err:
        raise SourceFormatError(f"{path}: cannot be read as parquet: {err}") from err
    columns = [c for c in fields if c in stored.names]
    check_parquet_kinds(path, stored, fields)
    try:
        table = pq.read_table(path, columns=columns)
    except Exception as err:
        raise SourceFormatError(f"{path}: cannot be read as parquet: {err}") from err
    return drop_nul_rows(table, path, fields, report)[0]


def check_parquet_kinds(path: Path, stored: pa.Schema, fields: FieldTypes) -> None:
    """Fail, naming the file and field, when a stored column does not hold the declared kind."""
    for name in [c for c in fields if c in stored.names]:
        if not _kind_matches(stored.field(name).type, fields[name]):
            raise SourceFormatError(
                f"{path}: field {name!r} is stored as {stored.field(name).type} where {expected_kind(fields[name])} "
                "is expected (the whole column has the wrong type)"
            )


def drop_nul_rows(
    table: pa.Table, path: Path, fields: FieldTypes, report: ReadReport, numbers: list[int] | None = None
) -> tuple[pl.DataFrame, list[int] | None]:
    """A parquet table as a frame; rows whose text holds NUL are dropped and counted.

    Also returns the numbers of the rows kept when some were dropped (else None); `numbers` names the
    table's rows in messages (default: 1, 2, ...).
    """
    if not _has_nul(table):
        return pl.from_arrow(table), None  # type: ignore[return-value]
    numbered = list(zip(numbers or range(1, table.num_rows + 1), table.to_pylist(), strict=True))
    good = check_records(numbered, fields, str(path), report, unit="row")
    return _from_records(good, {c: fields[c] for c in table.column_names if c in fields}), [n for n, _ in good]


def _typed_text_table(df: pl.DataFrame, path: Path, fields: FieldTypes, report: ReadReport) -> pl.DataFrame:
    """CSV / xlsx cells are text: declared numbers must parse, text must hold no NUL; the rest is counted."""
    df = df.with_row_index("__row", offset=2)  # row 1 is the header
    for name, dtype in fields.items():
        if name not in df.columns:
            continue
        if dtype == pl.String:
            bad = pl.col(name).str.contains("\x00", literal=True).fill_null(False)
            reason = f"{name}: NUL character in text"
        else:
            parsed = pl.col(name).str.strip_chars().cast(dtype, strict=False)
            bad = parsed.is_null() & (pl.col(name).str.strip_chars().fill_null("") != "")
            reason = f"{name}: text where {expected_kind(dtype)} is expected"
        flagged = df.filter(bad)
        if flagged.height:
            examples = [{"file": str(path), "row": r["__row"], "value": r[name]} for r in flagged.head(3).to_dicts()]
            report.count(reason, flagged.height, examples)
            df = df.filter(~bad)
        if dtype != pl.String:
            df = df.with_columns(pl.col(name).str.strip_chars().cast(dtype, strict=False))
    return df.drop("__row")


def _read_typed(path: Path, fmt: str, fields: FieldTypes, report: ReadReport) -> pl.DataFrame:
    if fmt == "parquet":
        return _typed_parquet(path, fields, report)
    if fmt == "xlsx":
        return _typed_text_table(read_xlsx(path), path, fields, report)
    data = read_data(path)
    if fmt == "csv":
        try:
            df = pl.read_csv(io.BytesIO(data), infer_schema=False)
        except Exception as err:
            raise SourceFormatError(f"{path}: cannot be read as csv: {err}") from err
        return _typed_text_table(df, path, fields, report)
    if fmt == "json":
        return _typed_json_array(data, path, fields, report)
    return _typed_json_lines(data, path, fields, report)


def _read_untyped(path: Path, fmt: str, columns: list[str] | None) -> pl.DataFrame:
    """Every field as the format's reader infers it (for files the project wrote itself, e.g. references)."""
    if fmt == "parquet":
        return pl.read_parquet(path, columns=columns) if columns else pl.read_parquet(path)
    if fmt == "xlsx":
        return read_xlsx(path)
    data = read_data(path)
    if fmt == "json":
        records = json.loads(data)
        if not isinstance(records, list):
            raise SourceFormatError(f"{path}: expected a JSON array of records or JSON lines")
        return pl.from_dicts(records, infer_schema_length=None) if records else pl.DataFrame()
    if fmt == "jsonl":
        check_json_lines(data, path)
    reader = pl.read_csv if fmt == "csv" else pl.read_ndjson
    return reader(io.BytesIO(data), infer_schema_length=None)


def read_file(
    path: Path,
    declared: str = "jsonl",
    columns: list[str] | None = None,
    fields: FieldTypes | None = None,
    report: ReadReport | None = None,
) -> pl.DataFrame:
    """Read one file into a frame; with `fields`, strictly typed (rows that break them are counted in `report`).

    Every error names the file (and the line or field where there is one).
    """
    fmt = file_format(path, declared)
    check_file(path, fmt)
    try:
        if fields:
            df = _read_typed(path, fmt, fields, report if report is not None else ReadReport())
        else:
            df = _read_untyped(path, fmt, columns)
    except SourceFormatError:
        raise
    except Exception as err:
        raise SourceFormatError(f"{path}: cannot be read as {fmt}: {err}") from err
    if columns and fmt != "parquet" and all(c in df.columns for c in columns):
        df = df.select(columns)
    return df


def require_columns(df: pl.DataFrame, required: list[str] | tuple[str, ...], where: str) -> None:
    """Fail with the file and field names when `df` lacks an upstream field."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SourceFormatError(
            f"{where}: missing field(s) {', '.join(map(repr, missing))} (found: {', '.join(df.columns) or 'nothing'})"
        )


def drop_duplicate_rows(df: pl.DataFrame, report: ReadReport, where: str) -> pl.DataFrame:
    """Keep the first of rows equal in every upstream field (in file order); the others are counted."""
    columns = [c for c in df.columns if not c.startswith("__")]
    if df.height < 2 or not columns:
        return df
    first = df.select(pl.struct(columns).is_first_distinct()).to_series()
    n = df.height - int(first.sum())
    if n:
        report.count(DUPLICATE_ROW, n, [{"file": where, "rows": n}])
        df = df.filter(first)
    return df


def read_source(
    source: ResolvedSource,
    required: list[str] | tuple[str, ...] = (),
    with_file: bool = False,
    fields: FieldTypes | None = None,
    report: ReadReport | None = None,
) -> pl.DataFrame:
    """All files of a source as one frame; each file must carry the `required` fields.

    With `fields`, reading is typed (see `read_file`) and exact duplicate rows are dropped and counted.
    """
    report = report if report is not None else ReadReport()
    frames = []
    for path in source.files:
        df = read_file(path, source.spec.format, fields=fields, report=report)
        if fields and df.height:  # a declared field comes back all null where the file lacks it
            df = df.drop([c for c in required if c in df.columns and df[c].null_count() == df.height])
        if df.height or df.columns:
            require_columns(df, required, str(path))
        if with_file:
            df = df.with_columns(pl.lit(source.relative(path)).alias("__file"))
        frames.append(df)
    if not frames:
        raise SourceFormatError(f"source {source.spec.key!r}: no files to read")
    try:
        df = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    except Exception as err:
        raise SourceFormatError(f"source {source.spec.key!r}: files disagree on their schema: {err}") from err
    return drop_duplicate_rows(df, report, f"source {source.spec.key!r}") if fields else df
