"""The shape inspect and compare expect of conversation columns, checked before any figure is computed."""

from __future__ import annotations

import polars as pl

from .errors import TuluDataError

CONVERSATION_COLUMNS = {"preference": ("chosen", "rejected"), "sft": ("messages",), "prompts": ("prompt",)}


def _is_conversation(dtype: pl.DataType) -> bool:
    """A list of {role, content} messages."""
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return False
    return {"role", "content"} <= {f.name for f in dtype.inner.fields}


def check_conversations(df: pl.DataFrame, kind: str, what: str) -> None:
    """Stop with a plain message when a conversation column holds something else (plain text, say)."""
    for column in CONVERSATION_COLUMNS.get(kind, ()):
        dtype = df.schema.get(column)
        if dtype is not None and not _is_conversation(dtype):
            raise TuluDataError(
                f"{what}: column {column!r} holds {dtype}, not conversations (lists of {{role, content}} "
                "messages, as tulu-data builds and the released Tulu datasets have)"
            )
