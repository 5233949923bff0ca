"""What a recipe sees: its resolved sources, parameters, seed, and counters for rows in and dropped."""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import TuluDataError
from .sources import ResolvedSource, read_source
from .typed import FieldTypes, ReadReport

EXAMPLES_PER_REASON = 3
FRAME_MEMO_GB = float(os.environ.get("TULU_DATA_FRAME_MEMO_GB", "4"))


class SourceFrameMemo:
    """Frames read from sources, kept in memory for the next recipe of the same build that reads them.

    Building a collection or a mixture runs many recipes over one source (twelve over UltraFeedback):
    the files are then parsed once. Keyed on the source, its files (path, size, mtime) and the read
    options; the least recently used frames go first once their estimated size passes `budget_gb`
    (0 keeps nothing). Recipes get a clone, so nothing they do reaches the kept frame.
    """

    def __init__(self, budget_gb: float = FRAME_MEMO_GB) -> None:
        self.budget = int(budget_gb * 1e9)
        self.frames: OrderedDict[tuple, tuple[pl.DataFrame, ReadReport, int]] = OrderedDict()
        self.hits = 0

    @staticmethod
    def key(source: ResolvedSource, *options: Any) -> tuple:
        stats = [(str(path), path.stat()) for path in source.files]
        files = tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)
        return (source.spec.key, source.spec.format, files, repr(options))

    def read(
        self, source: ResolvedSource, reader: Callable[[], tuple[pl.DataFrame, ReadReport]], *options: Any
    ) -> tuple[pl.DataFrame, ReadReport]:
        """The frame (and what reading dropped) for (`source`, `options`): kept, or read with `reader` and kept if it fits."""
        key = self.key(source, *options)
        if key in self.frames:
            self.frames.move_to_end(key)
            self.hits += 1
            df, report, _ = self.frames[key]
            return df.clone(), report
        df, report = reader()
        size = int(df.estimated_size())
        if size <= self.budget:
            self.frames[key] = (df, report, size)
            while sum(n for *_, n in self.frames.values()) > self.budget:
                self.frames.popitem(last=False)
        return df.clone(), report


def _shorten(value: Any, limit: int = 160) -> Any:
    """A JSON-friendly, shortened copy of a cell for drop examples."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value[:6]] + (["..."] if len(value) > 6 else [])
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    return value


@dataclass
class RecipeContext:
    """Handed to a recipe function. Recipes read frames from it and report drops through it.

    A recipe is `fn(ctx) -> {split_name: DataFrame}`; it must not do I/O other than through `ctx`,
    and every row it removes must be counted with `ctx.drop` (or `ctx.count_drop`) under a reason.
    """

    name: str
    params: dict[str, Any]
    seed: int
    sources: dict[str, ResolvedSource]
    load_dataset: Callable[[str], dict[str, pl.DataFrame]] | None = None
    frame_memo: SourceFrameMemo | None = None
    drops: Counter = field(default_factory=Counter)
    drop_examples: dict[str, list[dict]] = field(default_factory=dict)
    rows_in: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def param(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def source(self, key: str) -> ResolvedSource:
        if key not in self.sources:
            raise KeyError(f"recipe for {self.name!r} asked for source {key!r}, not listed in its catalog entry")
        return self.sources[key]

    def frame(
        self,
        key: str,
        required: list[str] | tuple[str, ...] = (),
        with_file: bool = False,
        fields: FieldTypes | None = None,
    ) -> pl.DataFrame:
        """All rows of source `key`, typed by `fields`; counts rows in and the rows reading dropped.

        `fields`: every upstream field the recipe reads, with its type (see `readers`): values of another
        kind are dropped and counted, never coerced. `required` fields missing from a file raise, naming it.
        """
        if not fields:
            raise TuluDataError(
                f"recipe for {self.name!r} reads source {key!r} without declaring its fields: pass `fields` "
                "(every upstream field it reads, with its type) so that values are checked, never coerced"
            )
        source = self.source(key)
        options = (tuple(required), with_file, fields)

        def read() -> tuple[pl.DataFrame, ReadReport]:
            report = ReadReport()
            return read_source(source, required=required, with_file=with_file, fields=fields, report=report), report

        df, report = self.frame_memo.read(source, read, *options) if self.frame_memo is not None else read()
        self.count_read_drops(report)
        self.rows_in[key] = self.rows_in.get(key, 0) + df.height + sum(report.drops.values())
        return df

    def count_read_drops(self, report: ReadReport) -> None:
        """Count the rows that reading a source dropped (typed reading, text hygiene, duplicates), with examples."""
        for reason, n in report.drops.items():
            self.drops[reason] += n
            kept = self.drop_examples.setdefault(reason, [])
            kept.extend(report.examples.get(reason, [])[: EXAMPLES_PER_REASON - len(kept)])

    def dataset(self, name: str) -> dict[str, pl.DataFrame]:
        """The splits of another catalog dataset (built first if needed, reused if already built)."""
        if self.load_dataset is None:
            raise RuntimeError("this context cannot load other datasets")
        return self.load_dataset(name)

    def drop(self, df: pl.DataFrame, mask: pl.Expr, reason: str) -> pl.DataFrame:
        """Remove rows where `mask` is true (null counts as true) and count them under `reason`."""
        flags = df.select(mask.fill_null(True).alias("m")).to_series()
        n = int(flags.sum())
        if n:
            self.drops[reason] += n
            self._keep_examples(reason, df.filter(flags))
            return df.filter(~flags)
        return df

    def _keep_examples(self, reason: str, dropped: pl.DataFrame, limit: int = EXAMPLES_PER_REASON) -> None:
        """Keep a few dropped rows per reason (texts shortened) so the manifest shows what was dropped."""
        kept = self.drop_examples.setdefault(reason, [])
        if len(kept) >= limit:
            return
        for row in dropped.head(limit - len(kept)).to_dicts():
            kept.append({k: _shorten(v) for k, v in row.items() if not k.startswith("__")})

    def count_drop(self, reason: str, n: int) -> None:
        if n:
            self.drops[reason] += int(n)

    def note(self, key: str, value: Any) -> None:
        """Record a fact for the manifest and card (e.g. rows hit by a known upstream defect)."""
        self.notes[key] = value
