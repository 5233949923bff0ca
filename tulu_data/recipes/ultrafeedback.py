"""The UltraFeedback family: `openbmb/UltraFeedback` binarized several ways, TruthfulQA removed.

Every recipe here reads the raw per-source files (one row per prompt, its `completions` a list of
rated responses) and works on whole columns: the completions are exploded into one row each, their
scores computed with expressions, and the chosen and rejected completion of each prompt picked with a
keyed draw per completion (a pure function of the prompt's content, the completion's position and the
seed), so the output never depends on the order of the input rows or files.

Prompt-level drops are counted in prompts; drops of single completions are counted in completions
under reasons that start with "completion:". Reading, prompt checks and keys are in `ultrafeedback_read.py`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import CatalogError
from tulu_data.registry import recipe

from .ultrafeedback_read import (
    ASPECTS,
    NOT_APPLICABLE,
    RATINGS,
    TQA,
    load_prompts,
    remove_truthfulqa,
    sha256_hex,
)

DEFECT_DROP = "chosen completion has the old overall_score defect (overall_score 10, fine-grained_score <= 2)"


# --------------------------------------------------------------------------------------------
# completions and binarization


def completion_rows(ctx: RecipeContext, prompts: pl.DataFrame) -> pl.DataFrame:
    """One row per completion: row_key, row_hash, pos, response, overall_score, fine_grained, rating_<aspect>.

    Ratings are Float64, null for "N/A". Completions with an empty response or a rating that is neither
    "1".."5" nor "N/A" are dropped (counted).
    """
    c = pl.col("completion")
    raw = {a: c.struct.field("annotations").struct.field(a).struct.field("Rating").cast(pl.String) for a in ASPECTS}
    comp = (
        prompts.select(
            "row_key",
            "row_hash",
            pl.col("completions").alias("completion"),
            pl.int_ranges(0, pl.col("completions").list.len(), dtype=pl.UInt32).alias("pos"),
        )
        .explode(["completion", "pos"])
        .select(
            "row_key",
            "row_hash",
            "pos",
            c.struct.field("response").cast(pl.String).alias("response"),
            c.struct.field("overall_score").cast(pl.Float64, strict=False).alias("overall_score"),
            c.struct.field("fine-grained_score").cast(pl.Float64, strict=False).alias("fine_grained"),
            *[
                pl.when(r == NOT_APPLICABLE).then(None).otherwise(r.cast(pl.Float64, strict=False)).alias(f"rating_{a}")
                for a, r in raw.items()
            ],
            (c.struct.field("response").cast(pl.String).fill_null("").str.strip_chars() == "").alias("__empty"),
            (~pl.all_horizontal([r.is_in(RATINGS) | (r == NOT_APPLICABLE) for r in raw.values()]).fill_null(True))
            .alias("__bad_rating"),
        )
    )
    # one filter for both reasons (the text column is large); each completion counted under its first reason
    empty, bad = comp["__empty"], comp["__bad_rating"] & ~comp["__empty"]
    ctx.count_drop("completion: empty response", int(empty.sum()))
    ctx.count_drop('completion: a rating is neither "1"-"5" nor "N/A"', int(bad.sum()))
    return comp.filter(~(empty | bad)).drop("__empty", "__bad_rating")


def mean_of_aspects() -> pl.Expr:
    """Mean of the four aspect ratings, "N/A" left out; null when all four are N/A."""
    return pl.mean_horizontal([pl.col(f"rating_{a}") for a in ASPECTS])


def score_completions(ctx: RecipeContext, comp: pl.DataFrame, score: pl.Expr, unscored: str) -> pl.DataFrame:
    """Add the rule's `score`; completions without one are dropped (counted under `unscored`)."""
    comp = comp.with_columns(score.cast(pl.Float64).alias("score"))
    return ctx.drop(comp, pl.col("score").is_null() | pl.col("score").is_nan(), unscored)


def pick_first(df: pl.DataFrame, draw: str) -> pl.DataFrame:
    """One row per prompt: the lowest keyed draw (ties, which need equal 53-bit draws, by position)."""
    return df.sort(["row_key", draw, "pos"]).unique(subset="row_key", keep="first", maintain_order=True)


