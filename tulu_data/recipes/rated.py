"""Preference pairs built from rated or labelled responses: HelpSteer (attribute ratings), PRM800K (step labels).

Drops are counted in upstream rows (responses, labelled samples); how many prompts or problems that
makes is recorded as a note.
"""

from __future__ import annotations

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.recipes.pairs import finish_pairs, label, only_source, single_turn, source_files
from tulu_data.registry import recipe

HELPSTEER_ASPECTS = ("helpfulness", "correctness", "coherence", "complexity")  # verbosity is left out
FOUND_ERROR = "found_error"
PRM800K_FIELDS: dict[str, pl.DataType] = {
    "question": pl.Struct(
        {"problem": pl.String, "ground_truth_solution": pl.String, "pre_generated_steps": pl.List(pl.String)}
    ),
    "label": pl.Struct({"finish_reason": pl.String}),
}


def pick_per_group(df: pl.DataFrame, group: str, draw: str, key: str) -> pl.DataFrame:
    """One row per `group`: the lowest keyed `draw`, ties broken by the row key, so input order never matters."""
    return df.sort([group, draw, key]).unique(subset=group, keep="first", maintain_order=True)


def blank(expr: pl.Expr) -> pl.Expr:
    """True where a text is null or only whitespace."""
    return expr.fill_null("").str.strip_chars() == ""


