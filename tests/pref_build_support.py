"""Test support for the Tulu 2.5 preference recipes: builds through the real Builder, raw sample rows, shuffled mirrors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.sources import SAMPLES_DIR
from tulu_data.writer import read_manifest, read_splits


def build(out: Path, name: str, sources: str = "samples") -> tuple[pl.DataFrame, dict, Path]:
    """Build catalog dataset `name` into `out`; returns its train split, manifest and folder."""
    folder = Builder(catalog=load_catalog(), sources=sources, out=out, force=True).build(name)
    return read_splits(folder)["train"], read_manifest(folder), folder


def data_bytes(folder: Path) -> dict[str, bytes]:
    """Every data file of a build, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted((folder / "data").rglob("*.parquet"))}


def sample_files(key: str, root: Path = SAMPLES_DIR) -> list[Path]:
    return sorted(p for p in (root / key).rglob("*") if p.is_file())


def _text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()


def raw_rows(key: str, root: Path = SAMPLES_DIR) -> list[dict]:
    """The rows of source `key` (samples, or a mirror under `root`), read with the standard library and pyarrow."""
    rows: list[dict] = []
    for path in sample_files(key, root):
        name = path.name.removesuffix(".gz")
        if name.endswith(".parquet"):
            rows += pq.read_table(path).to_pylist()
        elif name.endswith(".jsonl"):
            rows += [json.loads(line) for line in _text(path).splitlines() if line.strip()]
        elif name.endswith(".json"):
            rows += json.loads(_text(path))
        elif name.endswith(".csv"):
            rows += list(csv.DictReader(io.StringIO(_text(path))))
    return rows


def shuffled_mirror(root: Path, key: str, seed: int = 7) -> Path:
    """A mirror folder holding source `key`'s sample files with their rows in another order (same names, formats)."""
    target = root / key
    for path in sample_files(key):
        out = target / path.relative_to(SAMPLES_DIR / key)
        out.parent.mkdir(parents=True, exist_ok=True)
        name = path.name.removesuffix(".gz")
        rng = random.Random(seed)
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            order = list(range(table.num_rows))
            rng.shuffle(order)
            pq.write_table(table.take(order), out)
            continue
        text = _text(path)
        if name.endswith(".jsonl"):
            lines = text.splitlines(keepends=True)
            rng.shuffle(lines)
            text = "".join(lines)
        elif name.endswith(".json"):
            records = json.loads(text)
            rng.shuffle(records)
            text = json.dumps(records)
        elif name.endswith(".csv"):
            header, *records = list(csv.reader(io.StringIO(text)))
            rng.shuffle(records)
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([header, *records])
            text = buf.getvalue()
        else:
            shutil.copyfile(path, out)
            continue
        out.write_bytes(gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode())
    return root


ROLES = {"system", "user", "assistant"}


def valid_pair(chosen: list[dict] | None, rejected: list[dict] | None) -> bool:
    """The common rules plus 'answers differ', written out on plain Python lists of messages."""
    if not chosen or not rejected:
        return False
    for conv in (chosen, rejected):
        if any(m.get("role") not in ROLES or not (m.get("content") or "").strip() for m in conv):
            return False
        if conv[-1]["role"] != "assistant":
            return False
    strip = [[(m["role"], m["content"].strip()) for m in conv] for conv in (chosen, rejected)]
    return strip[0][:-1] == strip[1][:-1] and strip[0][-1] != strip[1][-1]


def stripped(conv: list[dict]) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"].strip()) for m in conv)


def turns(conversation: list[dict]) -> tuple[tuple[str, str], ...]:
    """A conversation as a hashable tuple of (role, content)."""
    return tuple((m["role"], m["content"]) for m in conversation)


def assert_rebuild_identical_and_order_free(tmp_path: Path, name: str, key: str) -> None:
    """Two builds give byte-identical data files, and so does a mirror with the input rows shuffled."""
    _, manifest_a, first = build(tmp_path / "a", name)
    _, manifest_b, second = build(tmp_path / "b", name)
    assert data_bytes(first) == data_bytes(second)
    assert manifest_a["content_hash"] == manifest_b["content_hash"]
    mirror = shuffled_mirror(tmp_path / "mirror", key)
    original, moved = raw_rows(key), raw_rows(key, mirror)
    assert moved != original and sorted(map(repr, moved)) == sorted(map(repr, original))  # same rows, new order
    _, manifest_c, shuffled = build(tmp_path / "c", name, sources=str(mirror))
    assert data_bytes(shuffled) == data_bytes(first)
    assert manifest_c["dropped"] == manifest_a["dropped"]
