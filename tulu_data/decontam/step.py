"""The decontamination step: drop (or flag) training rows that overlap eval instances.

    decontaminate:
      against: [default]     # eval sources or `eval_sets` groups of the catalog
      ngram: 8               # word n-gram size (tokens: see text.py)
      threshold: 0.5         # an instance overlaps a row when MORE than this share of its tokens is
                             # covered by n-grams shared with that row; 0 = any shared n-gram
      field: user_turns      # user_turns | all_turns | a text column
      action: drop           # drop | flag (keep rows, add `contaminated_by`: the evals they overlap)

The record it writes into the manifest counts, per eval and per source label, the rows matched and the
eval instances overlapped (with the set-level rule: a source overlapping more than 2% of an eval's
instances is contaminated for it), plus examples (row id, instance id, coverage, overlapping span).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from ..errors import CatalogError
from .index import EvalIndex, build_index, longest_span, match
from .text import FIELDS, TOKENIZER, row_segments

SET_LEVEL_SHARE = 0.02  # Tulu 3: a training set is contaminated for an eval when it overlaps > 2% of it
EXAMPLES_PER_EVAL = 3
FLAG_COLUMN = "contaminated_by"


@dataclass(frozen=True)
class DecontamConfig:
    against: tuple[str, ...] = ("default",)
    ngram: int = 8
    threshold: float = 0.5
    field: str = "user_turns"
    action: str = "drop"

    def describe(self) -> str:
        rule = "any shared n-gram" if self.threshold == 0 else f"more than {self.threshold:.0%} of its tokens are covered"
        return (
            f"{self.action} rows whose {self.field.replace('_', ' ')} share word {self.ngram}-grams with an instance of "
            f"{', '.join(self.against)} ({rule}; tokens {TOKENIZER})"
        )


def parse_decontam(raw: Any, where: str) -> DecontamConfig:
    """Validate a `decontaminate:` mapping; every error names `where` and the field."""
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: 'decontaminate' must be a mapping (against, ngram, threshold, field, action)")
    unknown = sorted(set(raw) - set(DecontamConfig.__dataclass_fields__))
    if unknown:
        raise CatalogError(f"{where}: 'decontaminate' has unknown field(s) {unknown}")
    against = raw.get("against", ["default"])
    against = [against] if isinstance(against, str) else against
    if not isinstance(against, list) or not against or not all(isinstance(a, str) for a in against):
        raise CatalogError(f"{where}: 'decontaminate.against' must list eval sets or eval_sets groups")
    ngram = raw.get("ngram", 8)
    if isinstance(ngram, bool) or not isinstance(ngram, int) or not 1 <= ngram <= 64:
        raise CatalogError(f"{where}: 'decontaminate.ngram' must be an integer from 1 to 64, got {ngram!r}")
    threshold = raw.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold < 1:
        raise CatalogError(f"{where}: 'decontaminate.threshold' must be a number in [0, 1), got {threshold!r}")
    action = raw.get("action", "drop")
    if action not in ("drop", "flag"):
        raise CatalogError(f"{where}: 'decontaminate.action' must be drop or flag, got {action!r}")
    field = raw.get("field", "user_turns")
    if not isinstance(field, str):
        raise CatalogError(f"{where}: 'decontaminate.field' must be one of {FIELDS} or a text column")
    return DecontamConfig(tuple(against), ngram, float(threshold), field, action)


def label_column(df: pl.DataFrame) -> str | None:
    """The column naming each row's source: `source` (preference, prompts) or `dataset` (SFT)."""
    return next((c for c in ("source", "dataset") if c in df.columns), None)