def binarize(
    ctx: RecipeContext,
    prompts: pl.DataFrame,
    comp: pl.DataFrame,
    strictly_lower: bool,
    avoid_as_chosen: pl.Expr | None = None,
) -> pl.DataFrame:
    """Chosen = a highest-scored completion, rejected = a keyed draw among the others; one pair per prompt.

    Ties at the top are broken by a keyed draw. Tied-best completions matching `avoid_as_chosen` (a
    boolean expression over `comp`) are left out of that draw when another tied-best one does not match. With `strictly_lower`, rejected must score strictly
    lower than chosen (prompts whose usable completions all tie are dropped); otherwise any other
    completion may be rejected. A rejected completion never repeats the chosen text.
    Picking works on a slim frame (keys, scores, draws, row numbers into `comp`); the texts are
    gathered by row number at the end. Returns row_key, chosen_pos, rejected_pos, score_chosen,
    score_rejected, chosen_response, rejected_response, chosen_overall, chosen_fine_grained.
    """
    usable = comp.group_by("row_key").agg(pl.len().alias("usable"))
    counted = prompts.select("row_key").join(usable, on="row_key", how="left")
    ctx.count_drop("fewer than two usable completions", counted.filter(pl.col("usable").fill_null(0) < 2).height)
    comp = comp.join(usable.filter(pl.col("usable") >= 2).select("row_key"), on="row_key", how="semi")

    with np.errstate(over="ignore"):
        base = comp["row_hash"].to_numpy() + comp["pos"].to_numpy().astype(np.uint64)
    slim = comp.select(
        "row_key",
        "pos",
        "score",
        pl.int_range(0, pl.len(), dtype=pl.UInt32).alias("row"),
        pl.col("score").max().over("row_key").alias("best"),
        (avoid_as_chosen if avoid_as_chosen is not None else pl.lit(False)).alias("avoid"),
    ).with_columns(
        ops.keyed_uniform(base, ctx.seed, "ultrafeedback-chosen").alias("draw_chosen"),
        ops.keyed_uniform(base, ctx.seed, "ultrafeedback-rejected").alias("draw_rejected"),
    )
    top = slim.filter(pl.col("score") == pl.col("best"))
    top = top.filter(~pl.col("avoid") | pl.col("avoid").all().over("row_key"))
    chosen = pick_first(top, "draw_chosen").select(
        "row_key", pl.col("pos").alias("chosen_pos"), pl.col("row").alias("chosen_row")
    )
    others = slim.join(chosen, on="row_key").filter(pl.col("pos") != pl.col("chosen_pos"))
    if strictly_lower:
        others = others.filter(pl.col("score") < pl.col("best"))
        tied = chosen.join(others.select("row_key").unique(), on="row_key", how="anti").height
        ctx.count_drop("all usable completions tie (none scored strictly lower)", tied)
    texts = comp["response"].str.strip_chars()
    repeats = texts.gather(others["row"]) == texts.gather(others["chosen_row"])
    before = others["row_key"].n_unique()
    others = others.filter(~repeats)
    ctx.count_drop("every candidate rejected completion repeats the chosen text", before - others["row_key"].n_unique())
    rejected = pick_first(others, "draw_rejected").select(
        "row_key", pl.col("pos").alias("rejected_pos"), pl.col("row").alias("rejected_row")
    )
    pairs = chosen.join(rejected, on="row_key", how="inner")
    at_chosen, at_rejected = pairs["chosen_row"], pairs["rejected_row"]
    return pairs.select("row_key", "chosen_pos", "rejected_pos").with_columns(
        comp["score"].gather(at_chosen).alias("score_chosen"),
        comp["score"].gather(at_rejected).alias("score_rejected"),
        comp["response"].gather(at_chosen).alias("chosen_response"),
        comp["response"].gather(at_rejected).alias("rejected_response"),
        comp["overall_score"].gather(at_chosen).alias("chosen_overall"),
        comp["fine_grained"].gather(at_chosen).alias("chosen_fine_grained"),
    )


def is_defect(overall: str, fine_grained: str) -> pl.Expr:
    """True where a completion has the old overall_score defect pattern (overall 10, fine-grained <= 2)."""
    return ((pl.col(overall) == 10) & (pl.col(fine_grained) <= 2)).fill_null(False)


def defect_chosen() -> pl.Expr:
    """True where the chosen completion has the old overall_score defect pattern."""
    return is_defect("chosen_overall", "chosen_fine_grained")


