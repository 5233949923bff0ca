"""Preference sources that already come as pairs: Orca DPO pairs, Capybara DPO, Argilla DPO mix, AlpacaFarm.

Also the small helpers the other Tulu 2.5 preference families (rated, arena) share: reading a
conversation column in the upstream `{role, content}` shape, dropping pairs that carry no preference,
and the common finish (ids, then `steps.finalize_preference`).
"""

from __future__ import annotations

import polars as pl

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import CatalogError, SourceFormatError
from tulu_data.registry import recipe

# --------------------------------------------------------------------------------------------
# shared helpers


def only_source(ctx: RecipeContext) -> str:
    """The one source a dataset entry lists (for recipes shared by several catalog entries)."""
    if len(ctx.sources) != 1:
        raise CatalogError(f"datasets.{ctx.name}: field 'sources' must list exactly one source for this recipe, got {sorted(ctx.sources)}")
    return next(iter(ctx.sources))


def source_files(ctx: RecipeContext, key: str) -> str:
    return ", ".join(str(p) for p in ctx.source(key).files)


def messages_column(ctx: RecipeContext, key: str, df: pl.DataFrame, column: str) -> pl.Expr:
    """Column `column` as a conversation (list of `{role, content}`), whatever the upstream struct field order.

    A column that is not a list of structs with `role` and `content` fields raises, naming the files.
    """
    dtype = df.schema[column]
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    fields = {f.name for f in inner.fields} if isinstance(inner, pl.Struct) else set()
    if isinstance(dtype, pl.Null):  # every value null: nothing to read, the rows are dropped as missing
        return pl.lit(None, dtype=ops.MESSAGES).alias(column)
    if not {"role", "content"} <= fields:
        raise SourceFormatError(
            f"{source_files(ctx, key)}: field {column!r} must be a list of {{role, content}} messages, found {dtype}"
        )
    el = pl.element().struct
    return (
        pl.col(column)
        .list.eval(pl.struct(el.field("role").cast(pl.String).alias("role"), el.field("content").cast(pl.String).alias("content")))
        .cast(ops.MESSAGES)
        .alias(column)
    )


def drop_missing(ctx: RecipeContext, df: pl.DataFrame, columns: list[str], reason: str) -> pl.DataFrame:
    """Drop rows where any of `columns` is null (counted under `reason`)."""
    return ctx.drop(df, pl.any_horizontal([pl.col(c).is_null() for c in columns]), reason)


def drop_identical_answers(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Drop pairs whose final answers are the same text after stripping: they carry no preference."""
    chosen = ops.last_turn(pl.col("chosen")).str.strip_chars()
    rejected = ops.last_turn(pl.col("rejected")).str.strip_chars()
    same = ((chosen == rejected) & (chosen.str.len_chars() > 0)).fill_null(False)
    return ctx.drop(df, same, "chosen and rejected answers are identical (no preference)")


def finish_pairs(ctx: RecipeContext, df: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Identical answers dropped, stable content ids, then the common Tulu 2.5 steps (strip, checks, cap)."""
    df = drop_identical_answers(ctx, df)
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"train": steps.finalize_preference(ctx, df)}


def single_turn(user: pl.Expr, answer: pl.Expr) -> pl.Expr:
    return ops.conversation(ops.message("user", user), ops.message("assistant", answer))


def label(ctx: RecipeContext) -> pl.Expr:
    """The `source` column: the catalog dataset name unless the entry sets `params.label`."""
    return pl.lit(ctx.param("label", ctx.name)).alias("source")


# --------------------------------------------------------------------------------------------
# recipes


@recipe(
    "orca_dpo_pairs", version="1", kind="preference",
    reads="question, chosen, rejected (text)",
)
def orca_dpo_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Intel/orca_dpo_pairs: the question is the user turn, chosen/rejected the answers; the system prompt is dropped."""
    fields = {"question": pl.String, "chosen": pl.String, "rejected": pl.String}
    df = ctx.frame(only_source(ctx), required=list(fields), fields=fields)
    df = df.select(
        single_turn(pl.col("question"), pl.col("chosen")).alias("chosen"),
        single_turn(pl.col("question"), pl.col("rejected")).alias("rejected"),
        label(ctx),
    )
    return finish_pairs(ctx, df)


@recipe(
    "message_list_pairs", version="1", kind="preference",
    reads="chosen, rejected (lists of role/content messages); params.score_columns (numbers)",
)
def message_list_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Chosen/rejected already as message lists (Capybara DPO, Argilla DPO mix): taken as they are.

    `params.score_columns` names the upstream [chosen, rejected] rating columns, kept as the scores.
    """
    key = only_source(ctx)
    score_columns = list(ctx.param("score_columns", []))
    fields = {"chosen": ops.MESSAGES, "rejected": ops.MESSAGES, **{c: pl.Float64 for c in score_columns}}
    df = ctx.frame(key, required=list(fields), fields=fields)
    scores = []
    if score_columns:
        chosen_score, rejected_score = score_columns
        scores = [pl.col(chosen_score).cast(pl.Float64).alias("score_chosen"),
                  pl.col(rejected_score).cast(pl.Float64).alias("score_rejected")]
    df = df.select(messages_column(ctx, key, df, "chosen"), messages_column(ctx, key, df, "rejected"), label(ctx), *scores)
    df = drop_missing(ctx, df, ["chosen", "rejected"], "chosen or rejected conversation missing")
    return finish_pairs(ctx, df)


@recipe(
    "alpaca_farm_preference", version="1", kind="preference",
    reads="instruction, input, output_1, output_2 (text); preference (a number: 1 or 2)",
)
def alpaca_farm_preference(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """AlpacaFarm pairwise preferences: `preference` 1 or 2 names the preferred output.

    The user turn is the instruction, followed by a blank line and the input when the input is not
    blank; rows whose preference is anything but 1 or 2 are dropped.
    """
    texts = ["instruction", "input", "output_1", "output_2"]
    fields = {**{t: pl.String for t in texts}, "preference": pl.Float64}
    df = ctx.frame(only_source(ctx), required=list(fields), fields=fields)
    preference = pl.col("preference")
    df = ctx.drop(df, ~preference.is_in([1.0, 2.0]), "preference is not 1 or 2")
    instruction = pl.col("instruction").str.strip_chars()
    extra = pl.col("input").cast(pl.String).fill_null("").str.strip_chars()
    user = pl.when(extra != "").then(instruction + "\n\n" + extra).otherwise(instruction)
    first_wins = preference == 1
    better = pl.when(first_wins).then(pl.col("output_1")).otherwise(pl.col("output_2"))
    worse = pl.when(first_wins).then(pl.col("output_2")).otherwise(pl.col("output_1"))
    df = df.select(single_turn(user, better).alias("chosen"), single_turn(user, worse).alias("rejected"), label(ctx))
    return finish_pairs(ctx, df)
