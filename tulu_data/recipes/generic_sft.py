"""Generic SFT recipes for common formats, configured in YAML: `conversations` (lists of role/content
messages), `sharegpt` (lists of from/value turns) and `instruction_input_output` (Alpaca style).

Field names are parameters (declared with `recipe_params.declare`, checked before reading: a wrong or
missing one is a `CatalogError` naming the dataset and the param). Rows come out as the Tulu v2 SFT rows
do (`dataset`, `id`, `messages`; text kept as upstream has it) and pass the same final checks
(`recipes.sft.finalize`): roles system/user/assistant only, no blank turn, user/assistant alternating
after an optional leading system message, ending with the assistant; every row that fails one is
dropped under its reason. Ids are content hashes, so output does not depend on input row order.
Each dataset reads exactly one source.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.recipe_params import Param, declare, distinct_columns, resolve
from tulu_data.recipes.pairs import only_source
from tulu_data.recipes.sft import blank, finalize, label, row_ids
from tulu_data.registry import recipe

LABEL = Param("label", "text", "the rows' `dataset` value (default: the catalog dataset's name)")
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}

declare(
    "conversations",
    "one field holding a list of messages, each an object with a role and a content (key names are params)",
    Param("messages_field", "column", "the field holding the list of messages", default="messages"),
    Param("role_key", "column", "the key of a message's role", default="role"),
    Param("content_key", "column", "the key of a message's text", default="content"),
    Param("role_map", "mapping", "upstream role -> system/user/assistant; roles not listed are kept as they are",
          default={}),
    LABEL,
)
declare(
    "sharegpt",
    "one field holding a list of turns, each an object with a sender and a text (key names are params)",
    Param("conversations_field", "column", "the field holding the list of turns", default="conversations"),
    Param("from_key", "column", "the key of a turn's sender", default="from"),
    Param("value_key", "column", "the key of a turn's text", default="value"),
    Param("role_map", "mapping", "sender -> system/user/assistant, over the defaults human->user, gpt->assistant, "
          "system->system; senders not listed are kept as they are", default={}),
    LABEL,
)
declare(
    "instruction_input_output",
    "an instruction, an optional input, an output and an optional system prompt, as text fields",
    Param("instruction_field", "column", "the field holding the instruction", default="instruction"),
    Param("input_field", "column", "the field holding the input (null: no input field)", default="input",
          nullable=True),
    Param("output_field", "column", "the field holding the answer", default="output"),
    Param("system_field", "column", "a field holding a system prompt (null: none)", nullable=True),
    LABEL,
)


# --------------------------------------------------------------------------------------------
# message lists


def require_keys(ctx: RecipeContext, key: str, df: pl.DataFrame, field: str, keys: dict[str, str]) -> None:
    """Stop, naming the files, the field and the param, when a configured key (param -> key) is absent from
    every object of list field `field`: the param names the wrong key (a few missing ones are counted drops)."""
    items = df.select(pl.col(field).explode().alias("item")).filter(pl.col("item").is_not_null())
    for param, name in keys.items():
        if items.height and items["item"].struct.field(name).null_count() == items.height:
            files = ", ".join(str(p) for p in ctx.source(key).files)
            raise SourceFormatError(
                f"{files}: no object of field {field!r} has the key {name!r} (datasets.{ctx.name}.params.{param})"
            )


def read_message_lists(ctx: RecipeContext, field: str, keys: dict[str, str]) -> pl.DataFrame:
    """The one source's `field`, a list of objects with the `keys` (param -> key); null or empty lists dropped."""
    key = only_source(ctx)
    fields = {field: pl.List(pl.Struct({name: pl.String for name in keys.values()}))}
    df = ctx.frame(key, required=[field], fields=fields).select(field)
    require_keys(ctx, key, df, field, keys)
    column = pl.col(field)
    return ctx.drop(df, column.is_null() | (column.list.len() == 0), f"{field}: no conversation (null or empty)")


def to_messages(field: str, role_key: str, content_key: str, role_map: dict[str, str]) -> pl.Expr:
    """`field` as `messages`: each role renamed by `role_map` (others kept as they are), text unchanged."""
    el = pl.element().struct
    role = el.field(role_key)
    if role_map:
        role = role.replace(role_map)
    message = pl.struct(role.alias("role"), el.field(content_key).alias("content"))
    return pl.col(field).list.eval(message).cast(ops.MESSAGES).alias("messages")


def message_rows(ctx: RecipeContext, field: str, keys: dict[str, str], role_map: dict[str, str]) -> pl.DataFrame:
    """SFT rows from a message-list field (`keys`: the role and text params -> keys): mapped roles, content
    ids, the final checks."""
    name = label(ctx)
    df = read_message_lists(ctx, field, keys)
    role_key, content_key = keys.values()
    df = df.select(to_messages(field, role_key, content_key, role_map))
    df = df.with_columns(row_ids(df, ["messages"], prefix=f"{name}_"))
    return finalize(ctx, df.with_columns(pl.lit(name).alias("dataset")))


