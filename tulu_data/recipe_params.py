"""Declared parameters of the recipes configured in YAML: what each takes, and the upstream fields it reads.

A configurable recipe (the generic ones in `recipes/generic_sft.py` and `recipes/generic_preference.py`)
declares, next to its function, a `RecipeParams`: the fields it reads (in words: their names are
parameters) and one `Param` per parameter with its kind, default and meaning. `declared()` returns every
declaration (for listing recipes and their parameters); `check_params` validates a catalog entry's
`params` against one, and `resolve(ctx, recipe)` does it for a running recipe and fills in the defaults.

Kinds: `column` (a field name: non-empty text), `mapping` (text to text), `choice` (one of `choices`),
`text` (non-empty), `count` (a whole number >= 1). A parameter with `nullable` also takes null (the feature is off);
a parameter left out takes its `default` (None for `label`: the recipe then uses the dataset's name).
Every error is a `CatalogError` naming the dataset and the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import CatalogError

KINDS = ("column", "mapping", "choice", "text", "count")


@dataclass(frozen=True)
class Param:
    """One parameter of a recipe."""

    name: str
    kind: str
    doc: str
    default: Any = None
    required: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecipeParams:
    """What a recipe reads (in words) and the parameters it takes."""

    recipe: str
    reads: str
    params: tuple[Param, ...]

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


_DECLARED: dict[str, RecipeParams] = {}


def declare(recipe: str, reads: str, *params: Param) -> RecipeParams:
    """Record the parameters of `recipe` (called at import, next to the recipe function)."""
    for param in params:
        if param.kind not in KINDS:
            raise ValueError(f"recipe {recipe!r}: param {param.name!r} has unknown kind {param.kind!r}")
    spec = RecipeParams(recipe, reads, tuple(params))
    _DECLARED[recipe] = spec
    return spec


def declared() -> dict[str, RecipeParams]:
    """Every declaration, by recipe name (the recipe modules are imported first)."""
    from .registry import all_recipes

    all_recipes()
    return dict(_DECLARED)


def _kind_error(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param`, or None when it does."""
    if value is None:
        return None if param.nullable else "must not be null"
    if param.kind in ("column", "text") and not (isinstance(value, str) and value):
        return "must be a field name (non-empty text)" if param.kind == "column" else "must be non-empty text"
    if param.kind == "choice" and value not in param.choices:
        return f"must be one of {', '.join(param.choices)}"
    if param.kind == "count" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return "must be a whole number of at least 1"
    if param.kind == "mapping" and not (
        isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return "must be a mapping of text to text"
    return None


def check_params(dataset: str, spec: RecipeParams, params: dict[str, Any]) -> dict[str, Any]:
    """`params` checked against `spec`, with defaults filled in; `CatalogError` names the dataset and the param."""
    where = f"datasets.{dataset}"
    known = {p.name for p in spec.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise CatalogError(
            f"{where}: unknown param(s) {', '.join(map(repr, unknown))} for recipe {spec.recipe!r}; "
            f"it takes: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for param in spec.params:
        if param.required and params.get(param.name) is None:
            raise CatalogError(f"{where}: param {param.name!r} is required by recipe {spec.recipe!r} ({param.doc})")
        if param.name not in params:
            values[param.name] = param.default
            continue
        value = params[param.name]
        problem = _kind_error(param, value)
        if problem:
            raise CatalogError(f"{where}: param {param.name!r} {problem}, got {value!r}")
        values[param.name] = value
    return values


def distinct_columns(dataset: str, values: dict[str, Any], names: list[str]) -> None:
    """Fail when two of the column params `names` name the same upstream field."""
    seen: dict[str, str] = {}
    for name in names:
        column = values.get(name)
        if column is None:
            continue
        if column in seen:
            raise CatalogError(
                f"datasets.{dataset}: params {seen[column]!r} and {name!r} both name the field {column!r}; "
                "each must name its own field"
            )
        seen[column] = name


def resolve(ctx: Any, recipe: str) -> dict[str, Any]:
    """The running recipe's params (a `RecipeContext`), checked against its declaration, defaults filled in."""
    return check_params(ctx.name, _DECLARED[recipe], ctx.params)
