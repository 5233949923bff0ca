"""Helpers for the generic recipe tests: a one-dataset catalog written as YAML over a local jsonl file,
a build from a mirror folder, and the built rows read back (with polars and with `datasets`)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.catalog import Catalog, parse_catalog
from tulu_data.writer import read_manifest, read_splits

DATASET = "my_data"


def catalog_yaml(recipe: str, params: dict[str, Any] | None = None) -> str:
    """The YAML a user would write: one jsonl source (placeholder Hub id for now) and one dataset."""
    entry: dict[str, Any] = {"recipe": recipe, "sources": ["my_source"], "description": "Test data.", "license": "mit"}
    if params is not None:
        entry["params"] = params
    source = {"hub_id": "example/my-source", "revision": "0" * 40, "format": "jsonl", "data_files": ["data.jsonl"]}
    return yaml.safe_dump({"sources": {"my_source": source}, "datasets": {DATASET: entry}}, sort_keys=False)


def catalog(recipe: str, params: dict[str, Any] | None = None) -> Catalog:
    return parse_catalog(yaml.safe_load(catalog_yaml(recipe, params)))


def write_rows(mirror: Path, rows: list[Any]) -> None:
    """The source file, one JSON value per line (rows need not be objects: a test may write anything)."""
    folder = mirror / "my_source"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def build(tmp: Path, recipe: str, rows: list[Any], params: dict[str, Any] | None = None, seed: int = 42) -> Path:
    """Build the dataset from `rows` in a fresh mirror under `tmp`; returns the build folder."""
    write_rows(tmp / "mirror", rows)
    builder = Builder(catalog=catalog(recipe, params), sources=str(tmp / "mirror"), out=tmp / "out", seed=seed, force=True)
    return builder.build(DATASET)


def shuffled(rows: list[Any], seed: int = 7) -> list[Any]:
    copy = list(rows)
    random.Random(seed).shuffle(copy)
    return copy[::-1] if copy == rows else copy


def data_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


def frame(folder: Path) -> pl.DataFrame:
    return read_splits(folder)["train"]


def dropped(folder: Path) -> dict[str, int]:
    return (read_manifest(folder) or {})["dropped"]


def conversations(folder: Path) -> list[list[tuple[str, str]]]:
    """Each row's messages as (role, content) pairs, sorted (row order is a keyed shuffle)."""
    return sorted([(m["role"], m["content"]) for m in msgs] for msgs in frame(folder)["messages"].to_list())


def assert_loads_with_datasets(folder: Path, kind: str, cache: Path) -> None:
    """`datasets.load_dataset` reads the build; columns and types are the project's row format."""
    import datasets

    schema = ops.SCHEMAS[kind]
    df = frame(folder)
    assert dict(df.schema) == schema
    loaded = datasets.load_dataset(str(folder), cache_dir=str(cache))["train"]
    assert loaded.column_names == list(schema)
    assert loaded.num_rows == df.height
    assert loaded.to_list() == df.to_dicts()
