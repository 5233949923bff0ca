"""Eval sets: catalog sources with an `eval:` block naming the field(s) that hold each instance's prompt.

    sources:
      gsm8k:
        hub_id: openai/gsm8k
        revision: <commit>
        format: parquet
        data_files: [main/test-00000-of-00001.parquet]
        eval: {text: [question]}            # fields joined by a newline; list fields item by item
      humaneval:
        ...
        eval: {text: [prompt], id: task_id} # id: the field naming an instance (default: file#row)
    eval_sets:                              # named groups; `default` is what `against: [default]` means
      default: [gsm8k, humaneval, ...]

They resolve like any source (`--sources samples|DIR|hub`), so the same eval files are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from ..errors import CatalogError

if TYPE_CHECKING:
    from ..catalog import Catalog, SourceSpec
    from ..sources import ResolvedSource


@dataclass(frozen=True)
class EvalSpec:
    """How to read instances of one eval source: the text field(s) and the optional id field."""

    text: tuple[str, ...]
    id: str | None = None


def parse_eval_block(value: Any, where: str) -> dict | None:
    """Validate a source's `eval:` block; returns it as a plain mapping (kept on the SourceSpec)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: field 'eval' must be a mapping with 'text' (and optionally 'id')")
    unknown = sorted(set(value) - {"text", "id"})
    if unknown:
        raise CatalogError(f"{where}: field 'eval' has unknown key(s) {unknown}; allowed: ['id', 'text']")
    text = value.get("text")
    text = [text] if isinstance(text, str) else text
    if not text or not isinstance(text, list) or not all(isinstance(t, str) for t in text):
        raise CatalogError(f"{where}: field 'eval.text' must name the field(s) holding the prompt, e.g. [question]")
    ident = value.get("id")
    if ident is not None and not isinstance(ident, str):
        raise CatalogError(f"{where}: field 'eval.id' must be a field name, got {ident!r}")
    return {"text": list(text), "id": ident}


def eval_spec(source: SourceSpec) -> EvalSpec:
    block = getattr(source, "eval", None)
    if not block:
        raise CatalogError(f"source {source.key!r} is not an eval set (it has no 'eval' block in the catalog)")
    return EvalSpec(tuple(block["text"]), block.get("id"))


def parse_eval_groups(value: Any, sources: dict[str, SourceSpec]) -> dict[str, tuple[str, ...]]:
    """Validate the top-level `eval_sets:` mapping: group name -> eval source keys."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError("catalog: field 'eval_sets' must map group names to lists of eval sources")
    groups = {}
    for name, members in value.items():
        where = f"eval_sets.{name}"
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise CatalogError(f"{where}: must be a list of source keys")
        for key in members:
            if key not in sources:
                raise CatalogError(f"{where}: names unknown source {key!r}")
            if not getattr(sources[key], "eval", None):
                raise CatalogError(f"{where}: source {key!r} has no 'eval' block, so it is not an eval set")
        groups[name] = tuple(members)
    return groups


def expand_evals(catalog: Catalog, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Eval source keys from names that are eval sources or `eval_sets` groups (sorted, unique)."""
    groups = getattr(catalog, "eval_sets", {}) or {}
    out: set[str] = set()
    for name in names:
        if name in groups:
            out.update(groups[name])
        elif name in catalog.sources and getattr(catalog.sources[name], "eval", None):
            out.add(name)
        else:
            known = sorted(set(groups) | {k for k, s in catalog.sources.items() if getattr(s, "eval", None)})
            raise CatalogError(f"unknown eval set {name!r}; known eval sets and groups: {', '.join(known)}")
    if not out:
        raise CatalogError("no eval sets to check against: 'against' is empty")
    return tuple(sorted(out))


def _text_expr(df: pl.DataFrame, field: str) -> pl.Expr:
    dtype = df.schema[field]
    if isinstance(dtype, pl.List):
        return pl.col(field).cast(pl.List(pl.String)).list.join("\n").fill_null("")
    return pl.col(field).cast(pl.String).fill_null("")


def load_instances(name: str, source: ResolvedSource) -> pl.DataFrame:
    """All instances of an eval source: `eval`, `instance` (its id) and `text`, in file then row order."""
    from ..sources import read_source

    spec = eval_spec(source.spec)
    required = [*spec.text, *([spec.id] if spec.id else [])]
    df = read_source(source, required=required, with_file=True)
    text = pl.concat_str([_text_expr(df, f) for f in spec.text], separator="\n")
    if spec.id:
        ident = pl.col(spec.id).cast(pl.String)
    else:
        ident = pl.concat_str([pl.col("__file"), pl.lit("#"), pl.int_range(pl.len()).over("__file").cast(pl.String)])
    return df.select(pl.lit(name).alias("eval"), ident.alias("instance"), text.alias("text"))