def preference_rows(ctx: RecipeContext, prompts: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs -> Tulu 2.5 preference rows (user turn = instruction), finalized (strip, checks, shuffle, cap)."""
    df = pairs.join(prompts.select("row_key", "source", "instruction"), on="row_key")
    user = ops.message("user", pl.col("instruction"))
    df = df.select(
        "row_key",
        "chosen_pos",
        "rejected_pos",
        pl.col("source"),
        ops.conversation(user, ops.message("assistant", pl.col("chosen_response"))).alias("chosen"),
        ops.conversation(user, ops.message("assistant", pl.col("rejected_response"))).alias("rejected"),
        "score_chosen",
        "score_rejected",
    )
    df = df.with_columns(ops.content_ids(df, ["row_key", "chosen_pos", "rejected_pos"]).alias("id"))
    return steps.finalize_preference(ctx, df.drop("row_key", "chosen_pos", "rejected_pos"))


def mean_aspect_pairs(ctx: RecipeContext, prompts: pl.DataFrame) -> pl.DataFrame:
    comp = completion_rows(ctx, prompts)
    comp = score_completions(ctx, comp, mean_of_aspects(), "completion: all four ratings are N/A")
    return binarize(ctx, prompts, comp, strictly_lower=True)


def overall_pairs(ctx: RecipeContext, prompts: pl.DataFrame) -> pl.DataFrame:
    """The H4 rule: highest overall_score chosen, any other completion rejected.

    A completion with the old defect is left out of the tied-best draw when a sound one ties with it;
    a prompt whose best completions all carry it has no usable chosen and is dropped (counted).
    """
    comp = completion_rows(ctx, prompts)
    comp = score_completions(ctx, comp, pl.col("overall_score"), "completion: no overall_score")
    pairs = binarize(ctx, prompts, comp, strictly_lower=False, avoid_as_chosen=is_defect("overall_score", "fine_grained"))
    return ctx.drop(pairs, defect_chosen(), DEFECT_DROP)


# --------------------------------------------------------------------------------------------
# recipes


@recipe(
    "ultrafeedback_mean_aspects", version="1", kind="preference",
    reads="source, instruction (text); completions (a list of {model, response (text), overall_score, fine-grained_score (numbers), annotations.<aspect>.Rating (text)}); TruthfulQA question (text)",
)
def ultrafeedback_mean_aspects(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Mean-of-aspects binarization (optionally one upstream source, param `source`).

    Score = mean of the four aspect ratings with "N/A" left out. Chosen = a highest-scored completion
    (keyed draw among tied best), rejected = a keyed draw among completions scored strictly lower.
    Prompts whose usable completions all tie are dropped. TruthfulQA prompts are removed, except in
    the truthful_qa per-source split.
    """
    group = ctx.param("source")
    prompts = load_prompts(ctx, group=group)
    if group != TQA:
        prompts = remove_truthfulqa(ctx, prompts)
    return {"train": preference_rows(ctx, prompts, mean_aspect_pairs(ctx, prompts))}


@recipe(
    "ultrafeedback_aspect", version="1", kind="preference",
    reads="as ultrafeedback_mean_aspects",
)
def ultrafeedback_aspect(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Binarized on one aspect rating (param `aspect`): rejected strictly lower, ties dropped, "N/A" unusable."""
    aspect = ctx.param("aspect")
    if aspect not in ASPECTS:
        raise CatalogError(f"datasets.{ctx.name}: param 'aspect' must be one of {ASPECTS}, got {aspect!r}")
    prompts = remove_truthfulqa(ctx, load_prompts(ctx))
    comp = completion_rows(ctx, prompts)
    comp = score_completions(ctx, comp, pl.col(f"rating_{aspect}"), f"completion: {aspect} rating is N/A")
    pairs = binarize(ctx, prompts, comp, strictly_lower=True)
    return {"train": preference_rows(ctx, prompts, pairs)}


@recipe(
    "ultrafeedback_overall", version="2", kind="preference",
    reads="as ultrafeedback_mean_aspects",
)
def ultrafeedback_overall(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """The H4 rule on the prompts of the mean-of-aspects set (param `within`, a dataset in depends_on).

    Chosen = a highest overall_score completion (keyed draw among tied best), rejected = a keyed draw
    among the other completions (ties allowed). A completion with the old overall_score defect is never
    drawn as chosen while a sound completion ties with it (version 2; version 1 dropped such a prompt
    whenever the draw landed on the defective one). A prompt is kept when its (source, stripped instruction)
    has a row in `within`.
    """
    within = ctx.param("within", "ultrafeedback_mean_aspects")
    kept = ctx.dataset(within)["train"].select(
        pl.col("source"), ops.prefix(pl.col("chosen")).list.first().struct.field("content").alias("prompt")
    )
    prompts = remove_truthfulqa(ctx, load_prompts(ctx))
    prompts = prompts.join(
        kept.unique().with_columns(pl.lit(True).alias("__kept")),
        left_on=["source", pl.col("instruction").str.strip_chars()],
        right_on=["source", "prompt"],
        how="left",
    )
    prompts = ctx.drop(prompts, pl.col("__kept").is_null(), f"prompt not in {within}").drop("__kept")
    return {"train": preference_rows(ctx, prompts, overall_pairs(ctx, prompts))}


@recipe(
    "ultrafeedback_binarized_cleaned", version="2", kind="preference",
    reads="as ultrafeedback_mean_aspects",
)
def ultrafeedback_binarized_cleaned(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """H4-style splits from raw UltraFeedback: TruthfulQA removed, defect rule of version 2, seeded test hold-out.

    Pairs follow the H4 rule (as `ultrafeedback_overall`, including version 2's defect rule). `test_size` rows (default 2,000), but never
    more than a tenth of the pairs (at least 2 when there are 4 or more), are held out by a keyed draw
    on the row id: `test_prefs` holds them all, `test_sft`/`test_gen` the first half of them.
    Extra columns: `prompt`, `prompt_id` (sha256 hex of the prompt), `messages` (= chosen; `*_gen`
    splits drop its last, assistant turn).
    """
    prompts = remove_truthfulqa(ctx, load_prompts(ctx))
    df = preference_rows(ctx, prompts, overall_pairs(ctx, prompts))
    df = df.with_columns(
        ops.prefix(pl.col("chosen")).list.first().struct.field("content").alias("prompt"),
        pl.col("chosen").alias("messages"),
    )
    df = df.with_columns(sha256_hex(df["prompt"]).alias("prompt_id"))
    df = df.with_columns(ops.keyed_uniform(df["id"], ctx.seed, "ultrafeedback-test-split").alias("__order"))
    df = df.sort(["__order", "id"]).drop("__order")
    n_test = held_out_rows(df.height, int(ctx.param("test_size", 2000)))
    test, train = df.head(n_test), df.slice(n_test)
    test_half = test.head(n_test // 2)
    ctx.note("test_rows", {"test_prefs": n_test, "test_sft": test_half.height})
    without_answer = pl.col("messages").list.head(pl.col("messages").list.len() - 1)
    return {
        "train_prefs": train,
        "train_sft": train,
        "train_gen": train.with_columns(without_answer),
        "test_prefs": test,
        "test_sft": test_half,
        "test_gen": test_half.with_columns(without_answer),
    }


def held_out_rows(n: int, test_size: int) -> int:
    """Rows held out: `test_size`, at most a tenth of `n`, at least 2 when n >= 4 (so both halves exist)."""
    if n < 4 or test_size <= 0:
        return 0
    return min(test_size, max(2, n // 10))


@recipe(
    "ultrafeedback_prompts", version="1", kind="prompts",
    reads="source, instruction (text) of UltraFeedback; TruthfulQA question (text)",
)
def ultrafeedback_prompts(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """One user turn per distinct UltraFeedback prompt (stripped), TruthfulQA removed; `source` is upstream's.

    A prompt text that occurs in several rows is kept once, under the alphabetically first source.
    """
    prompts = remove_truthfulqa(ctx, load_prompts(ctx, need_completions=False))
    df = prompts.select(pl.col("source"), pl.col("instruction").str.strip_chars().alias("text"))
    before = df.height
    df = df.sort(["text", "source"]).unique(subset="text", keep="first", maintain_order=True)
    ctx.count_drop("duplicate prompt text (kept once)", before - df.height)
    df = df.with_columns(sha256_hex(df["text"]).alias("text_sha256"))
    df = df.with_columns(ops.content_ids(df, ["source", "text_sha256"]).alias("id"))
    df = df.select("id", "source", ops.conversation(ops.message("user", pl.col("text"))).alias("prompt"))
    return {"train": ops.shuffle(df, ctx.seed)}
