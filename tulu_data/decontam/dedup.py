"""Deduplication: exact (normalised text) and near-duplicate (MinHash LSH over word shingles).

    dedup:
      field: all_turns     # all_turns | user_turns | a text column: what two rows must share
      exact: true          # rows whose normalised texts are equal
      near:                # optional; `near: true` takes these defaults
        threshold: 0.8     # estimated Jaccard similarity of the shingle sets, at least
        num_perm: 128      # MinHash permutations
        bands: 16          # LSH bands (num_perm / bands rows each)
        shingle: 5         # words per shingle

Which copy is kept is a keyed choice: the row with the smallest keyed draw of its id (seed, salt
"dedup"), so it does not depend on row order. Near duplicates are grouped transitively (connected
components of the verified candidate pairs); one row per group is kept. Shingles stay inside one turn; rows
with no turn of at least a shingle's words take part in exact deduplication only. Written with numpy and polars: no per-row Python loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from .. import ops
from ..errors import CatalogError
from .step import label_column
from .text import TOKENIZER, normalized, row_segments, token_hashes

EXAMPLES = 3
_MINHASH_SEED = 0x5475_6C75  # pinned: the permutations are part of the rule
SIGNATURE_CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class NearConfig:
    threshold: float = 0.8
    num_perm: int = 128
    bands: int = 16
    shingle: int = 5


@dataclass(frozen=True)
class DedupConfig:
    field: str = "all_turns"
    exact: bool = True
    near: NearConfig | None = None


def _positive_int(raw: dict, key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CatalogError(f"{where}: 'dedup.near.{key}' must be a positive integer, got {value!r}")
    return value


def _parse_near(raw: Any, where: str) -> NearConfig | None:
    if raw in (None, False):
        return None
    raw = {} if raw is True else raw
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: 'dedup.near' must be true or a mapping (threshold, num_perm, bands, shingle)")
    unknown = sorted(set(raw) - set(NearConfig.__dataclass_fields__))
    if unknown:
        raise CatalogError(f"{where}: 'dedup.near' has unknown field(s) {unknown}")
    threshold = raw.get("threshold", 0.8)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise CatalogError(f"{where}: 'dedup.near.threshold' must be in (0, 1], got {threshold!r}")
    num_perm = _positive_int(raw, "num_perm", 128, where)
    bands = _positive_int(raw, "bands", 16, where)
    if num_perm % bands:
        raise CatalogError(f"{where}: 'dedup.near.bands' ({bands}) must divide num_perm ({num_perm})")
    return NearConfig(float(threshold), num_perm, bands, _positive_int(raw, "shingle", 5, where))


def parse_dedup(raw: Any, where: str) -> DedupConfig:
    """Validate a `dedup:` mapping; every error names `where` and the field."""
    raw = {} if raw is True else raw
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: 'dedup' must be a mapping (field, exact, near)")
    unknown = sorted(set(raw) - set(DedupConfig.__dataclass_fields__))
    if unknown:
        raise CatalogError(f"{where}: 'dedup' has unknown field(s) {unknown}")
    exact = raw.get("exact", True)
    if not isinstance(exact, bool):
        raise CatalogError(f"{where}: 'dedup.exact' must be true or false")
    field = raw.get("field", "all_turns")
    if not isinstance(field, str):
        raise CatalogError(f"{where}: 'dedup.field' must be user_turns, all_turns or a text column")
    return DedupConfig(field, exact, _parse_near(raw.get("near"), where))


# --------------------------------------------------------------------------------------------
# keys and the keyed choice


def _rank(df: pl.DataFrame, seed: int) -> np.ndarray:
    """A keyed, order-independent preference per row: lower is kept (ties broken by id, then source label).

    Rows still tied share id and label; ids hash row content, so either copy gives the same output.
    """
    ids = df.get_column("id").cast(pl.String) if "id" in df.columns else pl.Series(np.arange(df.height).astype(str))
    label = label_column(df)
    labels = df.get_column(label).cast(pl.String).fill_null("") if label else pl.Series([""] * df.height)
    draw = ops.keyed_uint64(ids, seed, "dedup")
    frame = pl.DataFrame({"d": draw, "id": ids, "label": labels}).with_row_index("i")
    order = frame.sort("d", "id", "label")["i"].to_numpy()
    rank = np.empty(df.height, dtype=np.int64)
    rank[order] = np.arange(df.height)
    return rank


def _keep_one_per_group(group: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """True for the best-ranked row of each group (rows with group -1 are always kept)."""
    frame = pl.DataFrame({"g": group, "r": rank}).with_row_index("i")
    best = frame.filter(pl.col("g") >= 0).group_by("g").agg(pl.col("r").min().alias("best"))
    kept = frame.join(best, on="g", how="left").sort("i")
    return ((kept["g"] < 0) | (kept["r"] == kept["best"])).to_numpy()


def exact_groups(df: pl.DataFrame, field: str) -> np.ndarray:
    """A group number per row for equal normalised texts (-1: an empty text, never a duplicate)."""
    segs = row_segments(df, field).with_columns(normalized(pl.col("text")).alias("text"))
    keys = segs.group_by("row", maintain_order=True).agg(pl.col("text").str.join("\x1e"))
    keys = pl.DataFrame({"row": np.arange(df.height, dtype=np.uint32)}).join(keys, on="row", how="left").sort("row")
    text = keys["text"].fill_null("")
    group = text.rank("dense").cast(pl.Int64).to_numpy() - 1
    return np.where(text.str.replace_all("\x1e", "").str.len_bytes().to_numpy() == 0, -1, group)


# --------------------------------------------------------------------------------------------
# MinHash LSH


def _shingles(df: pl.DataFrame, field: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, shingle hash) for every window of k words inside one turn (text) of a row."""
    segs = row_segments(df, field)
    hashes, seg = token_hashes(segs["text"])
    m = len(hashes) - k + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(1099511628211) + hashes[j : j + m]
    ok = np.flatnonzero(seg[:m] == seg[k - 1 :])
    return segs["row"].to_numpy()[seg[ok]].astype(np.int64), h[ok]


