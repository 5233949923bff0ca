"""Resolving upstream sources to local files, and reading them in their upstream formats.

Three ways to resolve a source (`--sources`):

- `hub`: download the pinned revision's files with `huggingface_hub` (cached as usual);
- a folder `DIR`: a local mirror, the upstream file(s) for source key K under `DIR/K/`;
- `samples`: the small synthetic files shipped in `tulu_data/samples/K/`, in the upstream schema.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import io
import json
import os
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

import polars as pl

from .catalog import SourceSpec
from .errors import SourceError, SourceFormatError

SAMPLES_DIR = Path(__file__).parent / "samples"
_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx",
}
_COMPRESSED = (".gz",)  # gzip-compressed text files (e.g. train.jsonl.gz) are read as their inner format


def _data_suffix(path: Path) -> str:
    """The suffix that names a file's format, looking through a compression suffix."""
    return Path(path.stem).suffix if path.suffix in _COMPRESSED else path.suffix


@dataclass(frozen=True)
class ResolvedSource:
    """A source resolved to concrete local files (sorted, so reading order is fixed)."""

    spec: SourceSpec
    mode: str  # hub | mirror | samples
    root: Path
    files: tuple[Path, ...]

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def file_records(self) -> list[dict]:
        return [{"path": self.relative(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in self.files]

    @property
    def revision(self) -> str:
        return self.spec.revision if self.mode == "hub" else f"{self.mode} copy (pinned upstream: {self.spec.revision})"


_HASH_CACHE: dict[str, str] = {}
_HASH_CACHE_MIN_BYTES = 1 << 20  # small files are hashed again rather than remembered on disk


def _hash_cache_file() -> Path:
    return Path(os.environ.get("TULU_DATA_HASH_CACHE", Path.home() / ".cache" / "tulu-data" / "file-hashes.json"))


def _load_hash_cache() -> dict[str, str]:
    try:
        return json.loads(_hash_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _remember_hash(key: str, digest: str) -> None:
    """Add one entry to the on-disk cache (best effort, written atomically)."""
    path = _hash_cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _load_hash_cache()
        entries[key] = digest
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, path)
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (path, inode, size, mtime) in-process and, for large files, on disk.

    Upstream files are big (UltraFeedback is ~1 GB, stack-exchange-paired tens of GB) and hashing them
    is part of every build's fingerprint, so an unchanged file is not hashed twice.
    """
    st = path.stat()
    key = f"{path.resolve()}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
    if key not in _HASH_CACHE and st.st_size >= _HASH_CACHE_MIN_BYTES:
        cached = _load_hash_cache().get(key)
        if cached:
            _HASH_CACHE[key] = cached
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
        if st.st_size >= _HASH_CACHE_MIN_BYTES:
            _remember_hash(key, _HASH_CACHE[key])
    return _HASH_CACHE[key]


def _data_files_in(folder: Path, spec: SourceSpec) -> tuple[Path, ...]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _data_suffix(p) in _SUFFIXES and not p.name.startswith("."))
    if spec.data_files and folder != SAMPLES_DIR / spec.key:
        wanted = [p for p in files if any(fnmatch.fnmatch(p.relative_to(folder).as_posix(), pat) for pat in spec.data_files)]
        files = wanted or files  # a mirror may rename files: any jsonl/json/csv/parquet under DIR/<key>/ is accepted
    return tuple(files)


def resolve_source(spec: SourceSpec, sources: str) -> ResolvedSource:
    """Resolve `spec` the way `--sources` says: 'hub', 'samples', or a mirror folder."""
    if sources == "samples":
        folder = SAMPLES_DIR / spec.key
        if not folder.is_dir():
            raise SourceError(f"source {spec.key!r}: no bundled samples (expected {folder})")
        return ResolvedSource(spec, "samples", folder, _data_files_in(folder, spec))
    if sources == "hub":
        return _resolve_hub(spec)
    folder = Path(sources) / spec.key
    if not folder.is_dir():
        raise SourceError(
            f"source {spec.key!r}: mirror folder {folder} does not exist; put the upstream file(s) of "
            f"{spec.hub_id} there in their upstream format (jsonl, json, csv, parquet or xlsx; .gz-compressed text files are read too)"
        )
    files = _data_files_in(folder, spec)
    if not files:
        raise SourceError(f"source {spec.key!r}: no .jsonl/.json/.csv/.parquet/.xlsx file (or .gz of one) under {folder}")
    return ResolvedSource(spec, "mirror", folder, files)


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of the Hub endpoint, so that an offline machine fails in seconds, not retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve_hub(spec: SourceSpec) -> ResolvedSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    hint = (
        "Use --sources samples for the bundled sample data, or --sources DIR for a local mirror "
        f"(the upstream files of each source under DIR/<source_key>/, e.g. DIR/{spec.key}/)."
    )
    online = hub_reachable()
    try:
        path = snapshot_download(
            repo_id=spec.hub_id,
            repo_type=spec.repo_type,
            revision=spec.revision,
            allow_patterns=list(spec.data_files) or None,
            local_files_only=not online,  # offline: a cached copy of the pinned revision still works
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as err:
        raise SourceError(
            f"source {spec.key!r}: cannot download {spec.hub_id}@{spec.revision}: "
            + ("the Hugging Face Hub is not reachable from this machine (offline) and no cached copy of that revision exists. "
               if not online else f"{type(err).__name__}: {err}. ")
            + hint
        ) from err
    except Exception as err:  # HfHubHTTPError and friends: name the repo and revision
        raise SourceError(f"source {spec.key!r}: download of {spec.hub_id}@{spec.revision} failed: {err}. {hint}") from err
    root = Path(path)
    files = _data_files_in(root, spec)
    if not files:
        raise SourceError(f"source {spec.key!r}: {spec.hub_id}@{spec.revision} has no files matching {spec.data_files}")
    return ResolvedSource(spec, "hub", root, files)


# --------------------------------------------------------------------------------------------
# reading


def _open(path: Path) -> IO[bytes]:
    """A binary file object over the file's data, decompressing a gzip-compressed file."""
    return gzip.open(path, "rb") if path.suffix in _COMPRESSED else open(path, "rb")


def file_format(path: Path, declared: str) -> str:
    """The format of one file: by suffix, and for .json by content (a JSON array or JSON lines)."""
    fmt = _SUFFIXES.get(_data_suffix(path), declared)
    if fmt == "json":
        with _open(path) as fh:
            head = fh.read(4096).lstrip()
        fmt = "json" if head.startswith(b"[") else "jsonl"
    return fmt


def read_file(
    path: Path, declared: str = "jsonl", columns: list[str] | None = None, fields: dict[str, pl.DataType] | None = None
) -> pl.DataFrame:
    """Read one upstream file into a DataFrame; format errors name the file.

    `fields` (optional) names the top-level fields a recipe reads, with their types (a struct listing only
    the sub-fields it needs). A hint for speed: plain JSON-lines files are then parsed for those fields
    only, with those types (pyarrow's reader; polars' if that fails), and parquet files read only those
    columns. Other formats are read whole. A field missing from a JSON-lines file comes back all null.
    """
    fmt = file_format(path, declared)
    try:
        if fields and fmt == "jsonl" and path.suffix not in _COMPRESSED and os.path.getsize(path) > 0:
            with contextlib.suppress(Exception):  # e.g. a value of another type than declared: read whole below
                return _read_jsonl_fields(path, fields)
        if fields and fmt == "parquet":
            present = pl.read_parquet_schema(path)
            columns = [c for c in fields if c in present] or None
        if fmt == "parquet":
            df = pl.read_parquet(path, columns=columns) if columns else pl.read_parquet(path)
        elif os.path.getsize(path) == 0:
            df = pl.DataFrame()
        elif fmt == "xlsx":
            df = read_xlsx(path)
        elif fmt == "json":
            with _open(path) as fh:
                records = json.load(fh)
            if not isinstance(records, list):
                raise SourceFormatError(f"{path}: expected a JSON array of records or JSON lines")
            df = pl.from_dicts(records, infer_schema_length=None) if records else pl.DataFrame()
        else:  # jsonl or csv: a plain file is read from disk, a compressed one decompressed in memory
            data: Path | io.BytesIO = path
            if path.suffix in _COMPRESSED:
                with _open(path) as fh:
                    data = io.BytesIO(fh.read())
            reader = pl.read_csv if fmt == "csv" else pl.read_ndjson
            df = reader(data, infer_schema_length=None)
    except SourceFormatError:
        raise
    except Exception as err:
        raise SourceFormatError(f"{path}: cannot be read as {fmt}: {err}") from err
    if columns and fmt != "parquet":
        missing = [c for c in columns if c not in df.columns]
        if not missing:
            df = df.select(columns)
    return df


def _read_jsonl_fields(path: Path, fields: dict[str, pl.DataType]) -> pl.DataFrame:
    """Only `fields` of a JSON-lines file, with their types, by pyarrow's multi-threaded reader."""
    import pyarrow.json as pj

    from .writer import to_arrow  # plain (not large) Arrow types, which pyarrow's JSON reader needs

    schema = to_arrow(pl.DataFrame(schema=fields)).schema
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    return pl.from_arrow(pj.read_json(path, parse_options=options))


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


def require_columns(df: pl.DataFrame, required: list[str] | tuple[str, ...], where: str) -> None:
    """Fail with the file and field names when `df` lacks an upstream field."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SourceFormatError(
            f"{where}: missing field(s) {', '.join(map(repr, missing))} (found: {', '.join(df.columns) or 'nothing'})"
        )


def read_source(
    source: ResolvedSource,
    required: list[str] | tuple[str, ...] = (),
    with_file: bool = False,
    fields: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """All files of a source as one frame; each file must carry the `required` fields (see `read_file` for `fields`)."""
    frames = []
    for path in source.files:
        df = read_file(path, source.spec.format, fields=fields)
        if df.height == 0 and not df.columns:
            continue
        if fields:  # a field read by declared type comes back all null where the file lacks it
            df = df.drop([c for c in required if c in df.columns and df[c].null_count() == df.height])
        require_columns(df, required, str(path))
        if with_file:
            df = df.with_columns(pl.lit(source.relative(path)).alias("__file"))
        frames.append(df)
    if not frames:
        raise SourceFormatError(f"source {source.spec.key!r}: no rows in {', '.join(map(str, source.files))}")
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except Exception as err:
        raise SourceFormatError(f"source {source.spec.key!r}: files disagree on their schema: {err}") from err
