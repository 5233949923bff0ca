"""Column operations shared by recipes: row schemas, stable hashing, keyed randomness, message checks.

Everything here works on whole columns (polars / numpy); nothing loops over rows in Python except
where noted. Randomness is *keyed*: a draw is a pure function of (row key, seed, salt), so results do
not depend on row order, on how the input was split into files, or on the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
MESSAGES = pl.List(MESSAGE)
ROLES = ("system", "user", "assistant")

PREFERENCE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String,
    "source": pl.String,
    "chosen": MESSAGES,
    "rejected": MESSAGES,
    "score_chosen": pl.Float64,
    "score_rejected": pl.Float64,
}
SFT_SCHEMA: dict[str, pl.DataType] = {"dataset": pl.String, "id": pl.String, "messages": MESSAGES}
PROMPT_SCHEMA: dict[str, pl.DataType] = {"id": pl.String, "source": pl.String, "prompt": MESSAGES}
SCHEMAS = {"preference": PREFERENCE_SCHEMA, "sft": SFT_SCHEMA, "prompts": PROMPT_SCHEMA}

PREFERENCE_CAP = 500_000
PART_COLUMN = "part"  # in mixture rows: the catalog dataset each row came from
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# --------------------------------------------------------------------------------------------
# stable hashing and keyed randomness


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised; uint64 arithmetic wraps as intended."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


_HASH_P = 1099511628211
_HASH_CHUNK_BYTES = 1 << 21  # text hashed per step: bounds memory to a few tens of MB whatever the column size
_POWERS: dict[int, np.ndarray] = {}


def _powers(base: int, n: int) -> np.ndarray:
    """base**k mod 2**64 for k < n (cached for the chunk size)."""
    cached = _POWERS.get(base)
    if cached is not None and len(cached) >= n:
        return cached[:n]
    size = max(n, _HASH_CHUNK_BYTES)
    with np.errstate(over="ignore"):
        arr = np.full(size, base, dtype=np.uint64)
        arr[0] = 1
        arr = np.cumprod(arr, dtype=np.uint64)
    if size == _HASH_CHUNK_BYTES:
        _POWERS[base] = arr
    return arr[:n]


def _polynomial_hash(chunk: pl.Series) -> np.ndarray:
    """sum((byte_i + 1) * P**(len - 1 - i)) mod 2**64 per string, for one chunk of rows.

    Computed as P**(end-1) * (S[end] - S[start]) with S the prefix sum of (byte_g + 1) * P**-g over the
    chunk's bytes: P is odd, so it has an inverse mod 2**64 and the identity is exact in uint64.
    """
    import pyarrow as pa

    arr = chunk.to_arrow()
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    starts, ends = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
    total = int(ends[-1]) if n else 0
    if total == 0:
        return np.zeros(n, dtype=np.uint64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    with np.errstate(over="ignore"):
        prefix = np.empty(total + 1, dtype=np.uint64)
        prefix[0] = 0
        weighted = prefix[1:]
        np.add(data, np.uint64(1), out=weighted, dtype=np.uint64)
        np.multiply(weighted, _powers(_HASH_P_INV, total), out=weighted)
        np.cumsum(weighted, out=weighted)
        return _powers(_HASH_P, total)[np.maximum(ends - 1, 0)] * (prefix[ends] - prefix[starts])


_HASH_P_INV = pow(_HASH_P, -1, 1 << 64)


def stable_hash64(values: pl.Series | Iterable[str]) -> np.ndarray:
    """A 64-bit hash of each string, identical across runs, platforms and library versions.

    A polynomial hash over the UTF-8 bytes, then mixed with splitmix64. Nulls hash like the empty
    string. The column is hashed in chunks of about 2 MiB of text, so memory stays small for any size.
    """
    series = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    series = series.cast(pl.String).fill_null("")
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    lengths = series.str.len_bytes().cast(pl.Int64).to_numpy()
    ends = np.cumsum(lengths)
    sums = np.empty(n, dtype=np.uint64)
    row = 0
    while row < n:
        base = int(ends[row - 1]) if row else 0
        stop = max(int(np.searchsorted(ends, base + _HASH_CHUNK_BYTES, side="right")), row + 1)
        sums[row:stop] = _polynomial_hash(series.slice(row, stop - row))
        row = stop
    with np.errstate(over="ignore"):
        return _splitmix64(sums ^ (lengths.astype(np.uint64) * np.uint64(0x100000001B3)))


def _seed_salt(seed: int, salt: str) -> np.uint64:
    return stable_hash64([f"{seed}\x1f{salt}"])[0]


def keyed_uint64(keys: pl.Series | np.ndarray, seed: int, salt: str = "") -> np.ndarray:
    """Pseudo-random uint64 per key; the same key, seed and salt always give the same number."""
    base = keys if isinstance(keys, np.ndarray) and keys.dtype == np.uint64 else stable_hash64(keys)
    return _splitmix64(base ^ _seed_salt(seed, salt))


def keyed_uniform(keys: pl.Series | np.ndarray, seed: int, salt: str = "") -> pl.Series:
    """A uniform draw in [0, 1) per key (53 bits of precision)."""
    bits = keyed_uint64(keys, seed, salt) >> np.uint64(11)
    return pl.Series("u", bits.astype(np.float64) * (1.0 / (1 << 53)))


def hex_ids(hashes: np.ndarray) -> pl.Series:
    """Render uint64 hashes as 16-character hex strings, vectorised."""
    raw = hashes.astype(">u8").tobytes().hex().encode()
    return pl.Series("id", np.frombuffer(raw, dtype="S16").astype("U16"), dtype=pl.String)


_ID_CHUNK_ROWS = 20_000  # rows whose key text is built at once: bounds the transient JSON/concat strings


def content_ids(df: pl.DataFrame, columns: list[str], prefix: str = "") -> pl.Series:
    """A stable id per row from the content of `columns` (nested columns are JSON-encoded).

    Rows are keyed in chunks, so the joined key text never holds more than a few MB at once.
    """
    parts = []
    for col in columns:
        dtype = df.schema[col]
        expr = pl.col(col)
        if isinstance(dtype, pl.List | pl.Struct | pl.Array):
            expr = expr.map_batches(_json_encode, return_dtype=pl.String)
        parts.append(expr.cast(pl.String).fill_null("\x00"))
    key = pl.concat_str(parts, separator="\x1e").alias("k")
    hashes = [
        stable_hash64(df.slice(start, _ID_CHUNK_ROWS).select(key).to_series())
        for start in range(0, df.height, _ID_CHUNK_ROWS)
    ]
    ids = hex_ids(np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64))
    return ids if not prefix else pl.select(pl.lit(prefix) + pl.lit(ids)).to_series().alias("id")


def _json_encode(s: pl.Series) -> pl.Series:
    """JSON text of a nested column (wrapped as {"v": ...}), for hashing."""
    return s.to_frame("v").select(pl.struct("v").struct.json_encode()).to_series()


def shuffle(df: pl.DataFrame, seed: int, key: str = "id", salt: str = "shuffle") -> pl.DataFrame:
    """Order rows by a keyed random draw (ties broken by the key), independent of input order."""
    order = keyed_uniform(df[key], seed, salt)
    return df.with_columns(order.alias("__order")).sort(["__order", key]).drop("__order")


def take_random(df: pl.DataFrame, n: int, seed: int, key: str = "id", salt: str = "sample") -> pl.DataFrame:
    """A seeded random sample of at most `n` rows (never the first rows), in shuffled order."""
    return shuffle(df, seed, key, salt).head(n)


# --------------------------------------------------------------------------------------------
# messages


def message(role: str | pl.Expr, content: pl.Expr) -> pl.Expr:
    """One `{role, content}` struct built from column expressions."""
    role_expr = pl.lit(role) if isinstance(role, str) else role
    return pl.struct(role_expr.cast(pl.String).alias("role"), content.cast(pl.String).alias("content"))


def conversation(*messages: pl.Expr) -> pl.Expr:
    """A list-of-messages column from message structs."""
    return pl.concat_list(list(messages)).cast(MESSAGES)


def strip_messages(expr: pl.Expr) -> pl.Expr:
    """Strip leading/trailing whitespace of every message's content."""
    el = pl.element()
    return expr.list.eval(
        pl.struct(
            el.struct.field("role").alias("role"),
            el.struct.field("content").str.strip_chars().alias("content"),
        )
    )


