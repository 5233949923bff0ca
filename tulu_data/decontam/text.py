"""Pinned text normalisation and word tokens, and the texts of training rows that steps compare.

Tokeniser `words-v1` (part of every fingerprint that uses it; change the name if the rule changes):

1. Unicode NFKC normalisation (full-width letters, ligatures, superscripts fold to plain forms);
2. lower case (Unicode rules);
3. every run of characters that are neither letters (`\\p{L}`) nor digits (`\\p{N}`) becomes one space,
   so punctuation, symbols, underscores and whitespace of any kind all separate words;
4. split on the spaces; empty pieces are dropped.

Tokens are words, not model tokenizer pieces: results do not depend on any tokenizer download, and
"lightly edited" copies (case, spacing, punctuation) give the same tokens as the original.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

from ..errors import TuluDataError

TOKENIZER = "words-v1"
_NON_WORD = r"[^\p{L}\p{N}]+"
_PY_NON_WORD = re.compile(r"[\W_]+")
FIELDS = ("user_turns", "all_turns")


def normalized(expr: pl.Expr) -> pl.Expr:
    """The normalised text: tokens joined by single spaces (steps 1-3 above, stripped)."""
    return (
        expr.fill_null("").str.normalize("NFKC").str.to_lowercase().str.replace_all(_NON_WORD, " ").str.strip_chars()
    )


def word_tokens(expr: pl.Expr) -> pl.Expr:
    """The token list of each text (an empty text gives an empty list)."""
    text = normalized(expr)
    return pl.when(text == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(text.str.split(" "))


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
