"""A mixture's whole tree checked before any part is built: names, cycles, repeats, kinds, filters.

Every error names the mixture file and the line of the part at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import ops
from .catalog import Catalog
from .errors import CatalogError
from .mixture_spec import Mixture, Part, find_mixture, mixture_names
from .names import did_you_mean
from .registry import get_recipe


@dataclass
class _Walk:
    """What the walk over one mixture tree has seen so far."""

    catalog: Catalog
    folder: Path | None
    known_filter: Callable[[str], bool]
    leaves: dict[tuple[str, str], str] = field(default_factory=dict)  # (dataset, split) -> path to it


def check_mixture_tree(
    mixture: Mixture, catalog: Catalog, folder: Path | None, known_filter: Callable[[str], bool]
) -> str:
    """Check `mixture` and every mixture inside it; returns the kind of rows it gives."""
    return _visit(mixture, (mixture.name,), _Walk(catalog, folder, known_filter))


def _visit(mixture: Mixture, chain: tuple[str, ...], walk: _Walk) -> str:
    kinds = [(part, _part_kind(mixture, i, part, chain, walk)) for i, part in enumerate(mixture.parts)]
    distinct = sorted({kind for _, kind in kinds})
    if len(distinct) != 1 or distinct[0] not in ops.SCHEMAS:
        listed = ", ".join(f"{part.dataset} ({kind})" for part, kind in kinds)
        raise CatalogError(
            f"{mixture.where()}: parts must all give one kind of rows (preference, sft or prompts), got {listed}"
        )
    for i, f in enumerate(mixture.filters):
        if not walk.known_filter(f["name"]):
            raise CatalogError(f"{mixture.where(_line(f))}: filters[{i}]: unknown filter {f['name']!r}")
    return distinct[0]


def _line(entry: object) -> int | None:
    return getattr(entry, "line", None)


def _part_kind(mixture: Mixture, index: int, part: Part, chain: tuple[str, ...], walk: _Walk) -> str:
    at = f"{mixture.where(part.line)}: parts[{index}]"
    name = part.dataset
    if name in walk.catalog.datasets:
        _record_leaf(at, part, chain, walk)
        return get_recipe(walk.catalog.datasets[name].recipe).kind
    if name in walk.catalog.collections:
        raise CatalogError(f"{at}: {name!r} is a collection; a part is a catalog dataset or a mixture")
    if name in chain:
        cycle = " -> ".join((*chain[chain.index(name):], name))
        raise CatalogError(f"{at}: {name!r} leads back to itself: {cycle}")
    child = find_mixture(name, walk.folder, walk.catalog)
    if child is None:
        raise CatalogError(f"{at}: unknown dataset or mixture {name!r}{did_you_mean(name, _all_names(walk))}")
    if part.split != "train":
        raise CatalogError(f"{at}: {name!r} is a mixture, whose only split is train (not {part.split!r})")
    return _visit(child, (*chain, name), walk)


def _record_leaf(at: str, part: Part, chain: tuple[str, ...], walk: _Walk) -> None:
    key = (part.dataset, part.split)
    here = " -> ".join(chain)
    if key in walk.leaves:
        raise CatalogError(
            f"{at}: {part.dataset!r} (split {part.split}) is already in this mixture through "
            f"{walk.leaves[key]}; its rows would appear twice with the same ids"
        )
    walk.leaves[key] = here


def _all_names(walk: _Walk) -> list[str]:
    return [*walk.catalog.datasets, *walk.catalog.collections, *mixture_names(walk.folder, walk.catalog)]
