"""Tulu v2 SFT sources: FLAN v2 and CoT, GPT-4 Alpaca and Code Alpaca, LIMA, WizardLM, OpenOrca, the
science tasks and the hard-coded identity prompts; plus what every Tulu v2 SFT recipe shares (row
ids, `{from, value}` conversations, the final checks) and the mixture's model-name filter.

OpenAssistant (`sft_oasst`) and ShareGPT (`sft_sharegpt`) have modules of their own.

Message text is kept as the upstream has it (not stripped), as in the released mixture: the FLAN
newline rule is visible in the rows, and the Tulu chat format strips each message when it encodes.
A message that is blank once stripped counts as an empty turn and its row is dropped.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Any

import numpy as np
import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.mixtures import mixture_filter
from tulu_data.registry import recipe

# --------------------------------------------------------------------------------------------
# shared helpers


def blank(expr: pl.Expr) -> pl.Expr:
    """True where a text is null, empty or only whitespace (no copy of the text is made)."""
    return expr.is_null() | expr.str.contains(r"^\s*$")


def row_ids(df: pl.DataFrame, columns: list[str], prefix: str) -> pl.Series:
    """Stable ids from the content of `columns`; exact duplicates get '-1', '-2', ... so ids stay unique.

    Duplicates share every hashed field, and `columns` must hold everything the output row is made
    from, so which copy gets which suffix cannot change the output.
    """
    ids = ops.content_ids(df, columns, prefix=prefix)
    copy = pl.int_range(pl.len()).over("id")
    return (
        ids.to_frame("id")
        .select(pl.when(copy == 0).then(pl.col("id")).otherwise(pl.col("id") + "-" + copy.cast(pl.String)))
        .to_series()
        .alias("id")
    )


def user_assistant(prompt: pl.Expr, completion: pl.Expr) -> pl.Expr:
    """A two-turn conversation: one user message, one assistant message."""
    return ops.conversation(ops.message("user", prompt), ops.message("assistant", completion))


def label(ctx: RecipeContext) -> str:
    """The `dataset` label of the rows: the `label` parameter, else the catalog dataset's name."""
    return str(ctx.param("label", ctx.name))


def take(ctx: RecipeContext, df: pl.DataFrame, n: int | None, salt: str) -> pl.DataFrame:
    """A seeded random sample of `n` rows keyed on `id` (all rows when `n` is None); the rest counted."""
    if n is None or df.height <= n:
        return df
    ctx.count_drop(f"not in the random {n:,}-row sample ({salt})", df.height - n)
    return ops.take_random(df, n, ctx.seed, salt=salt)


