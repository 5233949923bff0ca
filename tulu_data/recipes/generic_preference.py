"""Generic preference recipes for common formats, configured in YAML: `prompt_chosen_rejected` (pairs as
text or as conversations) and `rated` (several scored responses per prompt, paired by a named rule).

Field names are parameters (declared with `recipe_params.declare`, checked before reading: a wrong,
missing or inapplicable one is a `CatalogError` naming the dataset and the param). Rows come out as the
Tulu 2.5 preference rows do (`id`, `source`, `chosen`, `rejected`, `score_chosen`, `score_rejected`)
after the same checks (`steps.finalize_preference`): every message stripped, roles system/user/assistant
only, no empty message, both ending with the assistant, both sharing every turn but the last; pairs
whose answers are the same text are dropped. Ids are content hashes and draws are keyed on content, so
output does not depend on input row order. Unlike the Tulu splits there is no row cap unless `cap` is
set (then a seeded sample of `cap` rows is kept). Each dataset reads exactly one source.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import CatalogError
from tulu_data.recipe_params import Param, declare, distinct_columns, resolve
from tulu_data.recipes.generic_sft import require_keys, to_messages
from tulu_data.recipes.pairs import drop_identical_answers, label, only_source, single_turn
from tulu_data.recipes.rated import blank, pick_per_group
from tulu_data.registry import recipe

LABEL = Param("label", "text", "the rows' `source` value (default: the catalog dataset's name)")
CAP = Param("cap", "count", "keep a seeded random sample of at most this many pairs (null: all)", nullable=True)
RULES = ("best_vs_random_lower", "best_vs_worst")
MESSAGE_PARAMS = ("role_key", "content_key", "role_map")
ROWS_PARAMS = ("response_field", "score_field")
LISTS_PARAMS = ("responses_field", "response_key", "score_key")

declare(
    "prompt_chosen_rejected",
    "a prompt, a chosen and a rejected answer, as text fields or as lists of role/content messages, and "
    "optionally a score field for each answer",
    Param("format", "choice", "text: three text fields; conversations: lists of messages", default="text",
          choices=("text", "conversations")),
    Param("prompt_field", "column", "the field holding the prompt (conversations: null when chosen and "
          "rejected hold the whole conversations)", default="prompt", nullable=True),
    Param("chosen_field", "column", "the field holding the preferred answer", default="chosen"),
    Param("rejected_field", "column", "the field holding the other answer", default="rejected"),
    Param("score_chosen_field", "column", "a number field: the chosen answer's score (null: none)", nullable=True),
    Param("score_rejected_field", "column", "a number field: the rejected answer's score (null: none)",
          nullable=True),
    Param("role_key", "column", "conversations: the key of a message's role", default="role"),
    Param("content_key", "column", "conversations: the key of a message's text", default="content"),
    Param("role_map", "mapping", "conversations: upstream role -> system/user/assistant (others kept)", default={}),
    LABEL,
    CAP,
)
declare(
    "rated",
    "a prompt and scored responses (text and number fields): one row per response, or one row per prompt "
    "with a list of {response, score} objects",
    Param("layout", "choice", "rows: one row per response; lists: one row per prompt with a list of responses",
          default="rows", choices=("rows", "lists")),
    Param("rule", "choice", f"how chosen and rejected are picked: {' or '.join(RULES)} (see the recipe)",
          required=True, choices=RULES),
    Param("prompt_field", "column", "the field holding the prompt text", default="prompt"),
    Param("response_field", "column", "rows: the field holding the response text", default="response"),
    Param("score_field", "column", "rows: the number field holding the response's score", default="score"),
    Param("responses_field", "column", "lists: the field holding the list of responses", default="responses"),
    Param("response_key", "column", "lists: the key of a response's text", default="response"),
    Param("score_key", "column", "lists: the key of a response's score", default="score"),
    LABEL,
    CAP,
)


def refuse(ctx: RecipeContext, names: tuple[str, ...], why: str) -> None:
    """A `CatalogError` when the entry sets one of `names`, which do not apply (`why`)."""
    given = [name for name in names if name in ctx.params]
    if given:
        raise CatalogError(f"datasets.{ctx.name}: param {given[0]!r} does not apply {why}")


def finish(ctx: RecipeContext, df: pl.DataFrame, cap: int | None) -> dict[str, pl.DataFrame]:
    """Identical answers dropped, content ids, then the common checks and the optional cap."""
    df = drop_identical_answers(ctx, df)
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"train": steps.finalize_preference(ctx, df, cap=cap)}


# --------------------------------------------------------------------------------------------
# prompt / chosen / rejected


def pair_columns(p: dict[str, Any]) -> dict[str, str]:
    """Output column -> upstream field, for the fields configured."""
    names = {"prompt": p["prompt_field"], "chosen": p["chosen_field"], "rejected": p["rejected_field"],
             "score_chosen": p["score_chosen_field"], "score_rejected": p["score_rejected_field"]}
    return {column: field for column, field in names.items() if field is not None}


def check_pair_params(ctx: RecipeContext, p: dict[str, Any]) -> None:
    distinct_columns(ctx.name, p, ["prompt_field", "chosen_field", "rejected_field", "score_chosen_field",
                                   "score_rejected_field"])
    if (p["score_chosen_field"] is None) != (p["score_rejected_field"] is None):
        raise CatalogError(f"datasets.{ctx.name}: params 'score_chosen_field' and 'score_rejected_field' go together: "
                           "set both or neither")
    if p["format"] == "text":
        refuse(ctx, MESSAGE_PARAMS, "to format: text (only to format: conversations)")
        if p["prompt_field"] is None:
            raise CatalogError(f"datasets.{ctx.name}: param 'prompt_field' must name a field with format: text")
    else:
        distinct_columns(ctx.name, p, ["role_key", "content_key"])


def text_pairs(df: pl.DataFrame) -> pl.DataFrame:
    """Single-turn conversations from the prompt, chosen and rejected texts."""
    return df.with_columns(
        single_turn(pl.col("prompt"), pl.col("chosen")).alias("chosen"),
        single_turn(pl.col("prompt"), pl.col("rejected")).alias("rejected"),
    )


def conversation_pairs(ctx: RecipeContext, df: pl.DataFrame, p: dict[str, Any]) -> pl.DataFrame:
    """Chosen and rejected message lists, each after the prompt's messages when there is a prompt field."""
    keys = (p["role_key"], p["content_key"], p["role_map"])
    columns = ["prompt", "chosen", "rejected"] if "prompt" in df.columns else ["chosen", "rejected"]
    df = df.with_columns(to_messages(c, *keys).alias(c) for c in columns)
    if "prompt" in df.columns:
        df = df.with_columns(pl.concat_list("prompt", c).alias(c) for c in ("chosen", "rejected"))
    has_user = pl.col("chosen").list.eval(pl.element().struct.field("role") == "user").list.any()
    return ctx.drop(df, ~has_user, "chosen: no user turn (nothing to answer)")


