"""Names users type: plain file names only, and a did-you-mean when one is unknown."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# The rule catalog entries follow: one path component, no leading dot, no separators.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def plain_name_problem(name: object) -> str | None:
    """Why `name` cannot name a dataset, mixture or build folder, or None when it can."""
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a name (expected text such as uf_mean)"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"{name!r} is a path, not a name: names are plain file names (letters, digits, '_', '-', '.')"
    if not PLAIN_NAME.match(name):
        return f"{name!r} is not a plain name: use letters, digits, '_', '-' and '.', starting with a letter or digit"
    return None


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name` (case does not count), or None when nothing is close."""
    by_lower: dict[str, str] = {}
    for candidate in sorted(set(candidates)):
        by_lower.setdefault(candidate.lower(), candidate)
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when nothing is close."""
    match = closest(name, candidates)
    return f" (did you mean {match!r}?)" if match else ""
