"""Mixtures: named combinations of catalog datasets (or other mixtures), one YAML file each.

    # mixtures/preference_big_mixture.yaml
    description: ...
    license: odc-by
    parts:
      - dataset: helpsteer        # a catalog dataset or another mixture
        take: all                 # all | an integer row count (a cap) | a fraction
      - dataset: prm800k_pairs_phase2
        take: 2.0                 # a fraction above 1.0 upsamples, only with ...
        upsample: true            # ... upsample: true (mixture_spec.py has every rule)
      - dataset: hh_rlhf
        take: 60908               # a cap: a part with fewer rows gives all it has ...
        strict: true              # ... unless strict, where a shortfall is an error
    filters:                      # optional steps run on the combined rows
      - name: model_name_filter
        params: {...}

Selection is always a seeded random sample keyed on row ids, never the first rows. Rows keep their
`source` (or `dataset`) label. The output is one `train` split: parts in the order listed, each
part's rows in id order, so a different seed changes only the sampled parts.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from . import __version__, ops
from .card import render_card
from .decontam.apply import apply_mixture_steps, steps_fingerprint
from .errors import CatalogError, MixtureShortfallError
from .mixture_check import check_mixture_tree
from .mixture_spec import (
    Mixture,
    Part,
    check_part_size,
    find_mixture,
    list_mixtures,
    mixture_names,
    mixtures_dir,
    parse_mixture,
)
from .writer import read_manifest, write_build

if TYPE_CHECKING:
    from .build import Builder

__all__ = [
    "Mixture", "Part", "build_mixture", "find_mixture", "list_mixtures", "mixture_names", "mixtures_dir", "parse_mixture",
]

MixtureFilter = Callable[[pl.DataFrame, dict[str, Any], Counter], pl.DataFrame]
_FILTERS: dict[str, MixtureFilter] = {}


def mixture_filter(name: str) -> Callable[[MixtureFilter], MixtureFilter]:
    """Register a step that mixtures can apply to their combined rows: fn(df, params, drops) -> df."""

    def register(fn: MixtureFilter) -> MixtureFilter:
        _FILTERS[name] = fn
        return fn

    return register


# --------------------------------------------------------------------------------------------
# selection


def select_part(df: pl.DataFrame, take: str | int | float, seed: int, salt: str) -> pl.DataFrame:
    """Rows of one part: all, a seeded sample of a count (a cap), or a fraction with upsampling.

    A fraction f keeps floor(f) whole copies plus a seeded sample of round((f - floor(f)) * n)
    rows; copies after the first get '#k' appended to their id so ids stay unique.
    """
    n = df.height
    if take == "all":
        return df
    if isinstance(take, int):
        return ops.take_random(df, min(take, n), seed, salt=salt)
    whole = math.floor(take)
    remainder = round((take - whole) * n)
    copies = [df] + [df.with_columns((pl.col("id") + f"#{k}").alias("id")) for k in range(1, whole)]
    if whole == 0:
        copies = []
    if remainder:
        extra = ops.take_random(df, remainder, seed, salt=salt)
        copies.append(extra.with_columns((pl.col("id") + f"#{whole}").alias("id")) if whole else extra)
    return pl.concat(copies) if copies else df.head(0)


def read_selected_rows(
    files: list[Path], schema: dict[str, pl.DataType], take: str | int | float, seed: int, salt: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Select a part's rows on its ids alone, then read only the rows selected.

    Returns the part's ids (all of them: its size) and the selected rows in `schema`. A big part that
    gives a small sample (60,908 of 500,000 stack-exchange pairs) is never held in memory whole.
    """
    ids = pl.read_parquet(files, columns=["id"]).with_row_index("__row")
    chosen = select_part(ids, take, seed, salt=salt)
    wanted = chosen.get_column("__row").unique()
    scan = pl.scan_parquet(files).with_row_index("__row").drop("id")
    if take != "all":
        scan = scan.filter(pl.col("__row").is_in(wanted.implode()))
    rows = scan.collect(engine="streaming")
    joined = chosen.join(rows, on="__row", how="left").drop("__row")
    keep = [*schema, *([ops.PART_COLUMN] if ops.PART_COLUMN in joined.columns else [])]
    return ids, ops.schema_cast(joined, schema).select(keep)


