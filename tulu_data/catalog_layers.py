"""One catalog namespace from several files: the built-in catalog, then the user's, layered.

Layers, in this order:

1. the built-in catalog, shipped in the package (`tulu_data/builtin/catalog.yaml`, `builtin/mixtures/`);
2. each `--catalog FILE` (repeatable);
3. a `tulu-data.yaml` in the working directory, or else in its nearest parent that has one;
4. the files listed in `$TULU_DATA_CATALOG` (separated by the platform's path separator).

A user catalog has the built-in one's format, every section optional: `sources`, `datasets`,
`collections`, `citations`, `eval_sets`, and `mixtures` (name -> a mixture, as in a mixture file). Mixture files may
also sit in a `mixtures/` folder next to it. Datasets, mixtures and collections share one namespace:
a name defined twice, in one layer or two, is an error that names both places. A source's `path:` is
relative to the file that declares it. A file given twice (e.g. `--catalog` and `tulu-data.yaml`) is
read once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .catalog import BUILTIN_DIR, Catalog, MixtureRef, parse_catalog
from .errors import CatalogError
from .yaml_lines import load_yaml

USER_FILE = "tulu-data.yaml"
CATALOG_ENV = "TULU_DATA_CATALOG"
SECTIONS = ("sources", "datasets", "collections", "citations", "eval_sets", "mixtures")
_KIND = {"datasets": "dataset", "collections": "collection", "mixtures": "mixture"}


def builtin_file() -> Path:
    return BUILTIN_DIR / "catalog.yaml"


def find_user_file(start: Path | None = None) -> Path | None:
    """`tulu-data.yaml` in `start` (default: the working directory) or its nearest parent that has one."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / USER_FILE
        if path.is_file():
            return path
    return None


def user_catalog_files(extra: list[Path], user: bool = True) -> list[Path]:
    """The user layers in order: `extra` (--catalog), then tulu-data.yaml, then $TULU_DATA_CATALOG."""
    files = list(extra)
    if user:
        found = find_user_file()
        if found is not None:
            files.append(found)
        files += [Path(p) for p in os.environ.get(CATALOG_ENV, "").split(os.pathsep) if p.strip()]
    unique: list[Path] = []
    for path in files:
        if not path.is_file():
            raise CatalogError(f"catalog file not found: {path}")
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


class _Merge:
    """Entries of every layer, with the file each came from."""

    def __init__(self) -> None:
        self.raw: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS if section != "mixtures"}
        self.mixtures: dict[str, MixtureRef] = {}
        self.origins: dict[tuple[str, str], Path] = {}  # (namespace, name) -> file

    def _claim(self, section: str, name: Any, path: Path) -> None:
        if not isinstance(name, str):
            raise CatalogError(f"{path}: {section}: entry names must be text, got {name!r}")
        space = "entries" if section in _KIND else section
        first = self.origins.get((space, name))
        if first is not None:
            kind = _KIND.get(section, section.rstrip("s"))
            raise CatalogError(f"{kind} {name!r} is defined twice: in {first} and in {path}")
        self.origins[(space, name)] = path

    def add_document(self, path: Path, doc: Any) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise CatalogError(f"{path}: the top level must be a mapping (sources, datasets, mixtures, ...)")
        unknown = sorted(set(doc) - set(SECTIONS), key=str)
        if unknown:
            raise CatalogError(f"{path}: unknown section(s) {unknown}; allowed: {list(SECTIONS)}")
        for section in SECTIONS:
            entries = doc.get(section)
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise CatalogError(f"{path}: section {section!r} must be a mapping of names to entries")
            for name, entry in entries.items():
                self._claim(section, name, path)
                if section == "mixtures":
                    self.mixtures[name] = MixtureRef(name, path, inline=entry)
                elif section == "sources":
                    self.raw[section][name] = _anchored_source(entry, path)
                else:
                    self.raw[section][name] = entry

    def add_mixture_folder(self, folder: Path) -> None:
        for file in sorted(folder.glob("*.yaml")):
            self._claim("mixtures", file.stem, file)
            self.mixtures[file.stem] = MixtureRef(file.stem, file)

    def origin(self, name: str) -> Path | None:
        return self.origins.get(("entries", name)) or self.origins.get(("sources", name))


def _anchored_source(entry: Any, path: Path) -> Any:
    """A source entry whose `path:` is made absolute, relative to the catalog file declaring it."""
    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
        local = Path(entry["path"]).expanduser()
        return {**entry, "path": str(local if local.is_absolute() else (path.parent / local).resolve())}
    return entry


def _with_file(err: CatalogError, merge: _Merge) -> CatalogError:
    """Prefix an entry's error with the file defining it ('datasets.x: ...' -> 'FILE: datasets.x: ...')."""
    message = str(err)
    head = message.split(":", 1)[0]
    section, _, name = head.partition(".")
    origin = merge.origin(name) if section in SECTIONS and name else None
    return CatalogError(f"{origin}: {message}") if origin and origin != builtin_file() else err


def load_layers(extra: list[Path], user: bool = True) -> Catalog:
    """The built-in catalog plus every user layer (see the module docstring), validated as one."""
    merge = _Merge()
    merge.add_document(builtin_file(), load_yaml(builtin_file()))
    merge.add_mixture_folder(BUILTIN_DIR / "mixtures")
    layers = user_catalog_files(extra, user)
    for path in layers:
        merge.add_document(path, load_yaml(path))
        if (path.parent / "mixtures").is_dir() and path.parent.resolve() != BUILTIN_DIR:
            merge.add_mixture_folder(path.parent / "mixtures")
    try:
        catalog = parse_catalog(merge.raw, builtin_file(), mixtures=merge.mixtures)
    except CatalogError as err:
        raise _with_file(err, merge) from None
    catalog.origins = {name: path for (_, name), path in merge.origins.items()}
    catalog.files = (builtin_file(), *layers)
    return catalog
