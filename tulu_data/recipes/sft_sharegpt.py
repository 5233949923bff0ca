"""ShareGPT for Tulu v2: clean `{from, value}` conversations, then split long ones into chunks of whole
human/gpt pairs that fit a token budget.

Each turn costs its token count (as the tokenizer counts it, with the special tokens it adds by
default, as the published script's call did) plus 6. Pairs are packed in order into chunks of at
most `max_tokens` (4096); a pair that alone exceeds the budget is skipped (counted) and the chunk
before it closed. Every turn is counted in batched calls of a fast tokenizer.

Tokens are counted with the `tokenizers` package (part of the base install; no `transformers`), from a
`tokenizer.json`: param `tokenizer` is a local folder holding one, a path to the file itself, or a Hub
model id, downloaded with `hf_hub_download` at the commit in param `tokenizer_revision` (a cached copy
of that revision is used offline; when the Hub is not reachable and nothing is cached, the build stops
at once). A count is what `Tokenizer.encode(text, add_special_tokens=True)` gives: the special tokens
come from the file's post-processor, as a fast tokenizer loaded by `transformers` from it counts them.
Builds from the bundled samples use the small tokenizer shipped in `tulu_data/samples/sharegpt_tokenizer/`
instead: the sample text is synthetic, and a samples build must work offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from tulu_data.context import RecipeContext
from tulu_data.errors import TuluDataError
from tulu_data.recipes.sft import blank, finalize, from_value_pairs, label, row_ids
from tulu_data.registry import recipe
from tulu_data.sources import SAMPLES_DIR, hub_reachable

SAMPLES_TOKENIZER = SAMPLES_DIR / "sharegpt_tokenizer"
TOKENIZER_FILE = "tokenizer.json"
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
BATCH_TURNS = 4096  # turns per tokenizer call: bounds the memory the encodings take


def load_tokenizer(ctx: RecipeContext, key: str) -> Tokenizer:
    """The tokenizer to count with (see the module docstring for the samples case)."""
    if ctx.source(key).mode == "samples":
        ctx.note("tokenizer used to count turns", "bundled sample tokenizer")
        return tokenizer_from_file(ctx, SAMPLES_TOKENIZER / TOKENIZER_FILE, str(SAMPLES_TOKENIZER))
    name, revision = ctx.param("tokenizer"), ctx.param("tokenizer_revision")
    if not isinstance(name, str) or not name or not isinstance(revision, str | None):
        raise TuluDataError(
            f"dataset {ctx.name!r}: params.tokenizer must name a tokenizer (a folder holding {TOKENIZER_FILE}, the "
            f"file itself, or a Hub model id) and params.tokenizer_revision, if set, a commit; got {name!r}, {revision!r}"
        )
    path = local_tokenizer_file(name)
    if path is None and looks_like_hub_id(name):
        path = hub_tokenizer_file(ctx, name, revision)
        name = f"{name}@{revision or 'main'}"
    if path is None:
        raise TuluDataError(
            f"dataset {ctx.name!r}: cannot load the tokenizer {name!r}: no {TOKENIZER_FILE} there and not a Hub id. "
            f"Set datasets.{ctx.name}.params.tokenizer to a folder holding {TOKENIZER_FILE}, the file itself, or a "
            "Hub model id (with params.tokenizer_revision); for a dataset of your own, in a tulu-data.yaml."
        )
    ctx.note("tokenizer used to count turns", name)
    return tokenizer_from_file(ctx, path, name)


def local_tokenizer_file(name: str) -> Path | None:
    """`name` as a local tokenizer.json: the file itself, or a folder holding one; None if neither."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if (path / TOKENIZER_FILE).is_file():
        return path / TOKENIZER_FILE
    return None


def looks_like_hub_id(name: str) -> bool:
    """'org/name' with no path syntax (a leading '/', '.', '~' or a third part makes it a local path)."""
    return HUB_ID.match(name) is not None


