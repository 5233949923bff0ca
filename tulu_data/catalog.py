"""The catalog: upstream sources pinned by revision (or local files), datasets built from them by named
recipes, mixtures of datasets, and collections.

A catalog file says *what*; recipes (Python functions registered by name) say *how*. The built-in
catalog ships in the package (`tulu_data/builtin/`); user catalogs add to it (`catalog_layers`). Every
document is validated on load and every error names the entry and the field at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .decontam.evalsets import parse_eval_block, parse_eval_groups
from .errors import CatalogError
from .names import did_you_mean

FORMATS = ("jsonl", "json", "parquet", "csv", "xlsx")
KINDS = ("preference", "sft", "prompts", "custom")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def repo_root() -> Path:
    """The folder of the built-in catalog (`catalog.yaml` and `mixtures/`), shipped inside the package."""
    return BUILTIN_DIR


@dataclass(frozen=True)
class SourceSpec:
    """An upstream dataset, pinned: where it lives, at which revision, in which files and format."""

    key: str
    hub_id: str
    revision: str
    format: str
    path: str | None = None  # local files (a file, folder or glob; absolute once loaded) instead of the Hub
    data_files: tuple[str, ...] = ()
    data_files_required: str = "all"  # all | any: whether every declared name must be present
    config: str | None = None
    split: str | None = None
    repo_type: str = "dataset"
    license: str | None = None
    homepage: str | None = None
    description: str = ""
    citation: str | None = None
    eval: dict | None = None  # an eval set: the field(s) holding each instance's prompt (see decontam.evalsets)

    @property
    def url(self) -> str:
        if self.is_local:
            return ""
        kind = "datasets/" if self.repo_type == "dataset" else ""
        return f"https://huggingface.co/{kind}{self.hub_id}"

    @property
    def is_local(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class DatasetSpec:
    """A catalog dataset: the recipe that builds it, its parameters, and what it reads."""

    name: str
    recipe: str
    sources: tuple[str, ...]
    description: str
    license: str
    params: dict[str, Any] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    departures: tuple[str, ...] = ()
    citations: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    allow_empty: bool = False  # a split left with 0 rows is not written (else the build fails, naming the drops)


@dataclass(frozen=True)
class CollectionSpec:
    """Several catalog datasets published as the named splits of one Hub repository."""

    name: str
    description: str
    datasets: tuple[str, ...]
    repo_id: str | None = None


@dataclass(frozen=True)
class MixtureRef:
    """Where a mixture is defined: its own file, or inline (`inline` holds the body) in a catalog file."""

    name: str
    path: Path
    inline: Any = None


@dataclass
class Catalog:
    sources: dict[str, SourceSpec]
    datasets: dict[str, DatasetSpec]
    collections: dict[str, CollectionSpec] = field(default_factory=dict)
    citations: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    eval_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # named groups of eval sources
    mixtures: dict[str, MixtureRef] = field(default_factory=dict)
    origins: dict[str, Path] = field(default_factory=dict)  # entry name -> the file defining it (layered catalogs)
    files: tuple[Path, ...] = ()  # the catalog files loaded, built-in first

    def where(self, name: str) -> str:
        """The file that defines entry `name` (for messages), or '' when not known."""
        origin = self.origins.get(name)
        return str(origin) if origin else ""

    def dataset(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise CatalogError(f"unknown dataset {name!r}; `tulu-data list` shows what the catalog has")
        return self.datasets[name]

    def source(self, key: str) -> SourceSpec:
        if key not in self.sources:
            raise CatalogError(f"unknown source {key!r}")
        return self.sources[key]


def _require(entry: dict, field_name: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if field_name not in entry or entry[field_name] is None:
        raise CatalogError(f"{where}: missing required field '{field_name}'")
    value = entry[field_name]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise CatalogError(f"{where}: field '{field_name}' must be {names}, got {type(value).__name__}")
    return value


def _optional(entry: dict, field_name: str, where: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if entry.get(field_name) is None:
        return default
    return _require(entry, field_name, where, kind)


def _str_list(entry: dict, field_name: str, where: str) -> tuple[str, ...]:
    value = _optional(entry, field_name, where, (list, str), [])
    value = [value] if isinstance(value, str) else value
    for item in value:
        if not isinstance(item, str):
            raise CatalogError(f"{where}: every item of '{field_name}' must be a string, got {item!r}")
    return tuple(value)


def _check_unknown(entry: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {sorted(allowed)}")


def _choice(entry: dict, key: str, where: str, choices: tuple[str, ...], default: str) -> str:
    value = entry.get(key, default)
    if value not in choices:
        raise CatalogError(f"{where}: field {key!r} must be one of {choices}, got {value!r}")
    return value


def _parse_source(key: str, entry: Any) -> SourceSpec:
    where = f"sources.{key}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a mapping")
    _check_unknown(entry, {f for f in SourceSpec.__dataclass_fields__ if f != "key"}, where)
    path = _optional(entry, "path", where, str, None)
    fmt = _optional(entry, "format", where, str, "jsonl") if path else _require(entry, "format", where)
    if fmt not in FORMATS:
        raise CatalogError(f"{where}: field 'format' must be one of {FORMATS}, got {fmt!r}")
    if path is None and ("hub_id" not in entry or "revision" not in entry):
        missing = "hub_id" if "hub_id" not in entry else "revision"
        raise CatalogError(
            f"{where}: missing required field '{missing}' (a Hub source needs hub_id and revision; "
            "local files need `path:` instead)"
        )
    revision = str(_optional(entry, "revision", where, (str, int), "local")) if path else str(
        _require(entry, "revision", where, (str, int))
    )
    return SourceSpec(
        key=key,
        hub_id=_optional(entry, "hub_id", where, str, "") if path else _require(entry, "hub_id", where),
        revision=revision,
        format=fmt,
        path=path,
        data_files=_str_list(entry, "data_files", where),
        data_files_required=_choice(entry, "data_files_required", where, ("all", "any"), "all"),
        config=_optional(entry, "config", where, str, None),
        split=_optional(entry, "split", where, str, None),
        repo_type=_optional(entry, "repo_type", where, str, "dataset"),
        license=_optional(entry, "license", where, str, None),
        homepage=_optional(entry, "homepage", where, str, None),
        description=_optional(entry, "description", where, str, ""),
        citation=_optional(entry, "citation", where, str, None),
        eval=parse_eval_block(entry.get("eval"), where),
    )


def _parse_dataset(name: str, entry: Any, sources: dict[str, SourceSpec]) -> DatasetSpec:
    where = f"datasets.{name}"
    if not _NAME.match(name):
        raise CatalogError(f"{where}: invalid name (letters, digits, '_', '-', '.')")
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a mapping")
    _check_unknown(entry, {f for f in DatasetSpec.__dataclass_fields__ if f != "name"}, where)
    spec = DatasetSpec(
        name=name,
        recipe=_require(entry, "recipe", where),
        sources=_str_list(entry, "sources", where),
        description=_require(entry, "description", where),
        license=_require(entry, "license", where),
        params=_optional(entry, "params", where, dict, {}),
        rules=_str_list(entry, "rules", where),
        departures=_str_list(entry, "departures", where),
        citations=_str_list(entry, "citations", where),
        depends_on=_str_list(entry, "depends_on", where),
        allow_empty=_optional(entry, "allow_empty", where, bool, False),
    )
    for key in spec.sources:
        if key not in sources:
            hint = did_you_mean(key, sources)
            raise CatalogError(f"{where}: field 'sources' names unknown source {key!r}{hint}")
    return spec


def parse_catalog(raw: Any, path: Path | None = None, mixtures: dict[str, MixtureRef] | None = None) -> Catalog:
    """Validate a parsed catalog document; recipes are checked against the registry.

    `mixtures`: the mixtures known beside it (default: the built-in ones), for collections that name one.
    """
    if mixtures is None:
        mixtures = {p.stem: MixtureRef(p.stem, p) for p in sorted((BUILTIN_DIR / "mixtures").glob("*.yaml"))}
    if not isinstance(raw, dict):
        raise CatalogError("catalog: the top level must be a mapping with 'sources' and 'datasets'")
    _check_unknown(raw, {"sources", "datasets", "collections", "citations", "eval_sets"}, "catalog")
    if "sources" not in raw or "datasets" not in raw:
        raise CatalogError("catalog: the top level needs both 'sources' and 'datasets'")
    raw_sources = _optional(raw, "sources", "catalog", dict, {})
    raw_datasets = _optional(raw, "datasets", "catalog", dict, {})
    sources = {key: _parse_source(key, entry) for key, entry in raw_sources.items()}
    datasets = {name: _parse_dataset(name, entry, sources) for name, entry in raw_datasets.items()}
    for spec in datasets.values():
        for dep in spec.depends_on:
            if dep not in datasets:
                raise CatalogError(f"datasets.{spec.name}: field 'depends_on' names unknown dataset {dep!r}")
    citations = _optional(raw, "citations", "catalog", dict, {})
    collections = {}
    for name, entry in (_optional(raw, "collections", "catalog", dict, {}) or {}).items():
        where = f"collections.{name}"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: must be a mapping")
        members = _str_list(entry, "datasets", where)
        for member in members:
            if member not in datasets and member not in mixtures:
                raise CatalogError(f"{where}: field 'datasets' names {member!r}, neither a catalog dataset nor a mixture")
        collections[name] = CollectionSpec(
            name=name,
            description=_require(entry, "description", where),
            datasets=members,
            repo_id=_optional(entry, "repo_id", where, str, None),
        )
    catalog = Catalog(
        sources, datasets, collections, citations, path, parse_eval_groups(raw.get("eval_sets"), sources),
        mixtures=dict(mixtures),
    )
    from .decontam.apply import validate_dataset_steps
    from .registry import get_recipe

    validate_dataset_steps(catalog)

    from .recipe_params import check_params, declared

    declarations = declared()
    for spec in datasets.values():
        if spec.recipe in declarations:  # configurable recipes: their params are checked when the catalog loads
            check_params(spec.name, declarations[spec.recipe], spec.params)
        try:
            get_recipe(spec.recipe)
        except KeyError as err:
            from .registry import all_recipes

            hint = did_you_mean(spec.recipe, [r for r in all_recipes() if not r.startswith("_")])
            raise CatalogError(
                f"datasets.{spec.name}: field 'recipe' names unknown recipe {spec.recipe!r}{hint}; "
                "`tulu-data recipes` lists them"
            ) from err
        for cite in spec.citations:
            if cite not in citations:
                raise CatalogError(f"datasets.{spec.name}: field 'citations' names unknown citation {cite!r}")
    return catalog


def load_catalog(*files: str | Path | None, user: bool = True) -> Catalog:
    """The built-in catalog with the user's layered on top (see `catalog_layers.load_layers`).

    `files`: extra catalog files (what `--catalog` names); `user=False` leaves out the ones found in the
    working directory and in $TULU_DATA_CATALOG.
    """
    from .catalog_layers import load_layers

    return load_layers([Path(f) for f in files if f is not None], user=user)
