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

import math
from collections.abc import Callable

import numpy as np
import polars as pl

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.recipes.pairs_large_rows import (
    OVERSAMPLE,
    concat_frames,
    iter_drawn_rows,
    keyed_order,
    scan_rows,
)
from tulu_data.registry import recipe
from tulu_data.typed import FieldTypes, ReadReport

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
    df = concat_frames(kept, ctx.source(source_key).root)
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
