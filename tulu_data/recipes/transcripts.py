"""Preference pairs from "\\n\\nHuman: ... \\n\\nAssistant: ..." transcripts: HH-RLHF and Nectar.

Both upstream datasets write conversations as one string with role markers. The parser here turns
such a string into `{role, content}` turns with polars string expressions (no per-row Python):

- a turn starts at "\\n\\nHuman:" or "\\n\\nAssistant:" exactly; "Human:" or "Assistant:" anywhere else
  (start of a line, mid-sentence) is text, not a new turn;
- leading whitespace before the first marker is tolerated (so "Human: hi" and " \\n\\nHuman: hi" parse);
  any other text before the first marker makes the transcript malformed;
- the turns must start with Human and alternate Human, Assistant, Human, ... in the part a recipe keeps
  (hh_rlhf keeps the turns up to the first differing one, Nectar the prompt without its open
  "Assistant:" turn), so a transcript that stops alternating only in a cut-off tail still gives a pair;
- contents are stripped; an empty turn (e.g. a transcript ending in "\\n\\nAssistant:") stays as an
  empty message, which the common preference steps then drop (counted);
- a NUL character in the text is treated as malformed (the parser uses it as a separator).
"""

from __future__ import annotations

import polars as pl

from tulu_data import ops, steps
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.registry import recipe

HUMAN_MARKER = "\n\nHuman:"
ASSISTANT_MARKER = "\n\nAssistant:"
_SEP = "\x00"

NOT_HUMAN_FIRST = "does not start with a 'Human:' turn"
NOT_ALTERNATING = "Human and Assistant turns do not alternate"
HAS_NUL = "contains a NUL character"
MISSING = "missing"


def transcript_turns(text: pl.Expr, check_alternation: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """(turns, problem) for a column of transcripts.

    `turns` is a list of `{role, content}` (roles user/assistant, contents stripped); `problem` is null
    for a well-formed transcript, else a short reason (then `turns` must not be used). Without
    `check_alternation` the caller checks alternation (with `alternates`) on the turns it keeps.
    """
    normalized = pl.lit("\n\n") + text.str.strip_chars_start()
    marked = normalized.str.replace_all(HUMAN_MARKER, _SEP + "H", literal=True).str.replace_all(
        ASSISTANT_MARKER, _SEP + "A", literal=True
    )
    parts = marked.str.split(_SEP)
    turns = parts.list.slice(1)
    el = pl.element()
    messages = turns.list.eval(
        pl.struct(
            pl.when(el.str.starts_with("H")).then(pl.lit("user")).otherwise(pl.lit("assistant")).alias("role"),
            el.str.slice(1).str.strip_chars().alias("content"),
        )
    ).cast(ops.MESSAGES)
    problem = (
        pl.when(text.is_null())
        .then(pl.lit(MISSING))
        .when(text.str.contains(_SEP, literal=True))
        .then(pl.lit(HAS_NUL))
        .when((parts.list.first() != "") | (turns.list.len() == 0) | ~turns.list.first().str.starts_with("H"))
        .then(pl.lit(NOT_HUMAN_FIRST))
        .when(pl.lit(check_alternation) & ~alternates(messages))
        .then(pl.lit(NOT_ALTERNATING))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return messages, problem


def alternates(turns: pl.Expr) -> pl.Expr:
    """True where a list of messages goes user, assistant, user, ... (an empty list alternates)."""
    expected = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("user")).otherwise(pl.lit("assistant"))
    return turns.list.eval(pl.element().struct.field("role") == expected).list.all()


def parse_transcripts(texts: pl.Series | list[str | None]) -> pl.DataFrame:
    """Parse transcripts given as strings: a frame with `turns` and `problem` (see `transcript_turns`)."""
    series = texts if isinstance(texts, pl.Series) else pl.Series("text", texts, dtype=pl.String)
    turns, problem = transcript_turns(pl.col("text"))
    return series.alias("text").to_frame().select(turns.alias("turns"), problem.alias("problem"))


def drop_malformed(ctx: RecipeContext, df: pl.DataFrame, problem_col: str, label: str) -> pl.DataFrame:
    """Drop rows whose transcript has a problem, counting each problem under its own reason."""
    for problem in (MISSING, HAS_NUL, NOT_HUMAN_FIRST, NOT_ALTERNATING):
        df = ctx.drop(df, (pl.col(problem_col) == problem).fill_null(False), f"{label}: {problem}")
    return df.drop(problem_col)


def first_difference(df: pl.DataFrame, a: str, b: str) -> pl.Series:
    """Per row, the index of the first turn where conversations `a` and `b` differ.

    Where one conversation is a prefix of the other (or both are equal) it is the shorter length.
    """
    rows = df.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"),
        pl.col(a).alias("__a"),
        pl.col(b).alias("__b"),
        pl.min_horizontal(pl.col(a).list.len(), pl.col(b).list.len()).alias("__min_len"),
    )

    def long(col: str) -> pl.DataFrame:
        exploded = rows.filter(pl.col(col).list.len() > 0).select("__row", pl.col(col).alias("t")).explode("t")
        return exploded.select(
            "__row",
            pl.int_range(pl.len(), dtype=pl.UInt32).over("__row").alias("pos"),
            pl.col("t").struct.field("role").alias("role"),
            pl.col("t").struct.field("content").alias("content"),
        )

    pairs = long("__a").join(long("__b"), on=["__row", "pos"], how="inner", suffix="_b")
    differ = pairs.filter((pl.col("role") != pl.col("role_b")) | (pl.col("content") != pl.col("content_b")))
    first = differ.group_by("__row").agg(pl.col("pos").min().alias("__first"))
    joined = rows.select("__row", "__min_len").join(first, on="__row", how="left").sort("__row")
    return joined.select(pl.coalesce("__first", pl.col("__min_len").cast(pl.UInt32))).to_series().alias("split")


