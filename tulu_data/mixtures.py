"""Mixtures: named combinations of catalog datasets (or other mixtures), one YAML file each.

    # mixtures/preference_big_mixture.yaml
    description: ...
    license: odc-by
    parts:
      - dataset: helpsteer        # a catalog dataset or another mixture
        take: all                 # all | an integer row count | a fraction (> 1 upsamples)
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from . import __version__, ops
from .card import render_card
from .catalog import repo_root
from .decontam.apply import STEP_KEYS, apply_mixture_steps, parse_steps, steps_fingerprint
from .errors import CatalogError, MixtureShortfallError
from .writer import read_manifest, write_build

if TYPE_CHECKING:
    from .build import Builder

MixtureFilter = Callable[[pl.DataFrame, dict[str, Any], Counter], pl.DataFrame]
_FILTERS: dict[str, MixtureFilter] = {}


def mixture_filter(name: str) -> Callable[[MixtureFilter], MixtureFilter]:
    """Register a step that mixtures can apply to their combined rows: fn(df, params, drops) -> df."""

    def register(fn: MixtureFilter) -> MixtureFilter:
        _FILTERS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class Part:
    dataset: str
    take: str | int | float  # "all", a row count, or a fraction
    strict: bool = False
    split: str = "train"

    @property
    def requested(self) -> str:
        return str(self.take)


@dataclass(frozen=True)
class Mixture:
    name: str
    description: str
    license: str
    parts: tuple[Part, ...]
    filters: tuple[dict, ...] = ()
    path: Path | None = None
    raw: dict = field(default_factory=dict)


def mixtures_dir() -> Path:
    return repo_root() / "mixtures"


def _parse_take(value: Any, where: str) -> str | int | float:
    if value is None or value == "all":
        return "all"
    if isinstance(value, bool):
        raise CatalogError(f"{where}: field 'take' must be 'all', an integer count or a fraction, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise CatalogError(f"{where}: field 'take' must not be negative")
        return value
    if isinstance(value, float):
        if value <= 0 or not math.isfinite(value):
            raise CatalogError(f"{where}: field 'take' as a fraction must be > 0, got {value}")
        return value
    raise CatalogError(f"{where}: field 'take' must be 'all', an integer count or a fraction, got {value!r}")


def parse_mixture(name: str, raw: Any, path: Path | None = None) -> Mixture:
    where = f"mixture {name}" + (f" ({path})" if path else "")
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a mapping with 'parts'")
    unknown = set(raw) - {"description", "license", "parts", "filters", *STEP_KEYS}
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
    parts_raw = raw.get("parts")
    if not isinstance(parts_raw, list) or not parts_raw:
        raise CatalogError(f"{where}: field 'parts' must be a non-empty list")
    parts = []
    for i, entry in enumerate(parts_raw):
        pw = f"{where}: parts[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("dataset"), str):
            raise CatalogError(f"{pw}: missing required field 'dataset'")
        extra = set(entry) - {"dataset", "take", "strict", "split"}
        if extra:
            raise CatalogError(f"{pw}: unknown field(s) {sorted(extra)}")
        parts.append(
            Part(
                dataset=entry["dataset"],
                take=_parse_take(entry.get("take", "all"), pw),
                strict=bool(entry.get("strict", False)),
                split=str(entry.get("split", "train")),
            )
        )
    parse_steps(raw, where)
    filters = tuple(raw.get("filters") or ())
    for i, f in enumerate(filters):
        if not isinstance(f, dict) or "name" not in f:
            raise CatalogError(f"{where}: filters[{i}]: missing required field 'name'")
    return Mixture(
        name=name,
        description=str(raw.get("description", "")),
        license=str(raw.get("license", "other")),
        parts=tuple(parts),
        filters=filters,
        path=path,
        raw=raw,
    )


def find_mixture(name: str, folder: Path | None = None) -> Mixture | None:
    path = (folder or mixtures_dir()) / f"{name}.yaml"
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CatalogError(f"{path}: not valid YAML: {err}") from err
    return parse_mixture(name, raw, path)


def list_mixtures(folder: Path | None = None) -> list[Mixture]:
    folder = folder or mixtures_dir()
    return [m for p in sorted(folder.glob("*.yaml")) if (m := find_mixture(p.stem, folder)) is not None]


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
    return ids, ops.schema_cast(joined, schema).select(list(schema))


def _kind_of(manifest: dict) -> str:
    return manifest.get("kind", "custom")


def build_mixture(builder: Builder, mixture: Mixture) -> Path:
    """Build every part (reusing matching builds), select rows per part, filter, write."""
    from .build import fingerprint

    part_paths: list[tuple[Part, Path, dict]] = []
    for part in mixture.parts:
        if part.dataset == mixture.name:
            raise CatalogError(f"mixture {mixture.name}: a mixture cannot contain itself")
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
            raise CatalogError(f"mixture {mixture.name}: part {part.dataset!r} has no split {part.split!r} (has {sorted(splits)})")
        df, chosen = read_selected_rows(
            [path / f for f in splits[part.split]["files"]], schema, part.take, builder.seed,
            salt=f"mixture:{mixture.name}:{i}:{part.dataset}",
        )
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

    combined = pl.concat(pieces) if pieces else pl.DataFrame(schema=schema)
    drops: Counter = Counter()
    for f in mixture.filters:
        if f["name"] not in _FILTERS:
            _load_filters()
        if f["name"] not in _FILTERS:
            raise CatalogError(f"mixture {mixture.name}: unknown filter {f['name']!r}")
        combined = _FILTERS[f["name"]](combined, dict(f.get("params") or {}), drops)
    combined, step_records = apply_mixture_steps(builder, mixture.raw, combined, drops, mixture.name)

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


def _load_filters() -> None:
    """Filters live beside the recipes; importing the registry's recipes registers them."""
    from .registry import all_recipes

    all_recipes()
