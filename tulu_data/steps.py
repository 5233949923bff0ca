"""Pipeline steps shared by many recipes, each one idea, each counting what it drops."""

from __future__ import annotations

import polars as pl

from . import ops
from .context import RecipeContext


def clean_conversations(ctx: RecipeContext, df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Strip every message; drop rows with a bad role, an empty message, or not ending in an assistant turn."""
    df = df.with_columns([ops.strip_messages(pl.col(c)).alias(c) for c in columns])
    for col in columns:
        df = ctx.drop(df, ops.any_bad_role(pl.col(col)), f"{col}: role other than system/user/assistant")
    for col in columns:
        df = ctx.drop(df, ops.any_empty_message(pl.col(col)), f"{col}: empty message")
    for col in columns:
        df = ctx.drop(df, ~ops.ends_with_assistant(pl.col(col)), f"{col}: does not end in an assistant turn")
    return df


def cap_rows(ctx: RecipeContext, df: pl.DataFrame, cap: int | None, key: str = "id", rank: str | None = None) -> pl.DataFrame:
    """Seeded shuffle (keyed on `key`), then keep at most `cap` rows; the rest are counted as dropped.

    With `rank`, the rows kept are the `cap` with the smallest value in that column (a seeded order the
    recipe drew itself, e.g. over file and row before reading every text of a huge source); the column
    is then removed and the rows kept are still put in the keyed order of `key`.
    """
    if rank is not None:
        df = df.sort(rank)
        if cap is not None and df.height > cap:
            ctx.count_drop(f"over the {cap:,}-row cap (seeded shuffle)", df.height - cap)
            df = df.head(cap)
        return ops.shuffle(df.drop(rank), ctx.seed, key=key)
    df = ops.shuffle(df, ctx.seed, key=key)
    if cap is not None and df.height > cap:
        ctx.count_drop(f"over the {cap:,}-row cap (seeded shuffle)", df.height - cap)
        df = df.head(cap)
    return df


def validate_preference(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Strip both conversations and drop (counted) the pairs the Tulu 2.5 rules reject."""
    df = clean_conversations(ctx, df, ["chosen", "rejected"])
    return ctx.drop(
        df,
        ops.prefix(pl.col("chosen")) != ops.prefix(pl.col("rejected")),
        "chosen and rejected do not share the prompt turns",
    )


def finalize_preference(
    ctx: RecipeContext, df: pl.DataFrame, cap: int | None = ops.PREFERENCE_CAP, rank: str | None = None
) -> pl.DataFrame:
    """The common Tulu 2.5 steps: strip, validate both conversations, seeded shuffle + cap, fixed columns.

    `rank` names a column holding the recipe's own seeded order for the cap (see `cap_rows`).
    """
    df = validate_preference(ctx, df)
    df = cap_rows(ctx, df, ctx.param("cap", cap), rank=rank)
    return ops.schema_cast(df, ops.PREFERENCE_SCHEMA)


def finalize_sft(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Strip, validate the conversation (roles, empty turns, ending in assistant), keyed order, fixed columns."""
    df = clean_conversations(ctx, df, ["messages"])
    return ops.schema_cast(ops.shuffle(df, ctx.seed), ops.SFT_SCHEMA)
