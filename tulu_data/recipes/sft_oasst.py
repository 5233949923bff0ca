"""OpenAssistant (oasst1) for Tulu v2: the best-rated path through each message tree.

Each line of the trees file holds one tree: `prompt` is the root message, each message has `role`
(prompter/assistant), `text`, `deleted`, `labels` (label name -> {value, count}) and `replies`.
At every turn the walk keeps only the not-deleted reply with the highest `labels.quality.value`
(a missing label counts as 0; on a tie the first reply in the file wins), so each tree gives one
path. The path becomes a conversation when it ends in an assistant message; a path that ends in a
prompter message nobody answered gives none (counted).

The trees are parsed with the standard `json` module and walked in Python: they nest replies 20 and
more levels deep, which columnar JSON readers infer very slowly (minutes for the 10k trees), while
this takes a couple of seconds. The walk follows one reply per turn, so it is a loop, not a recursion.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import SourceFormatError
from tulu_data.filecheck import check_file
from tulu_data.recipes.sft import finalize, label, row_ids
from tulu_data.registry import recipe
from tulu_data.sources import file_format
from tulu_data.typed import FieldTypes, ReadReport, kind_of, value_problem

ROLES = {"prompter": "user", "assistant": "assistant"}


def _records(path: Path, declared: str) -> Iterator[tuple[int, Any]]:
    """(line or position, record) of a JSON-lines or JSON-array file, gzip-compressed or not."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    if file_format(path, declared) == "json":
        yield from enumerate(json.loads(data), 1)
        return
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip():
            yield number, json.loads(line)


MESSAGE_FIELDS: FieldTypes = {
    "text": pl.String, "role": pl.String, "deleted": pl.Boolean,
    "labels": pl.Struct({"quality": pl.Struct({"value": pl.Float64})}),
}


def message_problem(root: Any, root_path: str) -> str | None:
    """Why a message or any reply under it cannot be read as declared, or None (a loop over the tree, not a recursion)."""
    stack = [(root, root_path)]
    while stack:
        message, path = stack.pop()
        if not isinstance(message, dict):
            return f"{path}: {kind_of(message)} where a message object is expected"
        for name, dtype in MESSAGE_FIELDS.items():
            problem = value_problem(message.get(name), dtype, f"{path}.{name}")
            if problem:
                return problem
        replies = message.get("replies")
        if replies is not None and not isinstance(replies, list):
            return f"{path}.replies: {kind_of(replies)} where a list is expected"
        stack.extend((reply, f"{path}.replies[]") for reply in reversed(replies or ()))
    return None


def tree_problem(tree: Any) -> str | None:
    """Why a tree cannot be read as declared (wrong-typed field, NUL or lone surrogate in a text), or None."""
    if not isinstance(tree, dict):
        return f"{kind_of(tree)} where a tree object is expected"
    return value_problem(tree.get("message_tree_id"), pl.String, "message_tree_id") or message_problem(
        tree.get("prompt"), "prompt"
    )


def read_trees(ctx: RecipeContext, key: str) -> list[dict]:
    """Every well-typed tree of source `key`; the others are counted drops naming the field.

    A record without a `prompt` message raises, naming the file and line.
    """
    source = ctx.source(key)
    trees, report = [], ReadReport()
    for path in source.files:
        check_file(path, file_format(path, source.spec.format))
        try:
            for where, tree in _records(path, source.spec.format):
                if not isinstance(tree, dict) or tree.get("prompt") is None:
                    raise SourceFormatError(f"{path}: record {where}: missing field 'prompt' (the tree's first message)")
                problem = tree_problem(tree)
                if problem:
                    report.drop(problem, str(path), where)
                    continue
                trees.append(tree)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as err:
            raise SourceFormatError(f"{path}: cannot be read as JSON trees: {err}") from err
    ctx.count_read_drops(report)
    ctx.rows_in[key] = ctx.rows_in.get(key, 0) + len(trees) + sum(report.drops.values())
    return trees


def quality(message: dict) -> float:
    """The message's labels.quality.value; a missing label (or labels) counts as 0."""
    value = ((message.get("labels") or {}).get("quality") or {}).get("value")
    return float(value) if value is not None else 0.0


def best_path(root: dict) -> list[dict]:
    """The messages from the root along the best not-deleted reply at every turn (first reply on a tie)."""
    path, node = [], root
    while node is not None:
        path.append({"role": ROLES.get(node.get("role"), node.get("role")), "content": node.get("text")})
        best = None
        for reply in node.get("replies") or ():
            if not reply.get("deleted") and (best is None or quality(reply) > quality(best)):
                best = reply
        node = best
    return path


@recipe(
    "tulu_v2_oasst", version="1", kind="sft",
    reads="message trees: prompt {text, role (text), deleted (boolean), labels.quality.value (number), replies (list of messages)}",
)
def tulu_v2_oasst(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """OpenAssistant trees: one conversation per tree along the best-quality reply at every turn;
    deleted messages are skipped; prompter -> user."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    trees = read_trees(ctx, key)
    kept = [t for t in trees if not t["prompt"].get("deleted")]
    ctx.count_drop("the tree's first message is deleted", len(trees) - len(kept))
    paths = [best_path(t["prompt"]) for t in kept]
    turns = pl.DataFrame(  # flat columns, regrouped by polars: much faster than building nested values from dicts
        {
            "tree": [i for i, path in enumerate(paths) for _ in path],
            "role": [m["role"] for path in paths for m in path],
            "content": [m["content"] for path in paths for m in path],
        },
        schema={"tree": pl.Int64, "role": pl.String, "content": pl.String},
    )
    df = (
        turns.group_by("tree", maintain_order=True)
        .agg(pl.struct("role", "content").alias("messages"))
        .sort("tree")
        .select(
            pl.Series("message_tree_id", [str(t.get("message_tree_id", "")) for t in kept], dtype=pl.String),
            pl.col("messages").cast(ops.MESSAGES),
        )
    )
    ctx.note("longest best-reply path (messages)", int(df["messages"].list.len().max() or 0))
    df = ctx.drop(df, ~ops.ends_with_assistant(pl.col("messages")), "best-reply path ends in an unanswered prompter turn")
    df = df.with_columns(row_ids(df, ["message_tree_id", "messages"], prefix=f"{name}_"))
    return {"train": finalize(ctx, df.select(pl.lit(name).alias("dataset"), "id", "messages"))}
