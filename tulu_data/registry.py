"""Recipes registered by name. Each family of recipes lives in one module of `tulu_data.recipes`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from .context import RecipeContext

RecipeFn = Callable[["RecipeContext"], dict[str, pl.DataFrame]]


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    kind: str  # preference | sft | prompts | custom: decides the output schema check
    fn: RecipeFn
    doc: str
    reads: str = ""  # the upstream fields it reads, in words (shown by `tulu-data recipes`)


_RECIPES: dict[str, Recipe] = {}
_DISCOVERED = False


def recipe(name: str, *, version: str, kind: str, reads: str = "") -> Callable[[RecipeFn], RecipeFn]:
    """Register a recipe. Bump `version` whenever the output for the same input could change.

    `reads` says in words which upstream fields it reads (configurable recipes declare theirs with
    `recipe_params.declare` instead).
    """

    def register(fn: RecipeFn) -> RecipeFn:
        if name in _RECIPES and _RECIPES[name].fn is not fn:
            raise ValueError(f"recipe {name!r} registered twice")
        _RECIPES[name] = Recipe(name, version, kind, fn, (fn.__doc__ or "").strip(), reads)
        return fn

    return register


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from . import recipes

    for info in pkgutil.iter_modules(recipes.__path__):
        importlib.import_module(f"{recipes.__name__}.{info.name}")
    _DISCOVERED = True


def get_recipe(name: str) -> Recipe:
    _discover()
    return _RECIPES[name]


def all_recipes() -> dict[str, Recipe]:
    _discover()
    return dict(_RECIPES)
