"""Checks on an upstream file's bytes before a parser sees them, so that a damaged download is named for what it is.

A parser fed a Git LFS pointer, an HTML error page or a truncated gzip stream fails with its own
internals (``TapeError at character 0``, ``Not a gzipped file (b've')``); these checks say what the
file is and what to do instead.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from .errors import SourceFormatError

LFS_POINTER = b"version https://git-lfs.github.com/spec/"
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml", b"<body")


def _looks_like(head: bytes, path: Path) -> None:
    """Raise for a Git LFS pointer or an HTML page, whatever the file's name says."""
    if head.startswith(LFS_POINTER):
        raise SourceFormatError(
            f"{path}: this is a Git LFS pointer, not the data (the repository was cloned without git-lfs): "
            "run `git lfs pull` in that clone, or download the file itself"
        )
    if head.lstrip().lower().startswith(_HTML_STARTS):
        raise SourceFormatError(
            f"{path}: this is an HTML page, not the data (a login or error page saved instead of the file?)"
        )


def _is_gzip_name(path: Path) -> bool:
    return path.suffix == ".gz"


def check_file(path: Path, fmt: str) -> None:
    """Fail, naming the file, when it is missing, empty, or plainly not in its format."""
    if not path.exists():
        raise SourceFormatError(f"{path}: missing (a broken symbolic link?)")
    if path.stat().st_size == 0:
        raise SourceFormatError(f"{path}: empty file (0 bytes); an interrupted download?")
    with open(path, "rb") as fh:
        head = fh.read(512)
    _looks_like(head, path)
    if _is_gzip_name(path) and not head.startswith(GZIP_MAGIC):
        raise SourceFormatError(f"{path}: named .gz but not gzip-compressed (it starts with {head[:16]!r})")
    if fmt == "parquet" and not head.startswith(PARQUET_MAGIC):
        raise SourceFormatError(f"{path}: not a parquet file (it starts with {head[:16]!r})")
    if fmt == "xlsx" and not head.startswith(ZIP_MAGIC):
        raise SourceFormatError(f"{path}: not an Excel workbook (.xlsx is a zip file; it starts with {head[:16]!r})")


HEAD_BYTES = 1 << 20  # enough to sniff a file's format and its first lines


def read_data(path: Path, limit: int = -1) -> bytes:
    """The file's bytes (the first `limit` only, when given), decompressed when gzip-compressed.

    A corrupt or truncated stream names the file.
    """
    if not _is_gzip_name(path):
        with open(path, "rb") as fh:
            return fh.read(limit)
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(limit)
    except EOFError as err:
        raise SourceFormatError(f"{path}: truncated gzip stream (the file ends before its data does): {err}") from err
    except (gzip.BadGzipFile, zlib.error, OSError) as err:
        raise SourceFormatError(f"{path}: corrupt gzip stream: {err}") from err
    _looks_like(data[:512], path)
    return data


def check_json_lines(data: bytes, path: Path) -> None:
    """Fail on a pretty-printed JSON document or an empty file saved as JSON lines."""
    for number, line in enumerate(data.split(b"\n", 64)[:64], 1):
        text = line.strip()
        if not text:
            continue
        if text in (b"{", b"["):
            raise SourceFormatError(
                f"{path}, line {number}: pretty-printed JSON, one record spread over several lines; "
                "JSON lines need one whole record per line"
            )
        return
    if not data.strip():
        raise SourceFormatError(f"{path}: no records (the file holds only blank lines)")
