"""YAML read with line numbers, so that an error can say where in the file it is.

`load_yaml(path)` returns plain dicts and lists (subclasses) that remember the 1-based line of each
mapping, each key's value and each list item. Duplicate keys, which PyYAML silently resolves to the
last one, are an error here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import CatalogError


class LineDict(dict):
    """A mapping from YAML: `line` is where it starts, `lines[key]` where the key's value is."""

    line: int | None = None
    lines: dict[Any, int]


class LineList(list):
    """A sequence from YAML: `lines[i]` is where item i starts."""

    line: int | None = None
    lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences keep their source lines."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # keys merged in with `<<: *anchor` come first; the mapping's own may override them
    merged = len(node.value) - own
    out = LineDict()
    out.line, out.lines = node.start_mark.line + 1, {}
    written_here: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            seen = key in written_here
        except TypeError:
            raise CatalogError(f"line {line}: a key must be plain text, got {key!r}") from None
        if seen:
            raise CatalogError(f"line {line}: key {key!r} appears twice in one mapping (first on line {out.lines[key]})")
        if index >= merged:
            written_here.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = value_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """The YAML document in `path`, with line numbers; errors name the file (and line when known)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogError(f"{path}: cannot be read: {err}") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except CatalogError as err:
        raise CatalogError(f"{path}, {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CatalogError(f"{where}: not valid YAML: {problem}") from None


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of `container[key]` (or of the container itself), when it came from `load_yaml`."""
    if key is None:
        return getattr(container, "line", None)
    lines = getattr(container, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key)
    if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
        return lines[key]
    return None
