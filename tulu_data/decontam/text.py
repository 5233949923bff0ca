"""Pinned text normalisation and word tokens, and the texts of training rows that steps compare.

Tokeniser `words-v1` (part of every fingerprint that uses it; change the name if the rule changes):

1. Unicode NFKC normalisation (full-width letters, ligatures, superscripts fold to plain forms);
2. lower case (Unicode rules);
3. a token is a maximal run of letters (`\\p{L}`) and digits (`\\p{N}`); everything else (punctuation,
   symbols, underscores, whitespace of any kind) separates tokens and is dropped.

Tokens are words, not model tokenizer pieces: results do not depend on any tokenizer download, and
"lightly edited" copies (case, spacing, punctuation) give the same tokens as the original. For the
scans each token is reduced to `ops.stable_hash64` of its text (stable across runs, platforms and
library versions); `py_tokens` is the same rule in plain Python.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import polars as pl

from ..errors import TuluDataError

TOKENIZER = "words-v1"
_NON_WORD = r"[^\p{L}\p{N}]+"
_WORD = r"[\p{L}\p{N}]+"
_PY_NON_WORD = re.compile(r"[\W_]+")
FIELDS = ("user_turns", "all_turns")


def normalized(expr: pl.Expr) -> pl.Expr:
    """The normalised text: tokens joined by single spaces (steps 1-3 above, stripped)."""
    return (
        expr.fill_null("").str.normalize("NFKC").str.to_lowercase().str.replace_all(_NON_WORD, " ").str.strip_chars()
    )


def word_tokens(expr: pl.Expr) -> pl.Expr:
    """The token list of each text: its maximal runs of letters and digits after NFKC and lower case."""
    return expr.fill_null("").str.normalize("NFKC").str.to_lowercase().str.extract_all(_WORD).fill_null([])


def folded(texts: pl.Series) -> pl.Series:
    """NFKC + lower case of a text column; NFKC runs only on the texts that are not pure ASCII (a no-op there)."""
    texts = texts.cast(pl.String).fill_null("")
    other = (texts.str.len_bytes() != texts.str.len_chars()).arg_true()
    if len(other):
        texts = texts.scatter(other, texts.gather(other).str.normalize("NFKC"))
    return texts.str.to_lowercase()


def py_tokens(text: str | None) -> list[str]:
    """The same tokens in plain Python (for references, examples and tests)."""
    return _PY_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text or "").lower()).split()


def _conversation_column(df: pl.DataFrame) -> str:
    for name in ("messages", "chosen", "prompt"):
        if name in df.columns and isinstance(df.schema[name], pl.List):
            return name
    raise TuluDataError(
        "no conversation column to read: expected `messages` (SFT), `chosen`/`rejected` (preference) or `prompt` "
        f"(prompts) as lists of {{role, content}}; found {', '.join(df.columns) or 'nothing'}"
    )


def row_segments(df: pl.DataFrame, field: str) -> pl.DataFrame:
    """One text per (row, turn): `row` (position in `df`) and `text`, in row then turn order.

    `field`: `user_turns` (the user messages: the prompt side, as Tulu 3 compared), `all_turns` (every
    message; for preference rows the shared turns and both final answers), or the name of a string column.
    """
    if field not in FIELDS:
        if field not in df.columns or df.schema[field] != pl.String:
            raise TuluDataError(f"field {field!r}: neither user_turns, all_turns nor a text column of the data")
        return df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), pl.col(field).fill_null("").alias("text"))
    column = _conversation_column(df)
    turns = [pl.col(column)]
    if field == "all_turns" and column == "chosen" and "rejected" in df.columns:
        turns.append(pl.col("rejected").list.slice(-1, 1))
    frame = df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), pl.concat_list(turns).alias("turn"))
    frame = frame.explode("turn").drop_nulls("turn")
    if field == "user_turns":
        frame = frame.filter(pl.col("turn").struct.field("role") == "user")
    return frame.select("row", pl.col("turn").struct.field("content").fill_null("").alias("text"))


def _ascii_token_hashes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`ops.stable_hash64` of every token of pure-ASCII, lower-cased `texts`, and the text of each token.

    Works on the Arrow byte buffer with numpy: a token is a maximal run of [a-z0-9] inside one text; its
    polynomial hash comes from prefix sums over the bytes, exactly as `ops.stable_hash64` computes it.
    """
    import pyarrow as pa

    from .. import ops

    arr = texts.to_arrow()
    arr = (arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr).cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if offsets[-1] > offsets[0] else np.zeros(0, np.uint8)
    offsets = offsets - offsets[0]
    if len(data) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
    word = ((data >= 97) & (data <= 122)) | ((data >= 48) & (data <= 57))
    boundary = np.zeros(len(data) + 1, dtype=bool)
    boundary[offsets] = True
    first = word & (boundary[:-1] | ~np.concatenate(([False], word[:-1])))
    last = word & (boundary[1:] | ~np.concatenate((word[1:], [False])))
    starts, ends = np.flatnonzero(first), np.flatnonzero(last) + 1
    with np.errstate(over="ignore"):
        prefix = np.empty(len(data) + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(data.astype(np.uint64) + np.uint64(1), ops._powers(ops._HASH_P_INV, len(data)), out=prefix[1:])
        np.cumsum(prefix[1:], out=prefix[1:])
        sums = ops._powers(ops._HASH_P, len(data))[ends - 1] * (prefix[ends] - prefix[starts])
        hashes = ops._splitmix64(sums ^ ((ends - starts).astype(np.uint64) * np.uint64(0x100000001B3)))
    seg = np.repeat(np.arange(len(offsets) - 1, dtype=np.uint32), np.diff(offsets))[starts]
    return hashes, seg


def _ascii_token_hashes_chunked(texts: pl.Series, budget: int = 1 << 21) -> tuple[np.ndarray, np.ndarray]:
    """`_ascii_token_hashes` over slices of about `budget` bytes (the size `ops` keeps its powers for)."""
    ends = np.cumsum(texts.str.len_bytes().to_numpy().astype(np.int64))
    hashes, segs, row = [], [], 0
    while row < len(texts):
        base = int(ends[row - 1]) if row else 0
        stop = max(int(np.searchsorted(ends, base + budget, side="right")), row + 1)
        h, seg = _ascii_token_hashes(texts.slice(row, stop - row))
        hashes.append(h)
        segs.append(seg.astype(np.uint32) + np.uint32(row))
        row = stop
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
    return np.concatenate(hashes), np.concatenate(segs)


def token_hashes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A stable 64-bit hash of every token of `texts` (`ops.stable_hash64` of the token string, the rule of
    `word_tokens`) and the position in `texts` of each; tokens of one text are contiguous and in order.

    Pure-ASCII texts (after lower case) are tokenised on their bytes with numpy; the others through polars.
    """
    from .. import ops

    texts = folded(texts)
    ascii_rows = (texts.str.len_bytes() == texts.str.len_chars()).arg_true()
    other_rows = (texts.str.len_bytes() != texts.str.len_chars()).arg_true()
    hashes, seg = _ascii_token_hashes_chunked(texts.gather(ascii_rows))
    seg = ascii_rows.to_numpy()[seg].astype(np.uint32) if len(seg) else seg
    if len(other_rows):
        frame = pl.DataFrame({"seg": other_rows.cast(pl.UInt32), "tok": texts.gather(other_rows).str.extract_all(_WORD)})
        frame = frame.explode("tok").drop_nulls("tok")
        hashes = np.concatenate((hashes, ops.stable_hash64(frame["tok"])))
        seg = np.concatenate((seg, frame["seg"].to_numpy()))
    return hashes, seg
