"""Chatbot Arena battles as preference pairs: the 2023 conversations release and the 2024 55k human-preference set.

A battle shows one user the answers of two models to the same prompts; the vote judges the whole
conversations. So a battle becomes a pair only when the two conversations share every turn but the
last answer (every single-turn battle; a multi-turn one only when the earlier answers were identical).
Ties carry no preference and are dropped.
"""

from __future__ import annotations

import polars as pl
from polars.exceptions import PolarsError

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.recipes.pairs import drop_missing, finish_pairs, label, messages_column, only_source
from tulu_data.registry import recipe

STRING_LIST = pl.List(pl.String)


def battle_pairs(ctx: RecipeContext, df: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """`conversation_a`, `conversation_b` and `winner` ("model_a"/"model_b") -> chosen/rejected pairs.

    Battles whose conversations differ before the last answer are dropped (counted apart for
    multi-turn battles, whose earlier answers differ, and single-turn ones, whose prompts differ).
    """
    df = df.with_columns(ops.strip_messages(pl.col(c)).alias(c) for c in ("conversation_a", "conversation_b"))
    differ = (ops.prefix(pl.col("conversation_a")) != ops.prefix(pl.col("conversation_b"))).fill_null(True)
    multi_turn = (pl.col("conversation_a").list.len() > 2) | (pl.col("conversation_b").list.len() > 2)
    df = ctx.drop(df, differ & multi_turn,
                  "multi-turn battle whose earlier turns differ (the vote judged whole conversations)")
    df = ctx.drop(df, differ, "the two sides do not share the same prompt")
    a_wins = pl.col("winner") == "model_a"
    df = df.select(
        pl.when(a_wins).then(pl.col("conversation_a")).otherwise(pl.col("conversation_b")).alias("chosen"),
        pl.when(a_wins).then(pl.col("conversation_b")).otherwise(pl.col("conversation_a")).alias("rejected"),
        label(ctx),
    )
    return finish_pairs(ctx, df)


@recipe(
    "chatbot_arena_conversations", version="2", kind="preference",
    reads="winner (text); conversation_a, conversation_b (lists of role/content messages)",
)
def chatbot_arena_conversations(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """lmsys/chatbot_arena_conversations: the winner's conversation is chosen, the other one rejected."""
    key = only_source(ctx)
    fields = {"winner": pl.String, "conversation_a": ops.MESSAGES, "conversation_b": ops.MESSAGES}
    df = ctx.frame(key, required=list(fields), fields=fields)
    df = df.select(
        pl.col("winner").cast(pl.String),
        messages_column(ctx, key, df, "conversation_a"),
        messages_column(ctx, key, df, "conversation_b"),
    )
    df = ctx.drop(df, (pl.col("winner") == "tie").fill_null(False), "tie (no preference)")
    df = ctx.drop(df, (pl.col("winner") == "tie (bothbad)").fill_null(False), "tie, both bad (no preference)")
    df = ctx.drop(df, ~pl.col("winner").is_in(["model_a", "model_b"]), "unknown winner label")
    df = drop_missing(ctx, df, ["conversation_a", "conversation_b"], "conversation_a or conversation_b missing")
    return battle_pairs(ctx, df)


def decode_json_lists(values: pl.Series) -> pl.Series:
    """Parse JSON-encoded lists of strings; anything that is not one (malformed JSON, a bare string) -> null.

    A quick validity and shape check first; the rest is decoded as one column, and only when that
    fails (an entry is itself a list or object) is the batch split to find the offending entries.
    """
    text = values.cast(pl.String).str.strip_chars()
    shaped = (text.str.starts_with("[") & text.str.ends_with("]") & text.str.json_path_match("$").is_not_null()).fill_null(False)
    frame = pl.DataFrame({"text": text, "shaped": shaped}).with_row_index("row")
    good = frame.filter(pl.col("shaped"))
    decoded = good.select("row", _decode_tolerant(good["text"]).alias("decoded"))
    return frame.join(decoded, on="row", how="left").sort("row")["decoded"].alias(values.name)


def _decode_tolerant(text: pl.Series) -> pl.Series:
    try:
        return text.str.json_decode(STRING_LIST)
    except PolarsError:
        if text.len() == 1:
            return pl.Series(text.name, [None], dtype=STRING_LIST)
        half = text.len() // 2
        return pl.concat([_decode_tolerant(text.head(half)), _decode_tolerant(text.tail(text.len() - half))])


def interleave_turns(df: pl.DataFrame, prompts: str, answers: str) -> pl.Series:
    """Equal-length lists of prompts and answers -> user/assistant conversations, one per row of `df`."""
    turns = df.select(pl.int_range(pl.len()).alias("row"), prompts, answers).explode([prompts, answers])
    pair = pl.concat_list(ops.message("user", pl.col(prompts)), ops.message("assistant", pl.col(answers)))
    conv = turns.group_by("row", maintain_order=True).agg(pair.explode().alias("conversation"))
    return conv.sort("row")["conversation"].cast(ops.MESSAGES)


@recipe(
    "arena_human_preference", version="1", kind="preference",
    reads="prompt, response_a, response_b (JSON-encoded lists of turns, as text); winner_model_a, winner_model_b, winner_tie (numbers)",
)
def arena_human_preference(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """lmsys-arena-human-preference-55k: prompt and answers are JSON lists, one entry per turn; winner flags pick the side."""
    texts = ["prompt", "response_a", "response_b"]
    flags = ["winner_model_a", "winner_model_b", "winner_tie"]
    fields = {**{t: pl.String for t in texts}, **{f: pl.Float64 for f in flags}}
    df = ctx.frame(only_source(ctx), required=texts + flags, fields=fields)
    df = df.select(*texts, *flags)
    one_winner = (pl.sum_horizontal(flags) == 1) & pl.all_horizontal([pl.col(f).is_in([0.0, 1.0]) for f in flags])
    df = ctx.drop(df, ~one_winner.fill_null(False), "winner flags do not name exactly one of model_a, model_b, tie")
    df = ctx.drop(df, pl.col("winner_tie") == 1, "tie (no preference)")
    df = df.with_columns(decode_json_lists(df[c]) for c in texts)
    df = drop_missing(ctx, df, texts, "prompt or response is not a JSON list of strings (malformed JSON)")
    turns = pl.col("prompt").list.len()
    df = ctx.drop(
        df,
        (turns == 0) | (pl.col("response_a").list.len() != turns) | (pl.col("response_b").list.len() != turns),
        "prompt and response lists are empty or of different lengths",
    )
    df = pl.DataFrame({
        "conversation_a": interleave_turns(df, "prompt", "response_a"),
        "conversation_b": interleave_turns(df, "prompt", "response_b"),
        "winner": df.select(pl.when(pl.col("winner_model_a") == 1).then(pl.lit("model_a")).otherwise(pl.lit("model_b")))
        .to_series(),
    })
    return battle_pairs(ctx, df)