def any_empty_message(expr: pl.Expr) -> pl.Expr:
    """True where a conversation is empty/null or any message content is empty or null."""
    contents = expr.list.eval(pl.element().struct.field("content").fill_null("").str.len_chars() == 0)
    return expr.is_null() | (expr.list.len() == 0) | contents.list.any()


def any_bad_role(expr: pl.Expr) -> pl.Expr:
    """True where any message has a role other than system/user/assistant."""
    bad = expr.list.eval(~pl.element().struct.field("role").fill_null("").is_in(list(ROLES)))
    return bad.list.any().fill_null(True)


def ends_with_assistant(expr: pl.Expr) -> pl.Expr:
    return (expr.list.last().struct.field("role") == "assistant").fill_null(False)


def last_turn(expr: pl.Expr) -> pl.Expr:
    return expr.list.last().struct.field("content")


def prefix(expr: pl.Expr) -> pl.Expr:
    """All messages but the last."""
    return expr.list.head(expr.list.len() - 1)


def schema_cast(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select `schema`'s columns in order, adding missing optional score columns as nulls."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        elif name.startswith("score_") or name == "margin":
            cols.append(pl.lit(None, dtype=dtype).alias(name))
        else:
            raise KeyError(f"output is missing column {name!r}")
    extra = [c for c in df.columns if c not in schema]
    return df.select(cols + [pl.col(c) for c in extra])
