"""Preference pairs from sources too big to read whole: SHP-2 and stack-exchange-paired.

SHP-2 is ~3.6M rows of JSON lines (one file per domain); stack-exchange-paired ~31M rows of parquet (tens
of GB). The Tulu 2.5 rule is "shuffle with the seed, keep 500,000". Hashing every row's content to shuffle
it would mean reading every text into memory, so the order is drawn from row positions instead:

1. a metadata pass counts each file's rows: parquet row counts come from the footers; JSON lines are
   counted by finding newline bytes in fixed-size blocks (nothing is parsed; blank lines are not rows);
2. each row gets a keyed draw from its position alone:
   ``key(file, row) = splitmix64(row XOR H(seed, "row-order:" + file path relative to the source root))``
   so the order is a pure function of the seed and the pinned upstream files (a mirror that splits or
   renames the files differently gives a different, equally random, sample);
3. the rows with the smallest keys are read: ``ceil(cap * 1.03)`` of them, 3% over the cap because the
   rules drop some rows. Parquet row groups holding none of them are skipped and only the needed columns
   are decoded; JSON lines are gathered by byte range and parsed together;
4. the common drop rules run on the rows read (every drop counted). If fewer than `cap` survive and rows
   remain, the next rows in the same order are read (1.5 times the shortfall plus 1,000), until `cap`
   survive or the source is exhausted;
5. of the survivors, the `cap` with the smallest keys are kept (``steps.cap_rows`` with a rank), then put
   in the usual keyed order of their content ids.

So the output is exactly "the first `cap` rows, in the keyed random order of (file, row), that pass the
rules". Rows never read and rows read past the cap are counted as "over the cap".
"""

from __future__ import annotations

import gzip
import json
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.filecheck import check_file, check_json_lines
from tulu_data.readers import check_parquet_kinds, drop_nul_rows, parse_json_lines
from tulu_data.registry import recipe
from tulu_data.sources import ResolvedSource, file_format, read_file, require_columns
from tulu_data.typed import FieldTypes, ReadReport

OVERSAMPLE = 0.03
BLOCK_BYTES = 64 << 20
WORKERS = 2  # files scanned or read at once (numpy, file reads and parquet decoding release the GIL)


@dataclass
class FileRows:
    """One upstream file: its format, its row count and, for JSON lines, where each row's bytes are."""

    path: Path
    relative: str
    fmt: str  # parquet | jsonl | json
    count: int
    starts: np.ndarray | None = None  # jsonl: byte offset of each row
    ends: np.ndarray | None = None  # jsonl: byte offset just past each row's text (its newline excluded)