@recipe(
    "helpsteer", version="1", kind="preference",
    reads="prompt, response (text); helpfulness, correctness, coherence, complexity (numbers)",
)
def helpsteer(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """HelpSteer: per prompt, the response with the best mean of four ratings against one rated strictly lower.

    Score = mean of helpfulness, correctness, coherence and complexity (verbosity left out). Chosen is
    the best-scored response (a keyed draw among tied best ones); rejected a keyed draw among the
    responses scored strictly lower whose text differs from the chosen one. Prompts with one response,
    or whose responses all tie, give no pair.
    """
    key = only_source(ctx)
    fields = {"prompt": pl.String, "response": pl.String, **{a: pl.Float64 for a in HELPSTEER_ASPECTS}}
    df = ctx.frame(key, required=list(fields), fields=fields)
    df = df.select(
        pl.col("prompt").cast(pl.String).str.strip_chars(),
        pl.col("response").cast(pl.String).str.strip_chars(),
        *[pl.col(a).cast(pl.Float64, strict=False) for a in HELPSTEER_ASPECTS],
    )
    in_range = pl.all_horizontal([pl.col(a).is_between(0, 4) for a in HELPSTEER_ASPECTS]).fill_null(False)
    df = ctx.drop(df, ~in_range, "a rating (helpfulness, correctness, coherence, complexity) is missing or outside 0-4")
    df = ctx.drop(df, blank(pl.col("prompt")) | blank(pl.col("response")), "empty prompt or response")
    df = df.with_columns(pl.sum_horizontal(HELPSTEER_ASPECTS).alias("total"))
    df = df.with_columns(
        ops.content_ids(df, ["prompt", "response", *HELPSTEER_ASPECTS]).alias("row_key"),
        pl.len().over("prompt").alias("responses"),
        pl.col("total").max().over("prompt").alias("best"),
    )
    prompts_in = df["prompt"].n_unique()
    df = ctx.drop(df, pl.col("responses") == 1, "prompt has only one usable response (no pair possible)")
    all_tied = (pl.col("total") == pl.col("best")).all().over("prompt")
    prompts_tied = df.filter(all_tied)["prompt"].n_unique()
    df = ctx.drop(df, all_tied, "every response of the prompt has the same mean rating (no preference)")
    df = df.with_columns(
        ops.keyed_uniform(df["row_key"], ctx.seed, "helpsteer-chosen").alias("draw_chosen"),
        ops.keyed_uniform(df["row_key"], ctx.seed, "helpsteer-rejected").alias("draw_rejected"),
    )

    chosen = pick_per_group(df.filter(pl.col("total") == pl.col("best")), "prompt", "draw_chosen", "row_key").select(
        "prompt", pl.col("response").alias("chosen_text"), pl.col("total").alias("chosen_total")
    )
    lower = df.join(chosen, on="prompt").filter(
        (pl.col("total") < pl.col("chosen_total")) & (pl.col("response") != pl.col("chosen_text"))
    )
    rejected = pick_per_group(lower, "prompt", "draw_rejected", "row_key").select(
        "prompt", pl.col("response").alias("rejected_text"), pl.col("total").alias("rejected_total")
    )
    pairs = chosen.join(rejected, on="prompt", how="inner")
    unpaired = df.join(pairs.select("prompt"), on="prompt", how="anti").height
    ctx.count_drop("no lower-rated response with a different text (prompt gives no pair)", unpaired)
    ctx.count_drop("response not used (one pair per prompt: the best and one lower-rated response)",
                   df.height - unpaired - 2 * pairs.height)
    ctx.note("helpsteer_prompts", {"read": prompts_in, "paired": pairs.height, "all responses tied": prompts_tied})

    n = len(HELPSTEER_ASPECTS)
    out = pairs.select(
        single_turn(pl.col("prompt"), pl.col("chosen_text")).alias("chosen"),
        single_turn(pl.col("prompt"), pl.col("rejected_text")).alias("rejected"),
        label(ctx),
        (pl.col("chosen_total") / n).alias("score_chosen"),
        (pl.col("rejected_total") / n).alias("score_rejected"),
    )
    return finish_pairs(ctx, out)


def require_struct_fields(ctx: RecipeContext, key: str, df: pl.DataFrame, column: str, fields: list[str]) -> None:
    """Fail, naming the files, when struct column `column` lacks one of `fields`."""
    dtype = df.schema[column]
    have = {f.name for f in dtype.fields} if isinstance(dtype, pl.Struct) else set()
    present = df.filter(pl.col(column).is_not_null())
    # a typed read gives every declared sub-field; one that is null wherever its parent is set is missing
    missing = [f for f in fields if f not in have or present[column].struct.field(f).null_count() == present.height]
    if missing:
        names = ", ".join(f"'{column}.{f}'" for f in missing)
        raise SourceFormatError(f"{source_files(ctx, key)}: missing field(s) {names} (found {dtype})")


@recipe(
    "prm800k_pairs", version="1", kind="preference",
    reads="question {problem, ground_truth_solution (text), pre_generated_steps (list of text)}; label {finish_reason (text)}",
)
def prm800k_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """PRM800K phase 2: per problem, the ground-truth solution against one model solution labelled found_error.

    The rejected side is a keyed draw among the problem's usable found_error samples (a ground-truth
    solution and a full list of pre-generated steps), its steps joined with newlines; the chosen side
    is that sample's ground-truth solution. Problems without a usable found_error sample are skipped.
    """
    key = only_source(ctx)
    df = ctx.frame(key, required=["question", "label"], fields=PRM800K_FIELDS)
    require_struct_fields(ctx, key, df, "question", ["problem", "ground_truth_solution", "pre_generated_steps"])
    require_struct_fields(ctx, key, df, "label", ["finish_reason"])
    question = pl.col("question").struct
    df = df.select(
        question.field("problem").cast(pl.String).str.strip_chars().alias("problem"),
        question.field("ground_truth_solution").cast(pl.String).alias("solution"),
        question.field("pre_generated_steps").cast(pl.List(pl.String)).alias("steps"),
        pl.col("label").struct.field("finish_reason").cast(pl.String).alias("finish_reason"),
    )
    df = ctx.drop(df, blank(pl.col("problem")), "problem text missing")
    problems_in = df["problem"].n_unique()
    df = df.with_columns(pl.col("steps").list.join("\n").alias("steps_text"))
    found_error = (pl.col("finish_reason") == FOUND_ERROR).fill_null(False)
    usable = (
        found_error
        & ~blank(pl.col("solution"))
        & (pl.col("steps").list.len() > 0).fill_null(False)
        & ~pl.col("steps").list.eval(pl.element().is_null()).list.any().fill_null(True)
        & ~blank(pl.col("steps_text"))
    )
    df = ctx.drop(df, found_error & ~usable,
                  "found_error sample unusable: no ground-truth solution, no pre-generated steps, or a null step")
    df = ctx.drop(df, ~found_error & ~found_error.any().over("problem"),
                  "sample not labelled found_error, and its problem has no usable found_error sample (problem skipped)")
    df = ctx.drop(df, ~found_error, "sample not labelled found_error (its problem is paired with a found_error sample)")
    df = df.with_columns(ops.content_ids(df, ["problem", "solution", "steps_text"]).alias("row_key"))
    df = df.with_columns(ops.keyed_uniform(df["row_key"], ctx.seed, "prm800k-rejected").alias("draw"))
    picked = pick_per_group(df, "problem", "draw", "row_key")
    ctx.count_drop("found_error sample not picked (one pair per problem)", df.height - picked.height)
    ctx.note("prm800k_problems", {"read": problems_in, "paired": picked.height,
                                  "skipped (no usable found_error sample)": problems_in - picked.height})
    out = picked.select(
        single_turn(pl.col("problem"), pl.col("solution")).alias("chosen"),
        single_turn(pl.col("problem"), pl.col("steps_text")).alias("rejected"),
        label(ctx),
    )
    return finish_pairs(ctx, out)
