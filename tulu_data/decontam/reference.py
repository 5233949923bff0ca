"""A plain-Python, one-row-at-a-time n-gram scan (the open-r1 way), kept as a reference.

It applies the same rule as `index.py` (same tokens, same coverage), so the two must find exactly the
same (row, instance) pairs; tests check that, and `bench/bench_decontam.py` times one against the other.
"""

from __future__ import annotations

from collections import defaultdict

from .text import py_tokens


def build_reference(instances: list[tuple[str, str, str]], n: int) -> tuple[dict, list[int]]:
    """n-gram tuple -> [(instance position, start)], and each instance's token count."""
    postings: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
    sizes = []
    for i, (_, _, text) in enumerate(instances):
        toks = py_tokens(text)
        sizes.append(len(toks))
        for s in range(len(toks) - n + 1):
            postings[tuple(toks[s : s + n])].append((i, s))
    return dict(postings), sizes


def reference_matches(
    rows: list[list[str]], instances: list[tuple[str, str, str]], n: int, threshold: float
) -> dict[tuple[int, int], float]:
    """{(row position, instance position): coverage} for pairs whose coverage exceeds `threshold`.

    `rows`: each training row's texts (its turns); `instances`: (eval, instance id, text).
    """
    postings, sizes = build_reference(instances, n)
    found: dict[tuple[int, int], float] = {}
    for r, turns in enumerate(rows):
        covered: dict[int, set[int]] = defaultdict(set)
        for text in turns:
            toks = py_tokens(text)
            for s in range(len(toks) - n + 1):
                for inst, start in postings.get(tuple(toks[s : s + n]), ()):
                    covered[inst].update(range(start, start + n))
        for inst, positions in covered.items():
            share = len(positions) / sizes[inst]
            if share > threshold:
                found[(r, inst)] = share
    return found
