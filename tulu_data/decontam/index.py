"""An n-gram index over eval instances, and a column-wise scan of training texts against it.

The index is small (eval sets are thousands of prompts): every word n-gram of an instance (tokens as in
`text.py`, each a stable 64-bit hash) gets a 64-bit polynomial hash, and each n-gram hash a posting list
of (instance, start). Training texts are tokenised in chunks (numpy over the text bytes for ASCII text,
polars otherwise), all their n-gram windows hashed at once with numpy and looked up in the sorted
index hashes; the windows found are the shared n-grams. No Python loop runs per row. Equal hashes are
taken as equal n-grams (64 bits: a false match needs a hash collision).

Coverage follows Tulu 3: for a (training row, eval instance) pair, the share of the instance's tokens
covered by n-grams it shares with that row. Instances with fewer than n tokens cannot be tested and are
counted as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .text import token_hashes, word_tokens

_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd multiplier of the polynomial n-gram hash (mod 2**64)
CHUNK_TEXT_BYTES = 16 << 20  # training text scanned per step: bounds memory whatever the input size
_FILTER_SIZE = 1 << 26  # slots of the bit table in front of the binary search (64 MB of bools)


@dataclass
class EvalIndex:
    """Eval instances (`idx`, `eval`, `instance`, `text`, `tokens`, `n_tokens`) and their n-gram postings."""

    ngram: int
    instances: pl.DataFrame
    gram_hashes: np.ndarray  # sorted, unique
    postings: pl.DataFrame  # h (u64), inst (u32), start (u32)
    filter_bits: np.ndarray | None = None  # a one-hash Bloom filter over gram_hashes (low bits), for a fast first pass

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """True where a window hash is an eval n-gram hash: a bit-table pass, then a binary search on the rest."""
        if len(self.gram_hashes) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        if self.filter_bits is None:
            self.filter_bits = np.zeros(_FILTER_SIZE, dtype=bool)
            self.filter_bits[self.gram_hashes & np.uint64(_FILTER_SIZE - 1)] = True
        maybe = np.flatnonzero(self.filter_bits[hashes & np.uint64(_FILTER_SIZE - 1)])
        found = np.zeros(len(hashes), dtype=bool)
        cand = hashes[maybe]
        pos = np.minimum(np.searchsorted(self.gram_hashes, cand), len(self.gram_hashes) - 1)
        found[maybe[self.gram_hashes[pos] == cand]] = True
        return found


def _window_hashes(tokens: np.ndarray, seg: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start positions, hashes) of every window of n tokens inside one segment (a polynomial over token hashes)."""
    m = len(tokens) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h *= _BASE
            h += tokens[k : k + m]
    starts = np.flatnonzero(seg[:m] == seg[n - 1 :])
    return starts, h[starts]


def _positions(seg: np.ndarray) -> np.ndarray:
    """Position of each token inside its segment (segments are contiguous blocks, in any order)."""
    if len(seg) == 0:
        return np.zeros(0, dtype=np.int64)
    block = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))
    return np.arange(len(seg)) - np.repeat(block, np.diff(np.concatenate((block, [len(seg)]))))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def build_index(instances: pl.DataFrame, ngram: int) -> EvalIndex:
    """Index eval instances (`eval`, `instance`, `text`) on their word n-grams."""
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    inst = instances.select("eval", "instance", "text").with_row_index("idx")
    inst = inst.with_columns(word_tokens(pl.col("text")).alias("tokens"))
    inst = inst.with_columns(pl.col("tokens").list.len().alias("n_tokens"))
    tokens, seg = token_hashes(inst.get_column("text"))
    starts, hashes = _window_hashes(tokens, seg, ngram)
    postings = pl.DataFrame(
        {"h": hashes, "inst": seg[starts].astype(np.uint32), "start": _positions(seg)[starts].astype(np.uint32)}
    ).unique().sort("h", "inst", "start")
    return EvalIndex(ngram=ngram, instances=inst, gram_hashes=_sorted_unique(hashes), postings=postings)


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
    tokens, seg = token_hashes(texts)
    starts, hashes = _window_hashes(tokens, seg, index.ngram)
    hit = index.lookup(hashes)
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