def with_part(rows: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """Rows with the `part` column: the catalog dataset they came from (kept from a nested mixture's rows)."""
    if ops.PART_COLUMN in rows.columns:
        return rows.with_columns(pl.col(ops.PART_COLUMN).cast(pl.String).fill_null(dataset))
    return rows.with_columns(pl.lit(dataset, dtype=pl.String).alias(ops.PART_COLUMN))


def _kind_of(manifest: dict) -> str:
    return manifest.get("kind", "custom")


def build_mixture(builder: Builder, mixture: Mixture) -> Path:
    """Build every part (reusing matching builds), select rows per part, filter, write."""
    from .build import fingerprint

    check_mixture_tree(mixture, builder.catalog, builder.mixtures, known_filter)
    part_paths: list[tuple[Part, Path, dict]] = []
    for part in mixture.parts:
        path = builder.build(part.dataset)
        part_paths.append((part, path, read_manifest(path) or {}))

    kinds = {_kind_of(m) for _, _, m in part_paths}
    if len(kinds) != 1 or next(iter(kinds)) not in ops.SCHEMAS:
        raise CatalogError(f"mixture {mixture.name}: parts must all be of one kind (preference, sft or prompts), got {sorted(kinds)}")
    kind = next(iter(kinds))
    schema = ops.SCHEMAS[kind]

    fp = fingerprint(
        {
            "mixture": mixture.raw,
            "seed": builder.seed,
            "tool": __version__,
            "parts": [m.get("fingerprint") for _, _, m in part_paths],
            **steps_fingerprint(builder, mixture.raw, f"mixture {mixture.name}"),
        }
    )
    target = builder.out / mixture.name
    existing = read_manifest(target)
    if not builder.force and existing and existing.get("fingerprint") == fp:
        from .build import BuildEvent

        builder.report(f"[dim]reusing[/] mixture {mixture.name} (fingerprint {fp[:12]})")
        builder.events.append(BuildEvent(mixture.name, target, True, existing))
        return target

    from .build import BuildEvent

    started = time.perf_counter()
    builder.report(f"mixing [bold]{mixture.name}[/] from {len(mixture.parts)} parts")
    pieces, part_records, sources = [], [], []
    for i, (part, path, manifest) in enumerate(part_paths):
        splits = manifest.get("splits", {})
        if part.split not in splits:
            raise CatalogError(f"{mixture.where(part.line)}: part {part.dataset!r} has no split {part.split!r} (has {sorted(splits)})")
        check_part_size(mixture, i, int(splits[part.split]["rows"]))
        df, chosen = read_selected_rows(
            [path / f for f in splits[part.split]["files"]], schema, part.take, builder.seed,
            salt=f"mixture:{mixture.name}:{i}:{part.dataset}",
        )
        chosen = with_part(chosen, part.dataset)
        shortfall = isinstance(part.take, int) and df.height < part.take
        if shortfall and part.strict:
            raise MixtureShortfallError(
                f"mixture {mixture.name}: part {part.dataset!r} is strict and asks for {part.take:,} rows, "
                f"but the build has only {df.height:,}"
            )
        if shortfall:
            builder.report(f"[yellow]part {part.dataset}: asked for {part.take:,} rows, has {df.height:,}: gave all it has[/]")
        pieces.append(chosen.sort("id"))
        part_records.append(
            {
                "name": part.dataset,
                "requested": part.requested,
                "strict": part.strict,
                "available": df.height,
                "given": chosen.height,
                "shortfall": bool(shortfall),
                "fingerprint": manifest.get("fingerprint"),
                "content_hash": manifest.get("content_hash"),
            }
        )
        sources += [s for s in manifest.get("sources", []) if s not in sources]

    combined = pl.concat(pieces) if pieces else pl.DataFrame(schema={**schema, ops.PART_COLUMN: pl.String})
    if not mixture.raw.get("dedup"):  # with a dedup step, copies across parts are what it removes
        check_unique_ids(mixture, pieces)
    drops: Counter = Counter()
    for f in mixture.filters:
        if f["name"] not in _FILTERS:
            _load_filters()
        if f["name"] not in _FILTERS:
            raise CatalogError(f"mixture {mixture.name}: unknown filter {f['name']!r}")
        combined = _FILTERS[f["name"]](combined, dict(f.get("params") or {}), drops)
    combined, step_records = apply_mixture_steps(builder, mixture.raw, combined, drops, mixture.name)
    if not combined["id"].is_unique().all():
        raise CatalogError(
            f"{mixture.where()}: {combined['id'].is_duplicated().sum():,} rows share an id after the mixture's "
            "steps; a build must not repeat an id: take those rows from one part only, or dedup on all_turns"
        )

    manifest = {
        "name": mixture.name,
        "kind": kind,
        "mixture": True,
        "description": mixture.description,
        "license": mixture.license,
        "tool": {"name": "tulu-data", "version": __version__},
        "seed": builder.seed,
        "fingerprint": fp,
        "parts": part_records,
        "filters": list(mixture.filters),
        "sources": sources,
        "rows_in": {p["name"]: p["available"] for p in part_records},
        "dropped": dict(sorted(drops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "notes": {},
        **step_records,
    }
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    manifest = write_build(target, {"train": combined}, manifest, lambda m: render_card(m, builder.catalog))
    builder.report(f"built mixture [bold]{mixture.name}[/]: {combined.height:,} rows")
    builder.events.append(BuildEvent(mixture.name, target, False, manifest))
    return target


def check_unique_ids(mixture: Mixture, pieces: list[pl.DataFrame]) -> None:
    """Stop when two parts give rows with the same id (e.g. two catalog datasets over one source)."""
    labelled = pl.concat([p.select("id", pl.lit(i, pl.Int32).alias("part")) for i, p in enumerate(pieces)])
    shared = labelled.filter(pl.col("id").is_duplicated())
    if shared.is_empty():
        return
    parts = sorted(set(shared["part"].to_list()))
    names = " and ".join(repr(mixture.parts[i].dataset) for i in parts[:2])
    example = shared["id"][0]
    raise CatalogError(
        f"{mixture.where()}: parts {names} give {shared['id'].n_unique():,} ids more than once "
        f"(for example {example!r}); a build must not repeat an id: take those rows from one part only"
    )


def known_filter(name: str) -> bool:
    """Whether a mixture filter of this name is registered (loading the recipes' filters once)."""
    if name not in _FILTERS:
        _load_filters()
    return name in _FILTERS


def _load_filters() -> None:
    """Filters live beside the recipes; importing the registry's recipes registers them."""
    from .registry import all_recipes

    all_recipes()
