"""Hooks that run the dedup and decontamination steps inside builds (mixtures and catalog datasets).

A mixture file or a catalog dataset's `params` may carry `dedup:` and `decontaminate:` mappings. They
run on the rows after everything else (a mixture's filters, a recipe's own steps): dedup first, then
decontamination. Their configuration, the tokenizer version and the hashes of the eval files read are
part of the build's fingerprint.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import polars as pl

from ..errors import CatalogError
from .dedup import DedupConfig, deduplicate, parse_dedup
from .evalsets import expand_evals, load_instances
from .index import EvalIndex
from .step import DecontamConfig, decontaminate, index_for, parse_decontam
from .text import TOKENIZER

if TYPE_CHECKING:
    from ..build import Builder

STEP_KEYS = ("dedup", "decontaminate")
_INDEXES: dict[tuple, EvalIndex] = {}


def parse_steps(raw: dict, where: str) -> dict[str, Any]:
    """The step configurations present in `raw` (a mixture document or dataset params), validated."""
    steps: dict[str, Any] = {}
    if raw.get("dedup") is not None:
        steps["dedup"] = parse_dedup(raw["dedup"], where)
    if raw.get("decontaminate") is not None:
        steps["decontaminate"] = parse_decontam(raw["decontaminate"], where)
    return steps


def _eval_keys(builder: Builder, config: DecontamConfig, where: str = "decontaminate") -> tuple[str, ...]:
    try:
        return expand_evals(builder.catalog, config.against)
    except CatalogError as err:
        raise CatalogError(f"{where}: {err}") from None


def steps_fingerprint(builder: Builder, raw: dict, where: str) -> dict:
    """What the steps add to a fingerprint: nothing without steps; else tokenizer and eval file hashes."""
    steps = parse_steps(raw, where)
    if not steps:
        return {}
    payload: dict[str, Any] = {"decontam_tokenizer": TOKENIZER}
    config = steps.get("decontaminate")
    if config is not None:
        payload["eval_files"] = {
            key: [f["sha256"] for f in builder.resolve(key).file_records()] for key in _eval_keys(builder, config, where)
        }
    return {"steps": payload}


def eval_instances(builder: Builder, keys: tuple[str, ...]) -> pl.DataFrame:
    """The instances of the eval sources `keys`, read the way the builder resolves sources."""
    return pl.concat([load_instances(key, builder.resolve(key)) for key in keys])


def eval_source_records(builder: Builder, config: DecontamConfig) -> list[dict]:
    """Provenance of the eval files read (key, Hub id, pinned revision, how resolved, file hashes)."""
    return [builder._source_record(builder.resolve(key)) for key in _eval_keys(builder, config)]


def eval_index(builder: Builder, config: DecontamConfig) -> EvalIndex:
    """The n-gram index over the eval sets of `config` (kept for the next step with the same inputs)."""
    keys = _eval_keys(builder, config)
    ident = (config.ngram, tuple((k, tuple(f["sha256"] for f in builder.resolve(k).file_records())) for k in keys))
    if ident not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[ident] = index_for(eval_instances(builder, keys), config)
    return _INDEXES[ident]


def apply_steps(builder: Builder, raw: dict, df: pl.DataFrame, drops: Counter, where: str) -> tuple[pl.DataFrame, dict]:
    """Run the steps configured in `raw` on `df`; returns the rows and the manifest entries to add."""
    steps = parse_steps(raw, where)
    extra: dict[str, Any] = {}
    dedup: DedupConfig | None = steps.get("dedup")
    if dedup is not None:
        before = df.height
        df, extra["dedup"] = deduplicate(df, dedup, builder.seed, drops)
        builder.report(f"dedup: {before - df.height:,} of {before:,} rows removed")
    config: DecontamConfig | None = steps.get("decontaminate")
    if config is not None:
        df, extra["decontamination"] = decontaminate(df, eval_index(builder, config), config, drops)
        extra["decontamination"]["eval_sources"] = eval_source_records(builder, config)
        builder.report(f"decontamination: {extra['decontamination']['rows_matched']:,} rows overlap an eval set ({config.action})")
    return df, extra


def apply_dataset_steps(builder: Builder, params: dict, splits: dict[str, pl.DataFrame], drops: Counter, name: str) -> tuple[dict, dict]:
    """The steps of a catalog dataset's params, run on each split; records are kept per split."""
    if not parse_steps(params, f"datasets.{name}.params"):
        return splits, {}
    records: dict[str, dict] = {}
    out = {}
    for split in sorted(splits):
        out[split], extra = apply_steps(builder, params, splits[split], drops, f"datasets.{name}.params")
        for key, value in extra.items():
            records.setdefault(key, {})[split] = value
    return out, {key: {"splits": value} for key, value in records.items()}


def apply_mixture_steps(builder: Builder, raw: dict, df: pl.DataFrame, drops: Counter, name: str) -> tuple[pl.DataFrame, dict]:
    """The steps of a mixture file, run on its combined rows (one `train` split)."""
    df, extra = apply_steps(builder, raw, df, drops, f"mixture {name}")
    return df, {key: {"splits": {"train": value}} for key, value in extra.items()}


def validate_dataset_steps(catalog: Any) -> None:
    """Check the steps in every catalog dataset's params at load time (fields and eval set names)."""
    for spec in catalog.datasets.values():
        steps = parse_steps(spec.params, f"datasets.{spec.name}.params")
        if "decontaminate" in steps:
            try:
                expand_evals(catalog, steps["decontaminate"].against)
            except CatalogError as err:
                raise CatalogError(f"datasets.{spec.name}.params.decontaminate: {err}") from None