@recipe("conversations", version="1", kind="sft")
def conversations(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Conversations as lists of `{role, content}` messages, one per row.

    Params name the list field (`messages_field`) and the keys of a message (`role_key`, `content_key`);
    `role_map` renames upstream roles (e.g. `{human: user, bot: assistant}`), other roles are kept.
    Text is kept as it is. A row is dropped (counted) when its list is null or empty, or when a message
    has a role other than system/user/assistant after mapping, a blank text, or the turns do not
    alternate user/assistant after an optional leading system message, or do not end with the assistant.
    """
    p = resolve(ctx, "conversations")
    distinct_columns(ctx.name, p, ["role_key", "content_key"])
    keys = {"role_key": p["role_key"], "content_key": p["content_key"]}
    return {"train": message_rows(ctx, p["messages_field"], keys, p["role_map"])}


@recipe("sharegpt", version="1", kind="sft")
def sharegpt(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """ShareGPT-style conversations: lists of `{from, value}` turns, one per row.

    Senders become roles by `role_map` laid over the defaults human -> user, gpt -> assistant,
    system -> system (senders not listed, e.g. user or assistant, are kept as they are). Unlike the Tulu
    ShareGPT recipe, system turns are kept (as a leading system message) and nothing is split by length.
    A row is dropped (counted) when its list is null or empty, a sender maps to no role of
    system/user/assistant, a turn is blank, or the turns do not alternate user/assistant after an
    optional leading system message, or do not end with the assistant.
    """
    p = resolve(ctx, "sharegpt")
    distinct_columns(ctx.name, p, ["from_key", "value_key"])
    roles = {**SHAREGPT_ROLES, **p["role_map"]}
    keys = {"from_key": p["from_key"], "value_key": p["value_key"]}
    return {"train": message_rows(ctx, p["conversations_field"], keys, roles)}


# --------------------------------------------------------------------------------------------
# instruction / input / output


def read_instructions(ctx: RecipeContext, p: dict[str, Any]) -> pl.DataFrame:
    """Columns `instruction`, `input`, `output`, `system` (text; the optional ones null when not configured)."""
    names = {"instruction": p["instruction_field"], "input": p["input_field"], "output": p["output_field"],
             "system": p["system_field"]}
    used = {role: field for role, field in names.items() if field is not None}
    fields = {field: pl.String for field in used.values()}
    required = [field for role, field in used.items() if role != "input"]  # files without an input field are common
    df = ctx.frame(only_source(ctx), required=required, fields=fields)
    if "input" in used and (used["input"] not in df.columns or df[used["input"]].null_count() == df.height):
        ctx.note("input field absent or null in every row (every user turn is the instruction alone)", used["input"])
    return df.select(
        (pl.col(names[role]) if names[role] in df.columns else pl.lit(None, dtype=pl.String)).alias(role)
        for role in names
    )


def user_turn(instruction: pl.Expr, extra: pl.Expr) -> pl.Expr:
    """The instruction, and when the input is not blank a blank line and the input; both stripped."""
    stripped = instruction.str.strip_chars()
    return pl.when(blank(extra)).then(stripped).otherwise(stripped + "\n\n" + extra.str.strip_chars())


@recipe("instruction_input_output", version="1", kind="sft")
def instruction_input_output(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Alpaca-style rows: one user turn and one assistant turn (after a system message when there is one).

    The user turn is the instruction when the input is blank or missing, else the instruction, a blank
    line ("\\n\\n") and the input, each stripped of surrounding whitespace; the assistant turn is the
    output as it is. `system_field`, when set, names a system prompt that becomes a leading system
    message when it is not blank. Rows with a blank instruction or output are dropped (counted).
    """
    p = resolve(ctx, "instruction_input_output")
    distinct_columns(ctx.name, p, ["instruction_field", "input_field", "output_field", "system_field"])
    name = label(ctx)
    df = read_instructions(ctx, p)
    df = ctx.drop(df, blank(pl.col("instruction")) | blank(pl.col("output")), "empty turn (a message is blank)")
    df = df.with_columns(row_ids(df, ["instruction", "input", "output", "system"], prefix=f"{name}_"))
    user = ops.message("user", user_turn(pl.col("instruction"), pl.col("input")))
    assistant = ops.message("assistant", pl.col("output"))
    messages = (
        pl.when(blank(pl.col("system")))
        .then(ops.conversation(user, assistant))
        .otherwise(ops.conversation(ops.message("system", pl.col("system")), user, assistant))
    )
    df = df.select(pl.lit(name).alias("dataset"), "id", messages.alias("messages"))
    return {"train": finalize(ctx, df)}