def hub_tokenizer_file(ctx: RecipeContext, repo_id: str, revision: str | None) -> Path:
    """tokenizer.json of a Hub model repo at `revision`: downloaded (cached), or the cached copy offline.

    Offline (the quick probe of the Hub fails) only the cache is looked at, so the build stops in seconds.
    """
    from huggingface_hub import hf_hub_download

    online = hub_reachable()
    where = f"{repo_id}@{revision or 'main'}"
    try:
        return Path(hf_hub_download(repo_id, TOKENIZER_FILE, revision=revision, local_files_only=not online))
    except Exception as err:  # offline with no cache, unknown repo or revision, gated repo, HTTP errors
        reason = (
            "the Hugging Face Hub is not reachable from this machine (offline) and no cached copy of that revision exists"
            if not online else f"{type(err).__name__}: {err}"
        )
        raise TuluDataError(
            f"dataset {ctx.name!r}: cannot load the tokenizer {where} ({TOKENIZER_FILE}): {reason}. Make the Hub "
            f"reachable, or declare a dataset of your own with this recipe in a tulu-data.yaml whose "
            f"params.tokenizer is a local folder holding {TOKENIZER_FILE}."
        ) from err


def tokenizer_from_file(ctx: RecipeContext, path: Path, name: str) -> Tokenizer:
    """A `tokenizers.Tokenizer` from a tokenizer.json, with any truncation or padding it declares turned off."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:
        raise TuluDataError(
            f"dataset {ctx.name!r}: cannot load the tokenizer {name!r} from {path} ({type(err).__name__}: {err}); "
            f"check datasets.{ctx.name}.params.tokenizer"
        ) from err
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _batches(texts: pl.Series, size: int) -> Iterator[list[str]]:
    for start in range(0, texts.len(), size):
        yield texts.slice(start, size).fill_null("").to_list()


def token_counts(tokenizer: Tokenizer, texts: pl.Series) -> np.ndarray:
    """Tokens per text (with the special tokens of the tokenizer's post-processor), counted in batches."""
    counts = [
        np.fromiter((len(e) for e in tokenizer.encode_batch_fast(batch, add_special_tokens=True)), dtype=np.int64, count=len(batch))
        for batch in _batches(texts, BATCH_TURNS)
    ]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def pack_pairs(pair_costs: np.ndarray, budget: int) -> tuple[list[tuple[int, int]], int]:
    """Chunks (first pair, pair count) of consecutive pairs, each costing at most `budget`, in order;
    a pair over the budget on its own is left out. Returns the chunks and the number of pairs left out."""
    chunks: list[tuple[int, int]] = []
    start, used, skipped = 0, 0, 0
    for i, cost in enumerate(pair_costs.tolist()):
        if cost > budget:
            if i > start:
                chunks.append((start, i - start))
            start, used, skipped = i + 1, 0, skipped + 1
        elif used + cost > budget:
            chunks.append((start, i - start))
            start, used = i, cost
        else:
            used += cost
    if len(pair_costs) > start:
        chunks.append((start, len(pair_costs) - start))
    return chunks, skipped


def token_upper_bounds(tokenizer: Tokenizer, texts: pl.Series) -> np.ndarray:
    """An upper bound on each text's token count without tokenizing: its UTF-8 bytes, plus one (a
    sentencepiece-style word-start marker), plus the special tokens the tokenizer adds. Byte-level BPE
    and byte-fallback sentencepiece tokenizers never give more than one token per byte."""
    specials = len(tokenizer.encode("", add_special_tokens=True))
    return texts.fill_null("").str.len_bytes().to_numpy().astype(np.int64) + 1 + specials


def turn_costs(ctx: RecipeContext, messages: pl.Series, tokenizer: Tokenizer, budget: int) -> np.ndarray:
    """Each turn's cost (tokens + overhead). Turns of conversations whose upper bound already fits the
    budget are not tokenized: they fit whatever their exact count, so their bound stands in for it."""
    overhead = int(ctx.param("turn_overhead_tokens", 6))
    lengths = messages.list.len().to_numpy().astype(np.int64)
    texts = messages.explode().struct.field("content")
    bounds = token_upper_bounds(tokenizer, texts) + overhead
    conversation_bound = np.add.reduceat(bounds, np.concatenate([[0], np.cumsum(lengths)[:-1]])) if len(lengths) else bounds
    needs_count = np.repeat(conversation_bound > budget, lengths)
    if ctx.param("count_all_tokens", False):
        needs_count[:] = True
    costs = bounds.copy()
    exact = token_counts(tokenizer, texts.filter(pl.Series(needs_count))) + overhead
    if (exact > bounds[needs_count]).any():  # a tokenizer that breaks the bound: count everything
        ctx.note("token upper bound", "did not hold for this tokenizer: every turn was tokenized")
        return token_counts(tokenizer, texts) + overhead
    costs[needs_count] = exact
    ctx.note("turns tokenized (the others fit by their byte-count bound)", int(needs_count.sum()))
    return costs


def plan_chunks(ctx: RecipeContext, messages: pl.Series, tokenizer: Tokenizer) -> pl.DataFrame:
    """One row per chunk: `row` (the conversation's row), `start` and `length` in turns."""
    budget = int(ctx.param("max_tokens", 4096))
    lengths = messages.list.len().to_numpy().astype(np.int64)
    costs = turn_costs(ctx, messages, tokenizer, budget)
    pair_costs = costs[0::2] + costs[1::2]  # every conversation has an even number of turns
    pair_offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths // 2)])
    running = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(pair_costs)])
    totals = running[pair_offsets[1:]] - running[pair_offsets[:-1]]
    fits = totals <= budget
    rows = [np.flatnonzero(fits)]
    starts = [np.zeros(int(fits.sum()), dtype=np.int64)]
    lens = [lengths[fits]]
    skipped_pairs = 0
    for row in np.flatnonzero(~fits).tolist():  # only the conversations over the budget are packed pair by pair
        chunks, skipped = pack_pairs(pair_costs[pair_offsets[row] : pair_offsets[row + 1]], budget)
        skipped_pairs += skipped
        if chunks:
            rows.append(np.full(len(chunks), row))
            starts.append(np.array([2 * first for first, _ in chunks]))
            lens.append(np.array([2 * count for _, count in chunks]))
        else:
            ctx.count_drop(f"every turn pair is over {budget:,} tokens", 1)
    if skipped_pairs:
        ctx.note(f"turn pairs left out for being over {budget:,} tokens on their own", skipped_pairs)
    ctx.note(f"conversations split for being over {budget:,} tokens", int((~fits).sum()))
    return pl.DataFrame(
        {"row": np.concatenate(rows), "start": np.concatenate(starts), "length": np.concatenate(lens)},
        schema={"row": pl.Int64, "start": pl.Int64, "length": pl.Int64},
    )


