"""Building catalog datasets and mixtures into Hub-layout folders, reusing earlier matching builds.

A build is keyed by a *fingerprint*: the recipe name and version, its parameters, the seed, the hashes
of the upstream files read, and the fingerprints of the datasets it depends on. A folder whose
manifest carries the same fingerprint is reused instead of rebuilt; any change rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import __version__, ops
from .card import render_card
from .catalog import Catalog, DatasetSpec, load_catalog
from .context import RecipeContext, SourceFrameMemo
from .decontam.apply import apply_dataset_steps, steps_fingerprint
from .errors import TuluDataError
from .names import did_you_mean, plain_name_problem
from .readers import READER_VERSION
from .registry import get_recipe
from .sources import ResolvedSource, resolve_source
from .writer import read_manifest, read_splits, write_build

Reporter = Callable[[str], None]


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


DUPLICATE_ID = "duplicate output row (same id as another row: the same content)"


def unique_ids(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Keep one row per `id` (the one with the smallest content hash, so input order never decides); count the rest."""
    if "id" not in df.columns or df["id"].is_unique().all():
        return df
    tie = ops.content_ids(df, [c for c in df.columns if c != "id"])
    keep = (
        df.select(pl.col("id"), tie.alias("__tie"))
        .with_row_index("__row")
        .sort("id", "__tie")
        .filter(pl.col("id").is_first_distinct())["__row"]
        .sort()
    )
    ctx.count_drop(DUPLICATE_ID, df.height - keep.len())
    return df[keep]


@dataclass
class BuildEvent:
    """What happened to one dataset during a build (shown by the CLI)."""

    name: str
    path: Path
    reused: bool
    manifest: dict


