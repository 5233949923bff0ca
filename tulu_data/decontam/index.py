"""An n-gram index over eval instances, and a column-wise scan of training texts against it.

The index is small (eval sets are thousands of prompts): their word tokens (see `text.py`) get ids in
a vocabulary, every n-gram of ids a 64-bit polynomial hash, and each hash a posting list of (instance,
start). A training text is tokenised with polars, its tokens mapped to eval-vocabulary ids (a token
no eval instance has cannot be part of a shared n-gram), and all its windows hashed at once with
numpy; the windows whose hash the index holds are the shared n-grams. No Python loop runs per row.

Coverage follows Tulu 3: for a (training row, eval instance) pair, the share of the instance's tokens
covered by n-grams it shares with that row. Instances with fewer than n tokens cannot be tested and are
counted as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .text import word_tokens

_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd multiplier of the polynomial n-gram hash (mod 2**64)
CHUNK_TEXT_BYTES = 32 << 20  # training text scanned per step: bounds memory whatever the input size


@dataclass
class EvalIndex:
    """Eval instances (`idx`, `eval`, `instance`, `text`, `tokens`, `n_tokens`) and their n-gram postings."""

    ngram: int
    instances: pl.DataFrame
    vocab_tokens: pl.Series
    vocab_ids: pl.Series
    gram_hashes: np.ndarray  # sorted, unique
    postings: pl.DataFrame  # h (u64), inst (u32), start (u32)

    def too_short(self) -> pl.DataFrame:
        """Instances with fewer tokens than the n-gram size, per eval (they cannot be tested)."""
        return self.instances.filter(pl.col("n_tokens") < self.ngram).group_by("eval").len("too_short")


def _segment_tokens(texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """All tokens of `texts` in order, and the segment (text position) of each token."""
    frame = pl.DataFrame({"tok": texts}).select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("seg"), word_tokens(pl.col("tok")).alias("tok")
    )
    frame = frame.explode("tok").drop_nulls("tok")
    return frame.get_column("tok"), frame.get_column("seg").to_numpy()


def _window_hashes(ids: np.ndarray, seg: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start positions, hashes) of every n-token window inside one segment with only known ids (>= 0)."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    vals = (ids + 1).astype(np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h *= _BASE
            h += vals[k : k + m]
    ok = seg[:m] == seg[n - 1 :]
    unknown = np.concatenate(([0], np.cumsum(ids < 0)))
    ok &= (unknown[n:] - unknown[:m]) == 0
    starts = np.flatnonzero(ok)
    return starts, h[starts]


def build_index(instances: pl.DataFrame, ngram: int) -> EvalIndex:
    """Index eval instances (`eval`, `instance`, `text`) on their word n-grams."""
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    inst = instances.select("eval", "instance", "text").with_row_index("idx")
    inst = inst.with_columns(word_tokens(pl.col("text")).alias("tokens"))
    inst = inst.with_columns(pl.col("tokens").list.len().alias("n_tokens"))
    toks, seg = _segment_tokens(inst.get_column("text"))
    vocab = toks.unique().sort()
    ids = toks.replace_strict(vocab, pl.int_range(len(vocab), eager=True, dtype=pl.Int64), return_dtype=pl.Int64)
    ids_np = ids.to_numpy()
    starts, hashes = _window_hashes(ids_np, seg, ngram)
    seg_start = np.searchsorted(seg, seg[starts], side="left") if len(starts) else starts
    postings = pl.DataFrame(
        {"h": hashes, "inst": seg[starts].astype(np.uint32), "start": (starts - seg_start).astype(np.uint32)}
    ).unique().sort("h", "inst", "start")
    return EvalIndex(
        ngram=ngram,
        instances=inst,
        vocab_tokens=vocab,
        vocab_ids=pl.Series(np.arange(len(vocab), dtype=np.int64)),
        gram_hashes=np.unique(hashes),
        postings=postings,
    )


def _chunks(texts: pl.Series, budget: int = CHUNK_TEXT_BYTES) -> list[tuple[int, int]]:
    """(offset, length) slices of `texts` holding about `budget` bytes of text each."""
    ends = np.cumsum(texts.str.len_bytes().fill_null(0).to_numpy())
    out, start = [], 0
    while start < len(texts):
        base = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, base + budget, side="right")), start + 1)
        out.append((start, stop - start))
        start = stop
    return out


def _scan_chunk(index: EvalIndex, rows: np.ndarray, texts: pl.Series) -> pl.DataFrame:
    """Shared n-grams of one chunk: unique (row, h)."""
    toks, seg = _segment_tokens(texts)
    ids = toks.replace_strict(index.vocab_tokens, index.vocab_ids, default=-1, return_dtype=pl.Int64).to_numpy()
    starts, hashes = _window_hashes(ids, seg, index.ngram)
    if len(index.gram_hashes) == 0 or len(hashes) == 0:
        return pl.DataFrame(schema={"row": pl.UInt32, "h": pl.UInt64})
    pos = np.minimum(np.searchsorted(index.gram_hashes, hashes), len(index.gram_hashes) - 1)
    hit = index.gram_hashes[pos] == hashes
    return pl.DataFrame({"row": rows[seg[starts[hit]]].astype(np.uint32), "h": hashes[hit]}).unique()


def scan(index: EvalIndex, segments: pl.DataFrame) -> pl.DataFrame:
    """Shared n-gram occurrences: unique (`row`, `inst`, `start`) for the training `segments` (`row`, `text`)."""
    texts = segments.get_column("text")
    rows = segments.get_column("row").to_numpy()
    pieces = [_scan_chunk(index, rows[o : o + n], texts.slice(o, n)) for o, n in _chunks(texts)]
    found = pl.concat(pieces).unique() if pieces else pl.DataFrame(schema={"row": pl.UInt32, "h": pl.UInt64})
    return found.join(index.postings, on="h").select("row", "inst", "start").unique()


def coverage(index: EvalIndex, hits: pl.DataFrame) -> pl.DataFrame:
    """Per (row, instance): tokens of the instance covered by shared n-grams, and their share.

    Columns: `row`, `inst`, `eval`, `instance`, `covered`, `n_tokens`, `coverage`; sorted by row, inst.
    """
    n = index.ngram
    spans = hits.sort("row", "inst", "start").with_columns(
        pl.col("start").cast(pl.Int64).shift(-1).over("row", "inst").alias("next")
    )
    spans = spans.with_columns(
        pl.min_horizontal(pl.lit(n, dtype=pl.Int64), (pl.col("next") - pl.col("start").cast(pl.Int64)).fill_null(n)).alias("span")
    )
    per_pair = spans.group_by("row", "inst").agg(pl.col("span").sum().alias("covered"))
    info = index.instances.select(pl.col("idx").alias("inst"), "eval", "instance", "n_tokens")
    out = per_pair.join(info, on="inst").with_columns((pl.col("covered") / pl.col("n_tokens")).alias("coverage"))
    return out.select("row", "inst", "eval", "instance", "covered", "n_tokens", "coverage").sort("row", "inst")


def match(index: EvalIndex, segments: pl.DataFrame, threshold: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs over the threshold, their n-gram starts): a pair matches when coverage > threshold."""
    hits = scan(index, segments)
    pairs = coverage(index, hits).filter(pl.col("coverage") > threshold)
    starts = hits.join(pairs.select("row", "inst"), on=["row", "inst"])
    return pairs, starts


def longest_span(tokens: list[str], starts: list[int], n: int) -> str:
    """The longest run of instance tokens covered by the shared n-grams starting at `starts`."""
    best, run_start, run_end = (0, 0), None, -1
    for s in sorted(starts):
        if run_start is None or s > run_end:
            run_start, run_end = s, s + n
        else:
            run_end = max(run_end, s + n)
        if run_end - run_start > best[1] - best[0]:
            best = (run_start, run_end)
    return " ".join(tokens[best[0] : best[1]])