def find_matches(df: pl.DataFrame, index: EvalIndex, config: DecontamConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Matched (row, instance) pairs of `df` with coverage, and the n-gram starts behind them."""
    segments = row_segments(df, config.field)
    return match(index, segments, config.threshold)


def _labels(df: pl.DataFrame) -> pl.DataFrame:
    label = label_column(df)
    ids = pl.col("id").cast(pl.String) if "id" in df.columns else pl.int_range(pl.len()).cast(pl.String)
    return df.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        ids.alias("row_id"),
        (pl.col(label).cast(pl.String) if label else pl.lit("(all)")).fill_null("(none)").alias("label"),
    )


def _eval_figures(index: EvalIndex, pairs: pl.DataFrame) -> dict[str, dict]:
    """Per eval: instances, too short to test, overlapped, their share, the set-level verdict, rows matched."""
    sizes = index.instances.group_by("eval").agg(pl.len().alias("instances"), (pl.col("n_tokens") < index.ngram).sum().alias("too_short"))
    hit = pairs.group_by("eval").agg(pl.col("inst").n_unique().alias("overlapped"), pl.col("row").n_unique().alias("rows_matched"))
    out = {}
    for name, n, short in sizes.sort("eval").iter_rows():
        got = hit.filter(pl.col("eval") == name)
        overlapped = int(got["overlapped"][0]) if got.height else 0
        out[name] = {
            "instances": int(n),
            "too_short": int(short),
            "overlapped": overlapped,
            "share": round(overlapped / n, 6) if n else 0.0,
            "contaminated": bool(n and overlapped / n > SET_LEVEL_SHARE),
            "rows_matched": int(got["rows_matched"][0]) if got.height else 0,
        }
    return out


def _source_figures(index: EvalIndex, pairs: pl.DataFrame) -> dict[str, dict[str, dict]]:
    """Per source label x eval: rows matched, instances overlapped, share, set-level verdict."""
    sizes = dict(index.instances.group_by("eval").len().iter_rows())
    grid = pairs.group_by("label", "eval").agg(pl.col("row").n_unique().alias("rows"), pl.col("inst").n_unique().alias("insts"))
    out: dict[str, dict[str, dict]] = {}
    for label, name, rows, insts in grid.sort("label", "eval").iter_rows():
        share = insts / sizes[name]
        out.setdefault(label, {})[name] = {
            "rows_matched": int(rows),
            "instances_overlapped": int(insts),
            "share": round(share, 6),
            "contaminated": share > SET_LEVEL_SHARE,
        }
    return out


def _examples(index: EvalIndex, pairs: pl.DataFrame, starts: pl.DataFrame) -> dict[str, list[dict]]:
    """A few matched pairs per eval (smallest row ids first), with the longest overlapping span."""
    out: dict[str, list[dict]] = {}
    picked = pairs.sort("eval", "row_id", "instance").group_by("eval", maintain_order=True).head(EXAMPLES_PER_EVAL)
    wanted = index.instances.filter(pl.col("idx").is_in(picked["inst"].implode()))
    tokens = dict(wanted.select("idx", "tokens").iter_rows())
    for row in picked.iter_rows(named=True):
        pos = starts.filter((pl.col("row") == row["row"]) & (pl.col("inst") == row["inst"]))["start"].to_list()
        out.setdefault(row["eval"], []).append(
            {
                "row_id": row["row_id"],
                "source": row["label"],
                "instance": row["instance"],
                "coverage": round(row["coverage"], 4),
                "span": longest_span(tokens[row["inst"]], pos, index.ngram)[:300],
            }
        )
    return out


def decontaminate(
    df: pl.DataFrame, index: EvalIndex, config: DecontamConfig, drops: Counter | None = None
) -> tuple[pl.DataFrame, dict]:
    """Apply `config` to `df`: the rows kept (or all rows, flagged) and the record for the manifest."""
    pairs, starts = find_matches(df, index, config)
    pairs = pairs.join(_labels(df), on="row")
    hit_rows = pairs.group_by("row").agg(pl.col("eval").unique().sort().alias(FLAG_COLUMN))
    record = {
        **asdict(config),
        "tokenizer": TOKENIZER,
        "rows_in": df.height,
        "rows_matched": hit_rows.height,
        "evals": _eval_figures(index, pairs),
        "by_source": _source_figures(index, pairs),
        "examples": _examples(index, pairs, starts),
    }
    flags = df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")).join(hit_rows, on="row", how="left")
    flags = flags.sort("row").get_column(FLAG_COLUMN)
    if config.action == "flag":
        empty = pl.lit([], dtype=pl.List(pl.String))
        return df.with_columns(flags.alias(FLAG_COLUMN)).with_columns(pl.col(FLAG_COLUMN).fill_null(empty)), record
    matched = flags.is_not_null()
    if drops is not None:
        per_label = pairs.unique("row").group_by("label").len().sort("label")
        for label, n in per_label.iter_rows():
            drops[f"decontamination: overlaps an eval set ({label})"] += int(n)
    return df.filter(~matched), record


def index_for(instances: pl.DataFrame, config: DecontamConfig) -> EvalIndex:
    return build_index(instances, config.ngram)