@recipe(
    "tulu_v2_sharegpt", version="2", kind="sft",
    reads="id (text); conversations (a list of {from, value} text)",
)
def tulu_v2_sharegpt(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """ShareGPT conversations without system/bing turns, alternating human/gpt, split into chunks of whole
    turn pairs of at most `max_tokens` tokens (each turn: its tokens + `turn_overhead_tokens`)."""
    key = next(iter(ctx.sources))
    name = label(ctx)
    fields = {"id": pl.String, "conversations": pl.List(pl.Struct({"from": pl.String, "value": pl.String}))}
    df = ctx.frame(key, required=list(fields), fields=fields).select(pl.col("id").cast(pl.String), "conversations")
    df = from_value_pairs(ctx, df, key).select("id", "messages")
    blank_turn = pl.col("messages").list.eval(blank(pl.element().struct.field("content"))).list.any()
    df = ctx.drop(df, blank_turn, "empty turn (a message is blank)")  # whole conversations, before counting tokens
    df = df.with_columns(row_ids(df, ["id", "messages"], prefix=f"{name}_").alias("conversation"))
    plan = plan_chunks(ctx, df["messages"], load_tokenizer(ctx, key))
    chunks = plan.join(df.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)), on="row", how="left")
    chunks = chunks.select(
        pl.lit(name).alias("dataset"),
        (pl.col("conversation") + "_" + pl.col("start").cast(pl.String)).alias("id"),
        pl.col("messages").list.slice(pl.col("start"), pl.col("length")).alias("messages"),
    )
    return {"train": finalize(ctx, chunks)}