@dataclass
class Builder:
    """Builds datasets and mixtures of one catalog into `out`, resolving sources one way."""

    catalog: Catalog
    sources: str = "samples"
    out: Path = Path("builds")
    seed: int = 42
    force: bool = False
    mixtures: Path | None = None  # a folder of mixture files instead of the catalog's mixtures
    source_overrides: dict[str, str] = field(default_factory=dict)  # --source KEY=PATH
    report: Reporter = lambda msg: None
    events: list[BuildEvent] = field(default_factory=list)
    _fingerprints: dict[str, str] = field(default_factory=dict)
    _resolved: dict[str, ResolvedSource] = field(default_factory=dict)
    frame_memo: SourceFrameMemo = field(default_factory=SourceFrameMemo)

    # ---- public -----------------------------------------------------------------------------

    def build(self, name: str) -> Path:
        """Build (or reuse) a catalog dataset or a mixture by name; returns its folder."""
        from .mixtures import find_mixture

        problem = plain_name_problem(name)
        if problem:
            raise TuluDataError(problem)
        if name in self.catalog.datasets:
            return self.build_dataset(name)
        mixture = find_mixture(name, self.mixtures, self.catalog)
        if mixture is not None:
            from .mixtures import build_mixture

            return build_mixture(self, mixture)
        if name in self.catalog.collections:
            raise TuluDataError(f"{name!r} is a collection: build its members with `Builder.build_collection`")
        raise TuluDataError(
            f"{name!r} is neither a catalog dataset, a mixture nor a collection{self._suggest(name)}; "
            "`tulu-data list` shows them all"
        )

    def _suggest(self, name: str) -> str:
        from .mixture_spec import mixture_names

        mixtures = mixture_names(self.mixtures, self.catalog)
        return did_you_mean(name, [*self.catalog.datasets, *self.catalog.collections, *mixtures])

    def build_collection(self, name: str) -> list[Path]:
        """Build (or reuse) every member of a catalog collection, in its order; returns their folders."""
        if name not in self.catalog.collections:
            hint = did_you_mean(name, self.catalog.collections)
            raise TuluDataError(f"{name!r} is not a catalog collection{hint}; `tulu-data list` shows them")
        return [self.build(member) for member in self.catalog.collections[name].datasets]

    def load(self, name: str) -> dict[str, pl.DataFrame]:
        """Build if needed and read a dataset's splits back as frames."""
        return read_splits(self.build(name))

    # ---- datasets ---------------------------------------------------------------------------

    def resolve(self, key: str) -> ResolvedSource:
        if key not in self._resolved:
            resolved = resolve_source(self.catalog.source(key), self.sources, self.source_overrides.get(key))
            if resolved.ignored:
                self.report(f"[yellow]notice[/]: source {key}: not read (not a declared file): {', '.join(resolved.ignored)}")
            self._resolved[key] = resolved
        return self._resolved[key]

    def dataset_fingerprint(self, spec: DatasetSpec) -> str:
        if spec.name not in self._fingerprints:
            rec = get_recipe(spec.recipe)
            payload = {
                "recipe": rec.name,
                "recipe_version": rec.version,
                "reader_version": READER_VERSION,
                "params": spec.params,
                "seed": self.seed,
                "sources": {k: [f["sha256"] for f in self.resolve(k).file_records()] for k in spec.sources},
                "depends_on": {d: self.dataset_fingerprint(self.catalog.dataset(d)) for d in spec.depends_on},
                **steps_fingerprint(self, spec.params, f"datasets.{spec.name}.params"),
            }
            self._fingerprints[spec.name] = fingerprint(payload)
        return self._fingerprints[spec.name]

    def build_dataset(self, name: str) -> Path:
        spec = self.catalog.dataset(name)
        target = self.out / name
        fp = self.dataset_fingerprint(spec)
        existing = read_manifest(target)
        if not self.force and existing and existing.get("fingerprint") == fp:
            if not any(e.name == name for e in self.events):
                self.report(f"[dim]reusing[/] {name} (fingerprint {fp[:12]})")
                self.events.append(BuildEvent(name, target, True, existing))
            return target

        rec = get_recipe(spec.recipe)
        self.report(f"building [bold]{name}[/] with recipe {rec.name} v{rec.version}")
        started = time.perf_counter()
        ctx = RecipeContext(
            name=name,
            params=dict(spec.params),
            seed=self.seed,
            sources={k: self.resolve(k) for k in spec.sources},
            load_dataset=self.load,
            frame_memo=self.frame_memo,
        )
        splits = rec.fn(ctx)
        ignored = {k: list(self.resolve(k).ignored) for k in spec.sources if self.resolve(k).ignored}
        if ignored:
            ctx.note("files not read", ignored)
        if not isinstance(splits, dict) or not splits:
            raise TuluDataError(f"recipe {rec.name!r} returned no splits for {name!r}")
        if rec.kind in ops.SCHEMAS:
            splits = {s: ops.schema_cast(df, ops.SCHEMAS[rec.kind]) for s, df in splits.items()}
        splits = {s: unique_ids(ctx, df) for s, df in splits.items()}
        splits, step_records = apply_dataset_steps(self, spec.params, splits, ctx.drops, name)
        if spec.allow_empty and any(df.height for df in splits.values()):
            empty = sorted(s for s, df in splits.items() if df.height == 0)
            if empty:
                ctx.note("empty splits left out (allow_empty)", empty)
            splits = {s: df for s, df in splits.items() if df.height}
        manifest = {
            "name": name,
            "kind": rec.kind,
            "description": spec.description,
            "license": spec.license,
            "tool": {"name": "tulu-data", "version": __version__},
            "recipe": {"name": rec.name, "version": rec.version, "params": spec.params},
            "seed": self.seed,
            "fingerprint": fp,
            "sources": [self._source_record(self.resolve(k)) for k in spec.sources],
            "depends_on": {d: self._fingerprints.get(d) for d in spec.depends_on},
            "rows_in": dict(ctx.rows_in),
            "dropped": dict(sorted(ctx.drops.items(), key=lambda kv: (-kv[1], kv[0]))),
            "notes": ctx.notes,
            "drop_examples": ctx.drop_examples,
            "build_seconds": None,
            **step_records,
        }
        manifest["build_seconds"] = round(time.perf_counter() - started, 3)
        manifest = write_build(target, splits, manifest, lambda m: render_card(m, self.catalog))
        self.report(
            f"built [bold]{name}[/]: "
            + ", ".join(f"{s} {n:,} rows" for s, n in manifest["rows_out"].items())
            + (f"; dropped {sum(ctx.drops.values()):,}" if ctx.drops else "")
        )
        self.events.append(BuildEvent(name, target, False, manifest))
        return target

    @staticmethod
    def _source_record(src: ResolvedSource) -> dict:
        return {
            "key": src.spec.key,
            "hub_id": src.spec.hub_id,
            "revision": src.spec.revision,
            "mode": src.mode,
            **({"path": src.spec.path} if src.spec.is_local else {}),
            "license": src.spec.license,
            "files": src.file_records(),
        }


def build(
    name: str,
    sources: str = "samples",
    out: Path | str = Path("builds"),
    seed: int = 42,
    force: bool = False,
    catalog: Catalog | None = None,
    report: Reporter | None = None,
) -> Path:
    """Build a catalog dataset or mixture (reusing a matching earlier build); returns `OUT/NAME/`."""
    builder = Builder(
        catalog=catalog or load_catalog(),
        sources=sources,
        out=Path(out),
        seed=seed,
        force=force,
        report=report or (lambda msg: None),
    )
    return builder.build(name)