def _label(ctx: RecipeContext) -> str:
    return str(ctx.param("label", ctx.name))


# --------------------------------------------------------------------------------------------
# HH-RLHF


@recipe(
    "hh_rlhf_pairs", version="2", kind="preference",
    reads="chosen, rejected (text transcripts in \\n\\nHuman: / \\n\\nAssistant: form)",
)
def hh_rlhf_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Parse chosen and rejected transcripts; shared turns are the prompt, the first differing turn each response.

    Alternation is checked on what is kept, the turns up to the first differing one (version 2; version
    1 checked whole transcripts and dropped pairs that stop alternating only after that turn).
    """
    raw = ctx.frame("hh_rlhf", required=["chosen", "rejected"], fields={"chosen": pl.String, "rejected": pl.String})
    chosen_turns, chosen_problem = transcript_turns(pl.col("chosen"), check_alternation=False)
    rejected_turns, rejected_problem = transcript_turns(pl.col("rejected"), check_alternation=False)
    df = raw.select(
        chosen_turns.alias("c"),
        chosen_problem.alias("c_problem"),
        rejected_turns.alias("r"),
        rejected_problem.alias("r_problem"),
    )
    del raw
    df = drop_malformed(ctx, df, "c_problem", "chosen transcript")
    df = drop_malformed(ctx, df, "r_problem", "rejected transcript")
    df = df.with_columns(first_difference(df, "c", "r"))
    c_len, r_len, split = pl.col("c").list.len(), pl.col("r").list.len(), pl.col("split")
    for column, side in (("c", "chosen"), ("r", "rejected")):
        kept = pl.col(column).list.head(split + 1)
        df = ctx.drop(df, ~alternates(kept), f"{side} transcript: {NOT_ALTERNATING}")
    df = ctx.drop(df, (split == c_len) & (split == r_len), "chosen and rejected transcripts are identical")
    df = ctx.drop(df, (split == c_len) | (split == r_len), "one transcript is the other plus more turns (no differing turn)")
    df = ctx.drop(df, split % 2 == 0, "the first differing turn is a Human turn, not an Assistant response")
    ctx.note(
        "pairs cut after the first differing turn (upstream transcripts went on)",
        df.filter((c_len > split + 1) | (r_len > split + 1)).height,
    )
    df = df.select(
        pl.col("c").list.head(split + 1).alias("chosen"),
        pl.col("r").list.head(split + 1).alias("rejected"),
        pl.lit(_label(ctx)).alias("source"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"train": steps.finalize_preference(ctx, df)}


# --------------------------------------------------------------------------------------------
# Nectar


def _check_answer_fields(ctx: RecipeContext, df: pl.DataFrame, source_key: str) -> None:
    dtype = df.schema["answers"]
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    fields = {f.name for f in inner.fields} if isinstance(inner, pl.Struct) else set()
    missing = [f for f in ("answer", "rank") if f not in fields]
    if missing:
        files = ", ".join(str(p) for p in ctx.source(source_key).files)
        raise SourceFormatError(
            f"{files}: field 'answers' must be a list of {{answer, model, rank}}; missing {', '.join(map(repr, missing))} "
            f"(found type {dtype})"
        )


@recipe(
    "nectar_pairs", version="2", kind="preference",
    reads="prompt (a Human/Assistant transcript, text); answers (a list of {answer (text), rank (number)})",
)
def nectar_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Prompt parsed into turns; chosen = the top-ranked answer; rejected = a keyed-random strictly lower-ranked one.

    Alternation is checked on the kept prompt (without its open "Assistant:" turn) followed by the answer
    (version 2). The pairs are those of version 1; a prompt that lacks the open turn and also does not
    alternate is now counted under the open-turn reason.
    """
    fields = {"prompt": pl.String, "answers": pl.List(pl.Struct({"answer": pl.String, "rank": pl.Float64}))}
    raw = ctx.frame("nectar", required=["prompt", "answers"], fields=fields)
    _check_answer_fields(ctx, raw, "nectar")
    turns, problem = transcript_turns(pl.col("prompt"), check_alternation=False)
    df = raw.select(
        ops.content_ids(raw, ["prompt"]).alias("__key"),
        turns.alias("turns"),
        problem.alias("problem"),
        pl.col("answers"),
    )
    del raw
    df = drop_malformed(ctx, df, "problem", "prompt")
    last = pl.col("turns").list.last()
    open_assistant = (last.struct.field("role") == "assistant") & (last.struct.field("content") == "")
    df = ctx.drop(df, ~open_assistant, "prompt: does not end with an open 'Assistant:' turn")
    df = df.with_columns(pl.col("turns").list.head(pl.col("turns").list.len() - 1).alias("turns"))
    kept = pl.concat_list(pl.col("turns"), pl.concat_list(ops.message("assistant", pl.lit(""))))
    df = ctx.drop(df, ~alternates(kept), f"prompt: {NOT_ALTERNATING}")

    has_model = "model" in {f.name for f in df.schema["answers"].inner.fields}
    answers = (
        df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"), "answers")
        .explode("answers")
        .filter(pl.col("answers").is_not_null())
        .select(
            "__row",
            pl.col("answers").struct.field("answer").alias("answer"),
            (pl.col("answers").struct.field("model") if has_model else pl.lit(None, pl.String)).alias("model"),
            pl.col("answers").struct.field("rank").cast(pl.Float64).alias("rank"),
        )
    )
    ranked = answers.filter(pl.col("rank").is_not_null() & pl.col("rank").is_not_nan())
    top = ranked.group_by("__row").agg(pl.col("rank").min().alias("top"))
    ranked = ranked.join(top, on="__row")
    best = (
        ranked.filter(pl.col("rank") == pl.col("top"))
        .group_by("__row")
        .agg(pl.len().alias("n_top"), pl.col("answer").first().alias("chosen_answer"), pl.col("model").first().alias("chosen_model"), pl.col("top").first())
    )
    chosen_text = best.select("__row", pl.col("chosen_answer").str.strip_chars().alias("__chosen_text"))
    text = pl.col("answer").str.strip_chars()
    lower = (
        ranked.join(chosen_text, on="__row", how="left")
        .filter((pl.col("rank") > pl.col("top")) & (text.str.len_chars() > 0) & (text != pl.col("__chosen_text").fill_null("")))
        .sort(["__row", "rank", "answer", "model"], nulls_last=True)
        .group_by("__row", maintain_order=True)
        .agg(pl.col("answer").alias("lower_answers"), pl.col("model").alias("lower_models"), pl.col("rank").alias("lower_ranks"))
    )
    df = (
        df.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"))
        .join(best, on="__row", how="left")
        .join(lower, on="__row", how="left")
        .sort("__row")
        .drop("answers")
    )
    df = ctx.drop(df, pl.col("n_top").is_null(), "no answer has a rank")
    df = ctx.drop(df, pl.col("n_top") > 1, "several answers share the top rank")
    df = ctx.drop(df, pl.col("lower_answers").is_null(), "no lower-ranked answer with non-empty text different from the chosen one")
    draw = ops.keyed_uniform(df["__key"], ctx.seed, "nectar:rejected")
    pick = (draw * df["lower_answers"].list.len()).floor().cast(pl.Int64).alias("__pick")
    df = df.with_columns(pick)
    user_turns = pl.col("turns")
    df = df.select(
        pl.concat_list(user_turns, pl.concat_list(ops.message("assistant", pl.col("chosen_answer")))).alias("chosen"),
        pl.concat_list(
            user_turns, pl.concat_list(ops.message("assistant", pl.col("lower_answers").list.get(pl.col("__pick"))))
        ).alias("rejected"),
        pl.lit(_label(ctx)).alias("source"),
        pl.col("chosen_model"),
        pl.col("lower_models").list.get(pl.col("__pick")).alias("rejected_model"),
        pl.col("top").alias("chosen_rank"),
        pl.col("lower_ranks").list.get(pl.col("__pick")).alias("rejected_rank"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"train": steps.finalize_preference(ctx, df)}