def finalize(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Check every conversation (roles, blank turns, user/assistant alternation, ends with the assistant),
    dropping and counting the rows that fail; then keyed order and the SFT columns."""
    messages = pl.col("messages")
    roles = messages.list.eval(pl.element().struct.field("role"))
    df = ctx.drop(df, ops.any_bad_role(messages), "role other than system/user/assistant")
    df = ctx.drop(
        df,
        messages.is_null()
        | (messages.list.len() == 0)
        | messages.list.eval(blank(pl.element().struct.field("content"))).list.any(),
        "empty turn (a message is blank)",
    )
    after_system = roles.list.slice((roles.list.first() == "system").cast(pl.Int64))
    alternates = after_system.list.eval(
        pl.element() == pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("user")).otherwise(pl.lit("assistant"))
    ).list.all()
    df = ctx.drop(df, ~alternates, "turns do not alternate user/assistant")
    df = ctx.drop(df, ~ops.ends_with_assistant(messages), "does not end in an assistant turn")
    return ops.schema_cast(ops.shuffle(df, ctx.seed), ops.SFT_SCHEMA)


def source_files(ctx: RecipeContext, key: str) -> str:
    return ", ".join(str(p) for p in ctx.source(key).files)


def from_value_pairs(ctx: RecipeContext, df: pl.DataFrame, key: str, column: str = "conversations") -> pl.DataFrame:
    """Turn a `{from, value}` conversation column (ShareGPT/WizardLM style) into `messages`.

    Conversations with a `system` or a `bing` turn are dropped; an odd trailing turn is cut off (and
    noted); what is left must alternate `human`, `gpt`, starting with `human` (other senders such as
    `user` or `chatgpt` count as not alternating), else the conversation is dropped. Roles become
    user/assistant.
    """
    dtype = df.schema[column]
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    if isinstance(dtype, pl.Null):
        df = df.with_columns(pl.lit(None, dtype=pl.List(pl.Struct({"from": pl.String, "value": pl.String}))).alias(column))
    elif not (isinstance(inner, pl.Struct) and {"from", "value"} <= {f.name for f in inner.fields}):
        raise SourceFormatError(f"{source_files(ctx, key)}: field {column!r} must be a list of {{from, value}} turns, found {dtype}")
    conv = pl.col(column)
    senders = conv.list.eval(pl.element().struct.field("from").cast(pl.String))
    df = ctx.drop(df, conv.is_null(), "no conversation")
    df = ctx.drop(df, senders.list.contains("system"), "has a system turn")
    df = ctx.drop(df, senders.list.contains("bing"), "has a bing turn")
    odd = df.select((conv.list.len() % 2 == 1).sum()).item()
    if odd:
        ctx.note("odd trailing turn cut off (conversations)", int(odd))
    df = df.with_columns(conv.list.head(conv.list.len() // 2 * 2).alias(column))
    df = ctx.drop(df, conv.list.len() == 0, "no complete human/gpt pair")
    expected = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("human")).otherwise(pl.lit("gpt"))
    alternating = senders.list.eval(pl.element() == expected).list.all()
    df = ctx.drop(df, ~alternating, "turns do not alternate human/gpt")
    el = pl.element().struct
    messages = conv.list.eval(
        pl.struct(
            pl.when(el.field("from") == "human").then(pl.lit("user")).otherwise(pl.lit("assistant")).alias("role"),
            el.field("value").cast(pl.String).alias("content"),
        )
    ).cast(ops.MESSAGES)
    return df.with_columns(messages.alias("messages"))


# --------------------------------------------------------------------------------------------
# FLAN v2 and CoT


def newline_rule(prompt: pl.Expr) -> pl.Expr:
    """Append "\\n" unless the prompt already ends in a newline, or in ':' once trailing whitespace is ignored."""
    keep = prompt.str.ends_with("\n") | prompt.str.contains(r":\s*$")
    return pl.when(keep).then(prompt).otherwise(prompt + "\n")


@recipe(
    "tulu_v2_flan", version="1", kind="sft",
    reads="inputs, targets (text)",
)
def tulu_v2_flan(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """FLAN-style `inputs`/`targets` rows as one user and one assistant turn; the prompt gets "\\n"
    unless it ends in a newline or ':'. Param `samples`: per source key, a random row count (null: all).
    """
    samples: dict[str, int | None] = ctx.param("samples") or {key: None for key in ctx.sources}
    name = label(ctx)
    df = pl.concat(
        [
            ctx.frame(key, required=["inputs", "targets"], fields={"inputs": pl.String, "targets": pl.String}).select(
                pl.col("inputs").cast(pl.String), pl.col("targets").cast(pl.String), pl.lit(key).alias("__part")
            )
            for key in samples
        ]
    )
    df = ctx.drop(df, blank(pl.col("inputs")) | blank(pl.col("targets")), "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["inputs", "targets"], prefix=f"{name}_"))
    df = pl.concat([take(ctx, df.filter(pl.col("__part") == key), n, salt=key) for key, n in samples.items()])
    df = df.select(
        pl.lit(name).alias("dataset"),
        "id",
        user_assistant(newline_rule(pl.col("inputs")), pl.col("targets")).alias("messages"),
    )
    return {"train": finalize(ctx, df)}


# --------------------------------------------------------------------------------------------
# instruction / input / output data (GPT-4 Alpaca, Code Alpaca)

# (prompt template, completion template, weight): the template sets of the published conversion,
# for rows with an input and rows without. The misspelling "Plase" is in the released data.
TEMPLATES_WITH_INPUT: tuple[tuple[str, str, float], ...] = (
    ("{instruction}\n\n{input}\n\n", "{output}", 0.2),
    ("{instruction}\n{input}\n\n", "{output}", 0.1),
    ("{instruction}\n{input}\n", "{output}", 0.1),
    ("{instruction}\n\nInput: {input}\n\nOutput:", "{output}", 0.05),
    ("{instruction}\nInput: {input}\nOutput:", "{output}", 0.05),
    ("{instruction}\n{input}\n\nResponse:", "{output}", 0.05),
    ("{instruction}\n\nAdditional Context:\n{input}\n\nAnswer:", "{output}", 0.05),
    ("Task: {instruction}\nInput: {input}\nOutput:", "{output}", 0.05),
    ("Task: {instruction}\n\n{input}\n\n", "{output}", 0.05),
    ("Task: {instruction}\n\n{input}\n\nAnswer:", "{output}", 0.05),
    ("You need to complete the following task:\n\n{instruction}\n\n{input}\n\nAnswer:", "{output}", 0.05),
    ("{instruction}\n\nNow complete the following instance -\nInput: {input}\nOutput:", "{output}", 0.05),
    ("Instruction:{instruction}\n\nInput: {input}\n\n", "{output}", 0.05),
    (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:",
        "{output}",
        0.1,
    ),
)
TEMPLATES_WITHOUT_INPUT: tuple[tuple[str, str, float], ...] = (
    ("{instruction}\n\n", "{output}", 0.2),
    ("{instruction}\n", "{output}", 0.1),
    ("{instruction}", "\n{output}", 0.1),
    ("{instruction} Output:", "{output}", 0.05),
    ("{instruction}\nResponse:", "{output}", 0.05),
    ("{instruction}\n\nAnswer:", "{output}", 0.05),
    ("Task: {instruction}\n\n", "{output}", 0.05),
    ("Instruction: {instruction}\n", "{output}", 0.05),
    ("Instruction: {instruction}\nOutput:", "{output}", 0.05),
    ("You need to complete the following task:\n\n{instruction}\n\n", "{output}", 0.05),
    ("Can you help with this?\n\n{instruction}\n", "{output}", 0.05),
    ("Plase answer the following request: {instruction}\nAnswer:", "{output}", 0.05),
    ("Tell me how would you respond to the following request.\n{instruction}\n", "{output}", 0.05),
    (
        "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:",
        "{output}",
        0.1,
    ),
)
TEMPLATE_SALT = "instruction-template"


def fill(template: str) -> pl.Expr:
    """A template such as 'Task: {instruction}\\n' as a column expression over the stripped fields."""
    pieces: list[pl.Expr] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(pl.lit(literal))
        if field is not None:
            pieces.append(pl.col(f"__{field}"))
    return pl.concat_str(pieces) if len(pieces) > 1 else pieces[0]


def pick(draw: pl.Expr, templates: tuple[tuple[str, str, float], ...], part: int) -> pl.Expr:
    """The prompt (part 0) or completion (part 1) of the template chosen by `draw` in [0, 1), by weight."""
    weights = np.array([w for *_, w in templates])
    bounds = np.cumsum(weights) / weights.sum()
    expr = fill(templates[-1][part])
    for bound, template in reversed(list(zip(bounds[:-1], templates[:-1], strict=True))):
        expr = pl.when(draw < float(bound)).then(fill(template[part])).otherwise(expr)
    return expr


def instruction_messages(df: pl.DataFrame) -> pl.Expr:
    """One user turn from `instruction` (and `input` when it is not blank) through a template; one assistant turn.

    The template is drawn per row, keyed on the row's id with a fixed salt and not on the build seed:
    a row always looks the same, and the seed only changes which rows are sampled.
    """
    with_input = ~blank(pl.col("input"))
    draw = pl.col("__draw")
    prompt = pl.when(with_input).then(pick(draw, TEMPLATES_WITH_INPUT, 0)).otherwise(pick(draw, TEMPLATES_WITHOUT_INPUT, 0))
    completion = (
        pl.when(with_input).then(pick(draw, TEMPLATES_WITH_INPUT, 1)).otherwise(pick(draw, TEMPLATES_WITHOUT_INPUT, 1))
    )
    return user_assistant(prompt, completion)


@recipe(
    "tulu_v2_instructions", version="1", kind="sft",
    reads="instruction, input, output (text)",
)
def tulu_v2_instructions(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """`instruction`/`input`/`output` rows rendered with a weighted random prompt template; param `n`:
    a random sample of that many rows (null: all). Rows with a blank instruction or output are dropped."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    fields = {"instruction": pl.String, "input": pl.String, "output": pl.String}
    df = ctx.frame(key, required=["instruction", "output"], fields=fields)
    if "input" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("input"))
    df = df.select(pl.col("instruction", "input", "output").cast(pl.String))
    df = ctx.drop(df, blank(pl.col("instruction")) | blank(pl.col("output")), "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["instruction", "input", "output"], prefix=f"{name}_"))
    df = take(ctx, df, ctx.param("n"), salt=key)
    draw = ops.keyed_uniform(df["id"], 0, TEMPLATE_SALT)
    df = df.with_columns(
        draw.alias("__draw"),
        *(pl.col(c).fill_null("").str.strip_chars().alias(f"__{c}") for c in ("instruction", "input", "output")),
    )
    df = df.select(pl.lit(name).alias("dataset"), "id", instruction_messages(df).alias("messages"))
    return {"train": finalize(ctx, df)}


# --------------------------------------------------------------------------------------------
# LIMA, WizardLM, OpenOrca, science, hard-coded


@recipe(
    "tulu_v2_lima", version="1", kind="sft",
    reads="conversations (a list of text, user first)",
)
def tulu_v2_lima(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """`conversations` (a list of strings, user first, alternating); an odd trailing turn is cut off."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    fields = {"conversations": pl.List(pl.String)}
    df = ctx.frame(key, required=["conversations"], fields=fields).select(pl.col("conversations").cast(pl.List(pl.String)))
    conv = pl.col("conversations")
    df = ctx.drop(df, conv.is_null(), "no conversation")
    odd = df.select((conv.list.len() % 2 == 1).sum()).item()
    if odd:
        ctx.note("odd trailing turn cut off (conversations)", int(odd))
    df = df.with_columns(conv.list.head(conv.list.len() // 2 * 2))
    df = ctx.drop(df, conv.list.len() == 0, "no complete user/assistant pair")
    df = df.with_columns(row_ids(df, ["conversations"], prefix=f"{name}_"))
    role = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("user")).otherwise(pl.lit("assistant"))
    messages = conv.list.eval(pl.struct(role.alias("role"), pl.element().alias("content"))).cast(ops.MESSAGES)
    df = df.select(pl.lit(name).alias("dataset"), "id", messages.alias("messages"))
    return {"train": finalize(ctx, df)}


@recipe(
    "tulu_v2_wizardlm", version="1", kind="sft",
    reads="conversations (a list of {from, value} text)",
)
def tulu_v2_wizardlm(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """`{from, value}` conversations (human/gpt alternating); param `n`: a random sample of that many."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    fields = {"conversations": pl.List(pl.Struct({"from": pl.String, "value": pl.String}))}
    df = ctx.frame(key, required=["conversations"], fields=fields).select("conversations")
    df = from_value_pairs(ctx, df, key).select("messages")
    blank_turn = pl.col("messages").list.eval(blank(pl.element().struct.field("content"))).list.any()
    df = ctx.drop(df, blank_turn, "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["messages"], prefix=f"{name}_"))
    df = take(ctx, df, ctx.param("n"), salt=key)
    return {"train": finalize(ctx, df.with_columns(pl.lit(name).alias("dataset")))}


@recipe(
    "tulu_v2_open_orca", version="1", kind="sft",
    reads="id, system_prompt, question, response (text)",
)
def tulu_v2_open_orca(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """`system_prompt`/`question`/`response`; a system message only when the system prompt is not blank;
    param `n`: a keyed shuffle, then the first `n` rows."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    fields = {"id": pl.String, "system_prompt": pl.String, "question": pl.String, "response": pl.String}
    df = ctx.frame(key, required=list(fields), fields=fields).select(
        pl.col("id", "system_prompt", "question", "response").cast(pl.String)
    )
    df = ctx.drop(df, blank(pl.col("question")) | blank(pl.col("response")), "empty turn (a message is blank)")
    df = df.rename({"id": "upstream_id"})
    content = ["upstream_id", "system_prompt", "question", "response"]
    # The sample is keyed on the upstream id when ids are unique: hashing ~2 GB of text for a million
    # rows only to keep 30,000 of them is the slow part otherwise. Ids are then made for the rows kept.
    unique_ids = df["upstream_id"].null_count() == 0 and df["upstream_id"].is_unique().all()
    df = df.with_columns(pl.col("upstream_id").alias("id") if unique_ids else row_ids(df, content, prefix=f"{name}_"))
    df = take(ctx, df, ctx.param("n"), salt=key)
    df = df.with_columns(row_ids(df, content, prefix=f"{name}_"))
    user, assistant = ops.message("user", pl.col("question")), ops.message("assistant", pl.col("response"))
    messages = (
        pl.when(blank(pl.col("system_prompt")))
        .then(ops.conversation(user, assistant))
        .otherwise(ops.conversation(ops.message("system", pl.col("system_prompt")), user, assistant))
    )
    df = df.select(pl.lit(name).alias("dataset"), "id", messages.alias("messages"))
    return {"train": finalize(ctx, df)}


@recipe(
    "tulu_v2_science", version="1", kind="sft",
    reads="dataset, input, output (text)",
)
def tulu_v2_science(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Science task rows (`dataset` naming the task, `input`, `output`); labelled `science.<task>`."""
    key = next(iter(ctx.sources))
    prefix = label(ctx)
    fields = {"dataset": pl.String, "input": pl.String, "output": pl.String}
    df = ctx.frame(key, required=list(fields), fields=fields).select(pl.col(*fields).cast(pl.String))
    df = ctx.drop(df, blank(pl.col("dataset")), "no task name")
    df = ctx.drop(df, blank(pl.col("input")) | blank(pl.col("output")), "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["dataset", "input", "output"], prefix=f"{prefix}_"))
    df = df.select(
        (pl.lit(f"{prefix}.") + pl.col("dataset")).alias("dataset"),
        "id",
        user_assistant(pl.col("input"), pl.col("output")).alias("messages"),
    )
    return {"train": finalize(ctx, df)}


@recipe(
    "tulu_v2_hard_coded", version="1", kind="sft",
    reads="Prompt, Output (text cells of an .xlsx sheet)",
)
def tulu_v2_hard_coded(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Hand-written identity prompts (`Prompt`, `Output`), each repeated `repeat` times with its own id."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    repeat = int(ctx.param("repeat", 10))
    df = ctx.frame(key, required=["Prompt", "Output"], fields={"Prompt": pl.String, "Output": pl.String}).select(pl.col("Prompt", "Output").cast(pl.String))
    df = ctx.drop(df, blank(pl.col("Prompt")) | blank(pl.col("Output")), "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["Prompt", "Output"], prefix=f"{name}_"))
    copies = pl.concat([df.with_columns(pl.col("id") + f"_{k}") for k in range(repeat)])
    copies = copies.select(pl.lit(name).alias("dataset"), "id", user_assistant(pl.col("Prompt"), pl.col("Output")).alias("messages"))
    return {"train": finalize(ctx, copies)}


# --------------------------------------------------------------------------------------------
# the mixture's model-name filter


@mixture_filter("model_name_filter")
def model_name_filter(df: pl.DataFrame, params: dict[str, Any], drops: Counter) -> pl.DataFrame:
    """Drop rows where any message contains one of `strings` (case-insensitively, as a substring), except
    rows whose `dataset` is in `exempt` (default: hard_coded); drops are counted per dataset label."""
    strings = [str(s).lower() for s in params.get("strings") or ()]
    if not strings:
        raise ValueError("model_name_filter: params.strings must list at least one string")
    exempt = list(params.get("exempt", ["hard_coded"]))
    contents = pl.col("messages").list.eval(pl.element().struct.field("content").str.to_lowercase().str.contains_any(strings))
    hit = (contents.list.any().fill_null(False) & ~pl.col("dataset").is_in(exempt)).alias("hit")
    flags = df.select(hit).to_series()
    for dataset, n in df.filter(flags).group_by("dataset").len().sort("dataset").iter_rows():
        drops[f"model name filter: {dataset}"] += n
    return df.filter(~flags)
