"""A seeded random subsample of another catalog dataset (e.g. hh_rlhf_60k: 60,908 rows of hh_rlhf).

Parameters: `of` (the dataset, which must also be listed under `depends_on`), `n` (rows wanted) and
optionally `split` (default `train`). Rows are drawn by a keyed draw on their `id` (never the first
rows), so the sample does not depend on row order; a dataset with fewer than `n` rows is given whole
and the shortfall is noted. One function, registered once per row kind so the output schema is checked.
"""

from __future__ import annotations

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import CatalogError
from tulu_data.registry import recipe


def subsample_rows(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """A keyed random sample of `n` rows of dataset `of` (split `split`), in keyed order."""
    of, n, split = ctx.param("of"), ctx.param("n"), str(ctx.param("split", "train"))
    if not isinstance(of, str) or not of:
        raise CatalogError(f"datasets.{ctx.name}: params.of must name the dataset to subsample")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise CatalogError(f"datasets.{ctx.name}: params.n must be a non-negative row count, got {n!r}")
    splits = ctx.dataset(of)
    if split not in splits:
        raise CatalogError(f"datasets.{ctx.name}: dataset {of!r} has no split {split!r} (has {sorted(splits)})")
    df = splits[split]
    ctx.rows_in[of] = df.height
    if df.height < n:
        ctx.note(f"{of} has only {df.height:,} rows, fewer than the {n:,} asked for: all were taken", df.height)
    sample = ops.take_random(df, n, ctx.seed, key="id", salt=f"subsample:{ctx.name}")
    ctx.count_drop(f"not drawn: seeded random sample of {n:,} rows", df.height - sample.height)
    return {split: sample}


READS = "the rows of another catalog dataset (params.of, its split params.split), not an upstream source"
recipe("subsample", version="1", kind="preference", reads=READS)(subsample_rows)
recipe("subsample_sft", version="1", kind="sft", reads=READS)(subsample_rows)
recipe("subsample_prompts", version="1", kind="prompts", reads=READS)(subsample_rows)
