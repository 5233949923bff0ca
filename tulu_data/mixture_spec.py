"""Mixture files: read with line numbers and checked field by field before anything is built.

Every error names the mixture file and the line. The rules for a part:

- `dataset`: a plain name (no path) of a catalog dataset or another mixture;
- `take`: `all`, an integer >= 1 (a cap: never more rows than the part has), or a fraction > 0; a
  fraction above 1.0 upsamples and needs `upsample: true`, and at most `MAX_UPSAMPLE` copies;
- `strict`, `upsample`: YAML booleans (`true`/`false`), never text such as "false";
- `split`: a split name (default `train`);
- a dataset and split may appear once per mixture (twice would repeat its rows and ids).

The whole tree (nested mixtures, names, cycles, kinds, filters) is checked by `mixture_graph`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .catalog import Catalog, load_catalog, repo_root
from .errors import CatalogError
from .names import plain_name_problem
from .yaml_lines import line_of, load_yaml

MIXTURE_FIELDS = {"description", "license", "parts", "filters", "dedup", "decontaminate"}  # see decontam.apply
PART_FIELDS = {"dataset", "take", "strict", "split", "upsample"}
MAX_UPSAMPLE = 100.0  # a fraction above this is refused even with upsample: true
MAX_PART_ROWS_ENV = "TULU_DATA_MAX_PART_ROWS"
DEFAULT_MAX_PART_ROWS = 20_000_000  # rows one upsampled part may give, checked before any is read


@dataclass(frozen=True)
class Part:
    dataset: str
    take: str | int | float  # "all", a row count, or a fraction
    strict: bool = False
    split: str = "train"
    upsample: bool = False
    line: int | None = field(default=None, compare=False)  # where the part starts in its file

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

    def where(self, line: int | None = None) -> str:
        """'FILE, line N: mixture NAME' (or less, when the file or line is not known)."""
        return _where(self.name, self.path, line)


def _where(name: str, path: Path | None, line: int | None) -> str:
    if path is None:
        return f"mixture {name}"
    return f"{path}" + (f", line {line}" if line else "") + f": mixture {name}"


def _fail(name: str, path: Path | None, line: int | None, message: str) -> NoReturn:
    raise CatalogError(f"{_where(name, path, line)}: {message}")


def mixtures_dir() -> Path:
    return repo_root() / "mixtures"


# ---- one part ---------------------------------------------------------------------------------


def _boolean(entry: dict, key: str, fail) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        fail(key, f"field {key!r} must be true or false (a YAML boolean, unquoted), got {value!r}")
    return value


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


def _parse_take(value: Any, upsample: bool, fail) -> str | int | float:
    """`all`, a cap, or a fraction, with the upsampling rules."""
    if value == "all":
        if upsample:
            fail("upsample", "upsample: true needs a fraction above 1.0 as 'take', not 'all'")
        return "all"
    if isinstance(value, str) and _looks_numeric(value):
        fail("take", f"field 'take' is the text {value!r}: write the number without quotes")
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail("take", f"field 'take' must be 'all', an integer count or a fraction, got {value!r}")
    if isinstance(value, int):
        return _parse_count(value, upsample, fail)
    return _parse_fraction(value, upsample, fail)


def _parse_count(value: int, upsample: bool, fail) -> int:
    if value < 0:
        fail("take", f"field 'take' must not be negative, got {value}")
    if value == 0:
        fail("take", "field 'take' is 0, which selects no rows: remove the part instead")
    if upsample:
        fail("upsample", f"an integer 'take' ({value}) is a cap and never upsamples; write a fraction such as 2.0")
    return value


def _parse_fraction(value: float, upsample: bool, fail) -> float:
    if not math.isfinite(value) or value <= 0:
        fail("take", f"field 'take' as a fraction must be > 0, got {value}")
    if value > 1.0 and not upsample:
        fail(
            "take",
            f"field 'take' is {value}, a fraction above 1.0: that repeats every row about {value:g} times; "
            "add 'upsample: true' to the part if that is meant (an integer is a row count)",
        )
    if value > MAX_UPSAMPLE:
        fail("take", f"field 'take' is {value:g}: upsampling is limited to {MAX_UPSAMPLE:g} copies of a part")
    if value <= 1.0 and upsample:
        fail("upsample", f"upsample: true needs a fraction above 1.0 as 'take', got {value}")
    return value


def _parse_part(entry: Any, index: int, name: str, path: Path | None, parts_raw: list) -> Part:
    part_line = line_of(parts_raw, index)
    label = f"parts[{index}]"

    def fail(key: str | None, message: str) -> NoReturn:
        _fail(name, path, line_of(entry, key) or part_line, f"{label}: {message}")

    if not isinstance(entry, dict) or "dataset" not in entry:
        fail(None, "missing required field 'dataset'")
    extra = set(entry) - PART_FIELDS
    if extra:
        fail(sorted(extra, key=str)[0], f"unknown field(s) {sorted(map(str, extra))} (a part has {sorted(PART_FIELDS)})")
    problem = plain_name_problem(entry["dataset"])
    if problem:
        fail("dataset", f"field 'dataset': {problem}")
    split = entry.get("split", "train")
    if not isinstance(split, str) or plain_name_problem(split):
        fail("split", f"field 'split' must be a split name such as train, got {split!r}")
    upsample = _boolean(entry, "upsample", fail)
    return Part(
        dataset=entry["dataset"],
        take=_parse_take(entry.get("take", "all"), upsample, fail),
        strict=_boolean(entry, "strict", fail),
        split=split,
        upsample=upsample,
        line=part_line,
    )


# ---- one file ---------------------------------------------------------------------------------


def _check_filters(raw_filters: Any, name: str, path: Path | None, line: int | None) -> tuple[dict, ...]:
    if raw_filters is None:
        return ()
    if not isinstance(raw_filters, list):
        _fail(name, path, line, f"field 'filters' must be a list, got {type(raw_filters).__name__}")
    for i, f in enumerate(raw_filters):
        at = line_of(raw_filters, i)
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            _fail(name, path, at, f"filters[{i}]: missing required field 'name'")
        if not isinstance(f.get("params") or {}, dict):
            _fail(name, path, line_of(f, "params") or at, f"filters[{i}]: field 'params' must be a mapping")
    return tuple(raw_filters)


def _check_repeats(parts: list[Part], name: str, path: Path | None) -> None:
    """A dataset and split listed twice would give its rows (and ids) twice."""
    first: dict[tuple[str, str], Part] = {}
    for i, part in enumerate(parts):
        key = (part.dataset, part.split)
        if key in first:
            earlier = first[key]
            at = f"line {earlier.line}" if earlier.line else f"parts[{parts.index(earlier)}]"
            _fail(
                name, path, part.line,
                f"parts[{i}]: {part.dataset!r} (split {part.split}) is already a part ({at}); its rows would "
                "appear twice with the same ids: merge the two into one part (a fraction above 1.0 with "
                "'upsample: true' repeats rows on purpose)",
            )
        first[key] = part


def parse_mixture(name: str, raw: Any, path: Path | None = None) -> Mixture:
    """A mixture from its parsed YAML; errors name the file and line (when `raw` came from `load_yaml`)."""
    problem = plain_name_problem(name)
    if problem:
        _fail(str(name), path, None, f"invalid mixture name: {problem}")
    if not isinstance(raw, dict):
        _fail(name, path, line_of(raw), "must be a mapping with 'parts'")
    unknown = set(raw) - MIXTURE_FIELDS
    if unknown:
        first = sorted(unknown, key=str)[0]
        _fail(name, path, line_of(raw, first), f"unknown field(s) {sorted(map(str, unknown))}")
    for key in ("description", "license"):
        if key in raw and not isinstance(raw[key], str):
            _fail(name, path, line_of(raw, key), f"field {key!r} must be text, got {raw[key]!r}")
    parts_raw = raw.get("parts")
    if not isinstance(parts_raw, list) or not parts_raw:
        _fail(name, path, line_of(raw, "parts") or line_of(raw), "field 'parts' must be a non-empty list")
    parts = [_parse_part(entry, i, name, path, parts_raw) for i, entry in enumerate(parts_raw)]
    _check_repeats(parts, name, path)
    from .decontam.apply import parse_steps

    parse_steps(raw, _where(name, path, line_of(raw, "decontaminate") or line_of(raw, "dedup")))
    return Mixture(
        name=name,
        description=str(raw.get("description", "")),
        license=str(raw.get("license", "other")),
        parts=tuple(parts),
        filters=_check_filters(raw.get("filters"), name, path, line_of(raw, "filters")),
        path=path,
        raw=raw,
    )


def find_mixture(name: str, folder: Path | None = None, catalog: Catalog | None = None) -> Mixture | None:
    """The mixture `name`, or None if there is none.

    From `folder` when one is given (a folder of mixture files, e.g. in tests), else from the catalog's
    mixtures (default: the layered catalog, see `catalog_layers`): a file of its own, or inline in a
    catalog file.
    """
    problem = plain_name_problem(name)
    if problem:
        raise CatalogError(problem)
    if folder is not None:
        path = folder / f"{name}.yaml"
        return parse_mixture(name, load_yaml(path), path) if path.is_file() else None
    ref = (catalog or load_catalog()).mixtures.get(name)
    if ref is None:
        return None
    return parse_mixture(name, load_yaml(ref.path) if ref.inline is None else ref.inline, ref.path)


def mixture_names(folder: Path | None = None, catalog: Catalog | None = None) -> list[str]:
    """The names of the mixtures `find_mixture` knows (nothing is parsed)."""
    if folder is not None:
        return sorted(p.stem for p in folder.glob("*.yaml"))
    return sorted((catalog or load_catalog()).mixtures)


def list_mixtures(folder: Path | None = None, catalog: Catalog | None = None) -> list[Mixture]:
    names = mixture_names(folder, catalog)
    return [m for name in names if (m := find_mixture(name, folder, catalog)) is not None]


# ---- at build time ----------------------------------------------------------------------------


def max_part_rows() -> int:
    """The ceiling on rows one upsampled part may give ($TULU_DATA_MAX_PART_ROWS, default 20 million)."""
    value = os.environ.get(MAX_PART_ROWS_ENV, "")
    if not value:
        return DEFAULT_MAX_PART_ROWS
    try:
        return int(value)
    except ValueError:
        raise CatalogError(f"{MAX_PART_ROWS_ENV}={value!r} is not an integer") from None


def planned_rows(take: str | int | float, available: int) -> int:
    """How many rows a part gives (the arithmetic of `mixtures.select_part`), without selecting any."""
    if take == "all":
        return available
    if isinstance(take, int):
        return min(take, available)
    whole = math.floor(take)
    return whole * available + round((take - whole) * available)


def check_part_size(mixture: Mixture, index: int, available: int) -> None:
    """Stop before selecting when an upsampled part would give more rows than the ceiling."""
    part = mixture.parts[index]
    if not part.upsample:
        return  # a part that is not upsampled gives at most the rows its build has
    rows = planned_rows(part.take, available)
    ceiling = max_part_rows()
    if rows > ceiling:
        raise CatalogError(
            f"{mixture.where(part.line)}: parts[{index}]: take {part.take} of {part.dataset!r} "
            f"({available:,} rows) would give {rows:,} rows, above the ceiling of {ceiling:,} "
            f"(${MAX_PART_ROWS_ENV} raises it)"
        )
