"""OpenAssistant (oasst1) for Tulu v2: the best-rated path through each message tree.

Each line of the trees file holds one tree: `prompt` is the root message, each message has `role`
(prompter/assistant), `text`, `deleted`, `labels` (label name -> {value, count}) and `replies`.
At every turn the walk keeps only the not-deleted reply with the highest `labels.quality.value`
(a missing label counts as 0; on a tie the first reply in the file wins), so each tree gives one
path. The path becomes a conversation when it ends in an assistant message; a path that ends in a
prompter message nobody answered gives none (counted).

The walk is level by level over all trees at once: polars picks the best reply of every tree's
current message in one expression per depth, so there is no per-tree Python recursion.
"""

from __future__ import annotations

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.recipes.sft import finalize, label, row_ids, source_files
from tulu_data.registry import recipe

ROLES = {"prompter": "user", "assistant": "assistant"}


def _field(expr: pl.Expr, dtype: pl.DataType, path: list[str], default: object) -> pl.Expr:
    """`expr.path[0].path[1]...` where the struct has those fields, else the literal `default`."""
    for name in path:
        if not isinstance(dtype, pl.Struct) or name not in {f.name for f in dtype.fields}:
            return pl.lit(default)
        dtype = next(f.dtype for f in dtype.fields if f.name == name)
        expr = expr.struct.field(name)
    return expr


def best_reply(node: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.DataType] | None:
    """The highest-quality not-deleted reply of each message (null when there is none), and its type."""
    replies_type = next((f.dtype for f in dtype.fields if f.name == "replies"), None) if isinstance(dtype, pl.Struct) else None
    if not isinstance(replies_type, pl.List) or not isinstance(replies_type.inner, pl.Struct):
        return None  # no message at this depth has a reply
    child = replies_type.inner
    el = pl.element()
    quality = _field(el, child, ["labels", "quality", "value"], 0.0).cast(pl.Float64).fill_null(0.0)
    deleted = _field(el, child, ["deleted"], False).cast(pl.Boolean).fill_null(False)
    replies = node.struct.field("replies")
    best = replies.list.eval(pl.when(~deleted).then(quality)).list.arg_max()
    return replies.list.get(best, null_on_oob=True), child


@recipe("tulu_v2_oasst", version="1", kind="sft")
def tulu_v2_oasst(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """OpenAssistant trees: one conversation per tree along the best-quality reply at every turn;
    deleted messages are skipped; prompter -> user."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    df = ctx.frame(key, required=["message_tree_id", "prompt"])
    dtype = df.schema["prompt"]
    if not isinstance(dtype, pl.Struct) or not {"role", "text"} <= {f.name for f in dtype.fields}:
        raise SourceFormatError(f"{source_files(ctx, key)}: field 'prompt' must be a message with 'role' and 'text', found {dtype}")
    root_deleted = _field(pl.col("prompt"), dtype, ["deleted"], False).fill_null(False)
    df = ctx.drop(df, root_deleted, "the tree's first message is deleted")
    frame = df.select(pl.col("message_tree_id").cast(pl.String), pl.col("prompt").alias("node"))
    turns: list[str] = []
    depth = 0
    while True:
        node = pl.col("node")
        role = node.struct.field("role").cast(pl.String)
        turn = pl.when(node.is_not_null()).then(
            pl.struct(role.replace_strict(ROLES, default=role).alias("role"), node.struct.field("text").cast(pl.String).alias("content"))
        )
        frame = frame.with_columns(turn.alias(f"__t{depth}"))
        turns.append(f"__t{depth}")
        step = best_reply(node, frame.schema["node"])
        if step is None:
            break
        frame = frame.with_columns(step[0].alias("node"))
        if frame["node"].null_count() == frame.height:
            break
        depth += 1
    frame = frame.select(
        "message_tree_id", pl.concat_list(turns).list.drop_nulls().cast(ops.MESSAGES).alias("messages")
    )
    ctx.note("deepest best-reply path (messages)", len(turns))
    frame = ctx.drop(frame, ~ops.ends_with_assistant(pl.col("messages")), "best-reply path ends in an unanswered prompter turn")
    frame = frame.with_columns(row_ids(frame, ["message_tree_id", "messages"], prefix=f"{name}_"))
    frame = frame.select(pl.lit(name).alias("dataset"), "id", "messages")
    return {"train": finalize(ctx, frame)}