def signatures(df: pl.DataFrame, field: str, near: NearConfig) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (rows with shingles x num_perm, uint32) and the rows they belong to."""
    srows, sh = _shingles(df, field, near.shingle)
    if len(sh) == 0:
        return np.zeros((0, near.num_perm), dtype=np.uint32), np.zeros(0, dtype=np.int64)
    order = np.argsort(srows, kind="stable")
    srows, sh = srows[order], ops._splitmix64(sh[order])
    bounds = np.flatnonzero(np.r_[True, srows[1:] != srows[:-1]])
    rng = np.random.default_rng(_MINHASH_SEED)
    a = rng.integers(1, 1 << 63, size=near.num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 1 << 63, size=near.num_perm, dtype=np.uint64)
    sig = np.empty((len(bounds), near.num_perm), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(near.num_perm):
            sig[:, j] = np.minimum.reduceat(((sh * a[j] + b[j]) >> np.uint64(32)).astype(np.uint32), bounds)
    return sig, srows[bounds].astype(np.int64)


def _candidate_pairs(sig: np.ndarray, rank: np.ndarray, bands: int) -> np.ndarray:
    """(i, j) signature positions sharing a band bucket: each member paired with the bucket's best-ranked."""
    per = sig.shape[1] // bands
    pairs = []
    for band in range(bands):
        block = np.ascontiguousarray(sig[:, band * per : (band + 1) * per])
        key = _band_keys(block)
        frame = pl.DataFrame({"k": key, "r": rank}).with_row_index("i")
        head = frame.sort("r").group_by("k", maintain_order=True).agg(pl.col("i").first().alias("h"), pl.len().alias("n"))
        frame = frame.join(head.filter(pl.col("n") > 1), on="k").filter(pl.col("i") != pl.col("h"))
        pairs.append(frame.select("h", "i").to_numpy())
    return np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), dtype=np.int64)