@recipe("prompt_chosen_rejected", version="1", kind="preference")
def prompt_chosen_rejected(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Preference pairs given as a prompt, a chosen and a rejected answer.

    `format: text`: the three fields are text; chosen and rejected become the user turn (the prompt)
    and the assistant turn (the answer). `format: conversations`: the fields are lists of
    `{role, content}` messages (keys and role names mapped as in `conversations`); chosen and rejected
    are the prompt's messages followed by their own, or, with `prompt_field: null`, the whole
    conversations. Scores come from `score_chosen_field`/`score_rejected_field` when set (numbers).
    A pair is dropped (counted) when a configured field is null, a conversation has no user turn, or
    the common checks refuse it (see the module docstring).
    """
    p = resolve(ctx, "prompt_chosen_rejected")
    check_pair_params(ctx, p)
    columns = pair_columns(p)
    text = pl.String if p["format"] == "text" else pl.List(pl.Struct({p["role_key"]: pl.String, p["content_key"]: pl.String}))
    fields = {field: pl.Float64 if column.startswith("score_") else text for column, field in columns.items()}
    key = only_source(ctx)
    df = ctx.frame(key, required=list(fields), fields=fields)
    if p["format"] == "conversations":
        for column in ("prompt", "chosen", "rejected"):
            if column in columns:
                require_keys(ctx, key, df, columns[column], {"role_key": p["role_key"], "content_key": p["content_key"]})
    df = df.select(pl.col(field).alias(column) for column, field in columns.items())
    for column in ("prompt", "chosen", "rejected"):
        if column in df.columns:
            df = ctx.drop(df, pl.col(column).is_null(), f"{columns[column]}: missing (null)")
    df = text_pairs(df) if p["format"] == "text" else conversation_pairs(ctx, df, p)
    df = df.drop("prompt", strict=False).with_columns(label(ctx))
    return finish(ctx, df, p["cap"])


# --------------------------------------------------------------------------------------------
# rated responses


def read_rated(ctx: RecipeContext, p: dict[str, Any]) -> pl.DataFrame:
    """Columns `prompt`, `response`, `score`: one row per response, whatever the layout."""
    key = only_source(ctx)
    if p["layout"] == "rows":
        refuse(ctx, LISTS_PARAMS, "to layout: rows")
        distinct_columns(ctx.name, p, ["prompt_field", "response_field", "score_field"])
        names = {"prompt": p["prompt_field"], "response": p["response_field"], "score": p["score_field"]}
        fields = {names["prompt"]: pl.String, names["response"]: pl.String, names["score"]: pl.Float64}
        df = ctx.frame(key, required=list(fields), fields=fields)
        return df.select(pl.col(field).alias(column) for column, field in names.items())
    refuse(ctx, ROWS_PARAMS, "to layout: lists")
    distinct_columns(ctx.name, p, ["prompt_field", "responses_field"])
    distinct_columns(ctx.name, p, ["response_key", "score_key"])
    listed = pl.List(pl.Struct({p["response_key"]: pl.String, p["score_key"]: pl.Float64}))
    fields = {p["prompt_field"]: pl.String, p["responses_field"]: listed}
    df = ctx.frame(key, required=list(fields), fields=fields)
    require_keys(ctx, key, df, p["responses_field"], {"response_key": p["response_key"], "score_key": p["score_key"]})
    responses = pl.col(p["responses_field"])
    df = ctx.drop(df, responses.is_null() | (responses.list.len() == 0),
                  f"{p['responses_field']}: no responses (null or empty list; counted in prompt rows)")
    item = pl.col("item").struct
    return df.select(pl.col(p["prompt_field"]).alias("prompt"), responses.alias("item")).explode("item").select(
        "prompt", item.field(p["response_key"]).alias("response"), item.field(p["score_key"]).alias("score")
    )


def usable_responses(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Stripped texts; responses without a score, with an empty text, repeated, or alone for their prompt dropped."""
    df = df.with_columns(pl.col("prompt", "response").str.strip_chars())
    df = ctx.drop(df, pl.col("score").is_null() | pl.col("score").is_nan(), "score missing")
    df = ctx.drop(df, blank(pl.col("prompt")) | blank(pl.col("response")), "empty prompt or response")
    repeated = ~pl.struct("prompt", "response", "score").is_first_distinct()
    df = ctx.drop(df, repeated, "the same response with the same score again for its prompt")
    df = ctx.drop(df, pl.len().over("prompt") == 1, "prompt has only one usable response (no pair possible)")
    return df.with_columns(ops.content_ids(df, ["prompt", "response", "score"]).alias("row_key"))


def pick_pairs(df: pl.DataFrame, rule: str, seed: int) -> pl.DataFrame:
    """Per prompt: chosen = a keyed draw among the best-scored; rejected = a keyed draw among the responses
    scored strictly lower with another text (all of them, or only the lowest-scored ones: `rule`)."""
    df = df.with_columns(
        ops.keyed_uniform(df["row_key"], seed, "rated-chosen").alias("draw_chosen"),
        ops.keyed_uniform(df["row_key"], seed, "rated-rejected").alias("draw_rejected"),
    )
    best = df.filter(pl.col("score") == pl.col("score").max().over("prompt"))
    chosen = pick_per_group(best, "prompt", "draw_chosen", "row_key").select(
        "prompt", pl.col("response").alias("chosen_text"), pl.col("score").alias("score_chosen")
    )
    lower = df.join(chosen, on="prompt").filter(
        (pl.col("score") < pl.col("score_chosen")) & (pl.col("response") != pl.col("chosen_text"))
    )
    if rule == "best_vs_worst":
        lower = lower.filter(pl.col("score") == pl.col("score").min().over("prompt"))
    rejected = pick_per_group(lower, "prompt", "draw_rejected", "row_key").select(
        "prompt", pl.col("response").alias("rejected_text"), pl.col("score").alias("score_rejected")
    )
    return chosen.join(rejected, on="prompt", how="inner")


@recipe("rated", version="1", kind="preference")
def rated(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Pairs from several scored responses per prompt, one pair per prompt, picked by `rule`.

    `layout: rows`: one row per response (`prompt_field`, `response_field`, `score_field`); responses
    are grouped by their prompt text. `layout: lists`: one row per prompt with a list of
    `{response, score}` objects (`responses_field`, `response_key`, `score_key`). Texts are stripped.
    Chosen is a best-scored response (a keyed draw among tied best ones). Rejected, among the responses
    scored strictly lower whose text differs from the chosen one: `best_vs_random_lower`, a keyed draw
    among all of them; `best_vs_worst`, a keyed draw among the lowest-scored of them. A prompt with no
    such response (all tied) gives no pair. Drops after reading are counted in responses: missing score,
    empty text, the same response and score repeated, a prompt's only response, a prompt that gives no
    pair, and the responses not used (one pair per prompt).
    """
    p = resolve(ctx, "rated")
    df = usable_responses(ctx, read_rated(ctx, p))
    pairs = pick_pairs(df, p["rule"], ctx.seed)
    unpaired = df.join(pairs.select("prompt"), on="prompt", how="anti").height
    ctx.count_drop("no response scored strictly lower than the best with another text (prompt gives no pair)",
                   unpaired)
    ctx.count_drop("response not used (one pair per prompt)", df.height - unpaired - 2 * pairs.height)
    ctx.note("prompts", {"with two or more usable responses": df["prompt"].n_unique(), "paired": pairs.height})
    out = pairs.select(
        single_turn(pl.col("prompt"), pl.col("chosen_text")).alias("chosen"),
        single_turn(pl.col("prompt"), pl.col("rejected_text")).alias("rejected"),
        label(ctx),
        "score_chosen",
        "score_rejected",
    )
    return finish(ctx, out, p["cap"])