# --------------------------------------------------------------------------------------------
# metadata pass


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) blocks of a file's (decompressed) data."""
    opener = gzip.open if path.suffix == ".gz" else open
    offset = 0
    with opener(path, "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            yield offset, block
            offset += len(block)


def jsonl_row_spans(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Start and end byte offsets of every non-blank line, found from newline bytes only."""
    newlines, size = [], 0
    for offset, block in _blocks(path):
        newlines.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10).astype(np.int64) + offset)
        size = offset + len(block)
    nl = np.concatenate(newlines) if newlines else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    ends = np.concatenate([nl, [size]]).astype(np.int64)
    keep = ends > starts
    return starts[keep], ends[keep]


def _first_record(path: Path, starts: np.ndarray, ends: np.ndarray) -> dict:
    for offset, block in _blocks(path):
        start, end = int(starts[0]) - offset, int(ends[0]) - offset
        if end <= len(block):
            try:
                record = json.loads(block[start:end])
            except ValueError as err:
                raise SourceFormatError(f"{path}: line 1 is not a JSON record: {err}") from err
            if not isinstance(record, dict):
                raise SourceFormatError(f"{path}: line 1 is not a JSON object")
            return record
        break
    raise SourceFormatError(f"{path}: first record longer than {BLOCK_BYTES:,} bytes")


def _scan_file(source: ResolvedSource, path: Path, required: list[str], fields: FieldTypes, report: ReadReport) -> FileRows:
    fmt = file_format(path, source.spec.format)
    check_file(path, fmt)
    rel = source.relative(path)
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(path)
        except Exception as err:
            raise SourceFormatError(f"{path}: cannot be read as parquet: {err}") from err
        missing = [c for c in required if c not in meta.schema_arrow.names]
        if missing:
            raise SourceFormatError(
                f"{path}: missing field(s) {', '.join(map(repr, missing))} (found: {', '.join(meta.schema_arrow.names)})"
            )
        check_parquet_kinds(path, meta.schema_arrow, fields)
        return FileRows(path, rel, fmt, meta.metadata.num_rows)
    if fmt == "jsonl":
        check_json_lines(next(_blocks(path))[1], path)
        starts, ends = jsonl_row_spans(path)
        if len(starts):
            record = _first_record(path, starts, ends)
            missing = [c for c in required if c not in record]
            if missing:
                raise SourceFormatError(f"{path}: missing field(s) {', '.join(map(repr, missing))} (found: {', '.join(record)})")
        return FileRows(path, rel, fmt, len(starts), starts, ends)
    # a JSON array: no cheap way to count, read it whole (upstream ships JSON lines); rows dropped here are counted here
    df = read_file(path, source.spec.format, fields=fields, report=report)
    if df.height:
        require_columns(df, required, str(path))
    return FileRows(path, rel, fmt, df.height)


def scan_rows(source: ResolvedSource, required: list[str], fields: FieldTypes, report: ReadReport) -> list[FileRows]:
    """Count the rows of every file of `source` (files in parallel) and check each has the `required` fields.

    Checks that need no parsing of the rows (file damage, stored column types) run here, before any draw.
    """
    reports = [ReadReport() for _ in source.files]
    with ThreadPoolExecutor(WORKERS) as pool:
        files = list(pool.map(lambda i: _scan_file(source, source.files[i], required, fields, reports[i]),
                              range(len(source.files))))
    for file_report in reports:
        report.merge(file_report)
    return files


# --------------------------------------------------------------------------------------------
# keyed order over (file, row)


def file_row_keys(file: FileRows, seed: int) -> np.ndarray:
    """The keyed draw of every row of one file (see the module docstring)."""
    return ops.keyed_uint64(np.arange(file.count, dtype=np.uint64), seed, f"row-order:{file.relative}")


def keyed_order(files: list[FileRows], seed: int, take: int) -> tuple[np.ndarray, np.ndarray]:
    """(file index, row index) of the `take` rows with the smallest keys, in key order."""
    total = sum(f.count for f in files)
    take = min(take, total)
    if take == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    all_keys = np.concatenate([file_row_keys(f, seed) for f in files if f.count])
    threshold = np.partition(all_keys, take - 1)[take - 1] if take < total else np.uint64(2**64 - 1)
    del all_keys
    keys, file_idx, row_idx = [], [], []
    for i, f in enumerate(files):
        if not f.count:
            continue
        k = file_row_keys(f, seed)
        rows = np.flatnonzero(k <= threshold)
        keys.append(k[rows])
        file_idx.append(np.full(len(rows), i, dtype=np.int32))
        row_idx.append(rows.astype(np.int64))
    key_arr, file_arr, row_arr = np.concatenate(keys), np.concatenate(file_idx), np.concatenate(row_idx)
    order = np.lexsort((row_arr, file_arr, key_arr))[:take]
    return file_arr[order], row_arr[order]


# --------------------------------------------------------------------------------------------
# reading only the rows drawn


def _parquet_table(file: FileRows, rows: np.ndarray, columns: list[str]) -> pa.Table:
    """Rows `rows` (sorted) of a parquet file, decoding only the row groups that hold them."""
    pf = pq.ParquetFile(file.path)
    columns = [c for c in columns if c in pf.schema_arrow.names]
    bounds = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
    group_of = np.searchsorted(bounds, rows, side="right") - 1
    tables = []
    for group in np.unique(group_of):
        local = rows[group_of == group] - bounds[group]
        tables.append(pf.read_row_group(int(group), columns=columns).take(pa.array(local)))
    return pa.concat_tables(tables)


def _gather(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The bytes of spans [starts, ends) of `buffer`, each followed by a newline.

    One slice per drawn row, copied at memcpy speed: this assembles input bytes for the JSON parser and
    touches no field. (A per-byte numpy index over the same bytes measured ~20x slower.)
    """
    view = memoryview(buffer)
    return b"\n".join([view[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]) + b"\n"


def _jsonl_rows(file: FileRows, rows: np.ndarray, fields: FieldTypes, report: ReadReport) -> tuple[pl.DataFrame, np.ndarray]:
    """Rows `rows` (sorted) of a JSON lines file: their bytes gathered block by block, parsed together, typed.

    Also returns which of `rows` were kept (rows with a wrong-typed field or bad text are counted in `report`).
    """
    assert file.starts is not None and file.ends is not None
    starts, ends = file.starts[rows], file.ends[rows]
    pieces: list[bytes] = []
    carry = np.zeros(0, dtype=np.uint8)
    carry_at = 0
    done = 0
    for offset, block in _blocks(file.path):
        buffer = np.concatenate([carry, np.frombuffer(block, dtype=np.uint8)]) if len(carry) else np.frombuffer(block, dtype=np.uint8)
        base = carry_at if len(carry) else offset
        buf_end = base + len(buffer)
        upto = int(np.searchsorted(ends[done:], buf_end, side="right")) + done
        if upto > done:
            pieces.append(_gather(buffer, starts[done:upto] - base, ends[done:upto] - base))
            done = upto
        if done < len(rows) and starts[done] < buf_end:
            carry, carry_at = buffer[int(starts[done]) - base :].copy(), int(starts[done])
        else:
            carry, carry_at = np.zeros(0, dtype=np.uint8), 0
        if done == len(rows):
            break
    if done != len(rows):
        raise SourceFormatError(f"{file.path}: ended before row {int(rows[done]) + 1} (file changed while reading?)")
    data = b"".join(pieces)
    numbers = (rows + 1).tolist()  # row numbers in the file (blank lines are not rows)
    df, kept = parse_json_lines(data, file.path, fields, report, numbers=numbers)
    mask = np.ones(len(rows), dtype=bool) if kept is None else np.isin(rows + 1, np.asarray(kept, dtype=np.int64))
    if df.height != int(mask.sum()):
        raise SourceFormatError(f"{file.path}: {len(rows)} lines gave {df.height} records (a line is not one JSON record)")
    return df, mask


def _drawn_rows_of(
    file: FileRows, rows: np.ndarray, rank: np.ndarray, fields: FieldTypes
) -> tuple[pl.DataFrame, ReadReport]:
    """The drawn rows of one file, typed, with their rank; and what reading them dropped."""
    report = ReadReport()
    columns = list(fields)
    if file.fmt == "parquet":
        df, kept = drop_nul_rows(_parquet_table(file, rows, columns), file.path, fields, report, (rows + 1).tolist())
        mask = None if kept is None else np.isin(rows + 1, np.asarray(kept, dtype=np.int64))
    elif file.fmt == "jsonl":
        df, mask = _jsonl_rows(file, rows, fields, report)
    else:  # rows dropped by the typed read of a JSON array were counted when the file was scanned
        df, mask = read_file(file.path, "json", fields=fields)[rows], None
    df = df.select([c for c in columns if c in df.columns])
    rank = rank if mask is None else rank[mask]
    return df.with_columns(pl.Series("__rank", rank, dtype=pl.Int64)), report


def iter_drawn_rows(
    files: list[FileRows],
    file_idx: np.ndarray,
    row_idx: np.ndarray,
    ranks: np.ndarray,
    fields: FieldTypes,
    report: ReadReport | None = None,
) -> Iterator[pl.DataFrame]:
    """Per file, the drawn rows (upstream `fields`, typed) with their keyed-order rank as `__rank`.

    Rows dropped by the typed read are counted in `report`, file by file in file order.

    Frames come in file order. Up to WORKERS next files are read in background threads while the caller
    works on the current one (parquet decoding releases the GIL), so never more than WORKERS + 1 files'
    drawn rows are in memory.
    """
    jobs = []
    for i in np.unique(file_idx):
        mine = np.flatnonzero(file_idx == i)
        order = np.argsort(row_idx[mine], kind="stable")
        jobs.append((files[int(i)], row_idx[mine][order], ranks[mine][order]))
    waiting = iter(jobs)
    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque[Future[tuple[pl.DataFrame, ReadReport]]] = deque()

        def read_ahead() -> None:
            job = next(waiting, None)
            if job is not None:
                pending.append(pool.submit(_drawn_rows_of, *job, fields))

        for _ in range(WORKERS):
            read_ahead()
        while pending:
            current, file_report = pending.popleft().result()
            if report is not None:
                report.merge(file_report)
            read_ahead()
            yield current
            del current


def read_rows(
    files: list[FileRows], file_idx: np.ndarray, row_idx: np.ndarray, ranks: np.ndarray, fields: FieldTypes
) -> pl.DataFrame:
    """All drawn rows as one frame (see `iter_drawn_rows`)."""
    frames = list(iter_drawn_rows(files, file_idx, row_idx, ranks, fields))
    if not frames:
        return pl.DataFrame({"__rank": pl.Series([], dtype=pl.Int64)})
    return _concat(frames, files[0].path.parent)


def _concat(frames: list[pl.DataFrame], where: Path) -> pl.DataFrame:
    try:
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    except Exception as err:
        raise SourceFormatError(f"files under {where} disagree on their schema: {err}") from err


# --------------------------------------------------------------------------------------------
# the sampled build


def sampled_preference(
    ctx: RecipeContext,
    source_key: str,
    required: list[str],
    fields: FieldTypes,
    build: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """Draw rows in keyed (file, row) order, build pairs, validate, and keep the first `cap` that pass.

    `build` turns upstream rows into `chosen`, `rejected`, `source`, `id` (and optional scores), keeping
    the `__rank` column.
    """
    cap = ctx.param("cap", ops.PREFERENCE_CAP)
    report = ReadReport()
    files = scan_rows(ctx.source(source_key), required, fields, report)
    total = sum(f.count for f in files)
    if total == 0:
        raise SourceFormatError(f"source {source_key!r}: no rows in {', '.join(str(f.path) for f in files)}")
    ctx.rows_in[source_key] = total
    want = total if cap is None else min(total, math.ceil(cap * (1 + OVERSAMPLE)))
    kept, survivors, read = [], 0, 0
    while read < total:
        file_idx, row_idx = keyed_order(files, ctx.seed, want)
        # one file at a time: only the pairs that passed the rules pile up, never a whole round's raw rows
        for raw in iter_drawn_rows(files, file_idx[read:], row_idx[read:], np.arange(read, want), fields, report):
            valid = steps.validate_preference(ctx, build(raw))
            del raw
            survivors += valid.height
            kept.append(valid)
        read = want
        if cap is None or survivors >= cap:
            break
        want = min(total, want + math.ceil((cap - survivors) * 1.5) + 1000)
    if cap is not None and total > read:
        ctx.count_drop(f"over the {cap:,}-row cap (seeded shuffle)", total - read)
    ctx.note("rows read (keyed random order of file and row)", read)
    ctx.count_read_drops(report)
    df = _concat(kept, ctx.source(source_key).root)
    del kept
    df = steps.cap_rows(ctx, df, cap, rank="__rank")
    return ops.schema_cast(df, ops.PREFERENCE_SCHEMA)


def _label(ctx: RecipeContext) -> str:
    return str(ctx.param("label", ctx.name))


IDENTICAL = "chosen and rejected answers are the same text (no preference)"


def _pairs(ctx: RecipeContext, df: pl.DataFrame, prompt: pl.Expr, chosen: pl.Expr, rejected: pl.Expr, extra: list[pl.Expr]) -> pl.DataFrame:
    """Single-turn pairs (prompt as the user turn), ids hashed from the three texts; identical answers dropped (counted)."""
    flat = df.select(prompt.alias("__p"), chosen.alias("__c"), rejected.alias("__r"), *extra, pl.col("__rank"))
    same = (pl.col("__c").str.strip_chars() == pl.col("__r").str.strip_chars()).fill_null(False)
    flat = ctx.drop(flat, same, IDENTICAL)
    # ids from the three texts (not the JSON of both conversations): half the bytes to hash, as stable
    flat = flat.with_columns(ops.content_ids(flat, ["__p", "__c", "__r"]).alias("id"))
    user = ops.message("user", pl.col("__p"))
    return flat.select(
        ops.conversation(user, ops.message("assistant", pl.col("__c"))).alias("chosen"),
        ops.conversation(user, ops.message("assistant", pl.col("__r"))).alias("rejected"),
        pl.lit(_label(ctx)).alias("source"),
        pl.exclude("__p", "__c", "__r"),
    )


# --------------------------------------------------------------------------------------------
# SHP-2


SHP_REQUIRED = ["history", "human_ref_A", "human_ref_B", "labels"]
SHP_FIELDS: FieldTypes = {
    "history": pl.String, "human_ref_A": pl.String, "human_ref_B": pl.String, "labels": pl.Float64,
    "score_A": pl.Float64, "score_B": pl.Float64, "domain": pl.String,
}


@recipe(
    "shp_pairs", version="1", kind="preference",
    reads="history, human_ref_A, human_ref_B (text); labels (a number: 1 or 0); score_A, score_B (numbers), domain (text)",
)
def shp_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Post as the user turn; labels 1 means comment A is preferred, 0 comment B; no score-ratio filter."""

    def build(raw: pl.DataFrame) -> pl.DataFrame:
        labels = pl.col("labels")
        raw = ctx.drop(raw, ~labels.is_in([0.0, 1.0]), "labels is neither 1 (A preferred) nor 0 (B preferred)")
        a_wins = labels == 1
        extra = []
        if {"score_A", "score_B"} <= set(raw.columns):
            score_a, score_b = pl.col("score_A").cast(pl.Float64, strict=False), pl.col("score_B").cast(pl.Float64, strict=False)
            extra = [
                pl.when(a_wins).then(score_a).otherwise(score_b).alias("score_chosen"),
                pl.when(a_wins).then(score_b).otherwise(score_a).alias("score_rejected"),
            ]
        if "domain" in raw.columns:
            extra.append(pl.col("domain").cast(pl.String))
        return _pairs(
            ctx,
            raw,
            pl.col("history"),
            pl.when(a_wins).then(pl.col("human_ref_A")).otherwise(pl.col("human_ref_B")),
            pl.when(a_wins).then(pl.col("human_ref_B")).otherwise(pl.col("human_ref_A")),
            extra,
        )

    return {"train": sampled_preference(ctx, "shp_2", SHP_REQUIRED, SHP_FIELDS, build)}


# --------------------------------------------------------------------------------------------
# stack-exchange-paired


STACK_EXCHANGE_REQUIRED = ["question", "response_j", "response_k"]
STACK_EXCHANGE_FIELDS: FieldTypes = {"question": pl.String, "response_j": pl.String, "response_k": pl.String, "qid": pl.Int64}


@recipe(
    "stack_exchange_pairs", version="1", kind="preference",
    reads="question, response_j, response_k (text); qid (an integer)",
)
def stack_exchange_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Question as the user turn; chosen = response_j (the higher-scored answer), rejected = response_k."""

    def build(raw: pl.DataFrame) -> pl.DataFrame:
        extra = [pl.col("qid").cast(pl.Int64, strict=False)] if "qid" in raw.columns else []
        return _pairs(ctx, raw, pl.col("question"), pl.col("response_j"), pl.col("response_k"), extra)

    return {"train": sampled_preference(ctx, "stack_exchange_paired", STACK_EXCHANGE_REQUIRED, STACK_EXCHANGE_FIELDS, build)}