def _band_keys(block: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a band (polynomial over its values, then mixed)."""
    key = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(block.shape[1]):
            key = key * np.uint64(0x100000001B3) + block[:, j].astype(np.uint64)
    return ops._splitmix64(key)


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest member) per node, by label propagation with pointer jumping."""
    labels = np.arange(n)
    if len(edges) == 0:
        return labels
    u, v = edges[:, 0], edges[:, 1]
    while True:
        low = np.minimum(labels[u], labels[v])
        new = labels.copy()
        np.minimum.at(new, u, low)
        np.minimum.at(new, v, low)
        new = new[new]
        if np.array_equal(new, labels):
            return labels
        labels = new


def _all_signatures(df: pl.DataFrame, field: str, near: NearConfig) -> tuple[np.ndarray, np.ndarray]:
    """`signatures` over chunks of rows (a row's shingles never span chunks), so memory stays bounded."""
    sigs, rows = [], []
    for start in range(0, df.height, SIGNATURE_CHUNK_ROWS):
        sig, idx = signatures(df.slice(start, SIGNATURE_CHUNK_ROWS), field, near)
        sigs.append(sig)
        rows.append(idx + start)
    if not sigs:
        return np.zeros((0, near.num_perm), dtype=np.uint32), np.zeros(0, dtype=np.int64)
    return np.concatenate(sigs), np.concatenate(rows)


def near_groups(df: pl.DataFrame, field: str, near: NearConfig, rank: np.ndarray) -> np.ndarray:
    """A group number per row for near duplicates (-1: no near duplicate)."""
    sig, rows = _all_signatures(df, field, near)
    groups = np.full(df.height, -1, dtype=np.int64)
    if len(rows) < 2:
        return groups
    pairs = _candidate_pairs(sig, rank[rows], near.bands)
    if len(pairs):
        agree = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1)
        pairs = pairs[agree >= near.threshold]
    labels = _components(len(rows), pairs)
    sizes = np.bincount(labels, minlength=len(rows))
    in_group = sizes[labels] > 1
    groups[rows[in_group]] = labels[in_group]
    return groups


# --------------------------------------------------------------------------------------------
# the step


def _drop(df: pl.DataFrame, keep: np.ndarray, group: np.ndarray, kind: str, drops: Counter | None) -> tuple[pl.DataFrame, dict]:
    """Remove rows not kept; count them per source label; keep a few (dropped id, kept id) examples."""
    label = label_column(df)
    ids = df.get_column("id").cast(pl.String) if "id" in df.columns else pl.Series(np.arange(df.height).astype(str))
    frame = pl.DataFrame({"g": group, "keep": keep, "id": ids, "label": df[label].cast(pl.String) if label else pl.lit("(all)")})
    kept_id = frame.filter(pl.col("keep") & (pl.col("g") >= 0)).select("g", pl.col("id").alias("kept_id"))
    gone = frame.filter(~pl.col("keep")).join(kept_id, on="g").sort("id")
    if drops is not None:
        for name, n in gone.group_by("label").len().sort("label").iter_rows():
            drops[f"dedup: {kind} duplicate ({name})"] += int(n)
    examples = gone.head(EXAMPLES).select(pl.col("id").alias("dropped_id"), "kept_id", pl.col("label").alias("source")).to_dicts()
    return df.filter(pl.Series(keep)), {"dropped": gone.height, "examples": examples}


def deduplicate(df: pl.DataFrame, config: DedupConfig, seed: int, drops: Counter | None = None) -> tuple[pl.DataFrame, dict]:
    """Apply `config` to `df`: exact, then near duplicates; returns the rows kept and the manifest record."""
    record: dict[str, Any] = {"config": asdict(config), "tokenizer": TOKENIZER, "rows_in": df.height, "seed": seed}
    if config.exact:
        group = exact_groups(df, config.field)
        df, record["exact"] = _drop(df, _keep_one_per_group(group, _rank(df, seed)), group, "exact", drops)
    if config.near is not None:
        rank = _rank(df, seed)
        group = near_groups(df, config.field, config.near, rank)
        df, record["near"] = _drop(df, _keep_one_per_group(group, rank), group, "near", drops)
    record["rows_out"] = df.height
    return df, record
