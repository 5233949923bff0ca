"""The generic `subsample` recipe and the *_60k datasets built with it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.errors import CatalogError
from tulu_data.registry import get_recipe


def catalog_with(name: str, **params):
    catalog = load_catalog()
    spec = catalog.datasets[name]
    catalog.datasets[name] = dataclasses.replace(spec, params={**spec.params, **params})
    return catalog


def rows(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "data" / "*.parquet")


def test_every_subsample_dataset_depends_on_what_it_samples():
    """`of` must be in depends_on, or a rebuilt parent would not invalidate the sample's fingerprint."""
    catalog = load_catalog()
    users = [s for s in catalog.datasets.values() if get_recipe(s.recipe).fn is get_recipe("subsample").fn]
    assert {s.name for s in users} >= {"hh_rlhf_60k", "nectar_60k", "stack_exchange_60k"}
    for spec in users:
        assert spec.params["of"] in spec.depends_on, spec.name
        assert spec.params["n"] == 60908 or spec.name not in {"hh_rlhf_60k", "nectar_60k", "stack_exchange_60k"}


@pytest.mark.parametrize("name, parent, n", [("hh_rlhf_60k", "hh_rlhf", 5), ("stack_exchange_60k", "stack_exchange_paired", 11)])
def test_subsample_is_a_random_subset_of_the_parent(tmp_path, name, parent, n):
    builder = Builder(catalog=catalog_with(name, n=n), sources="samples", out=tmp_path)
    sample = rows(builder.build(name))
    full = rows(tmp_path / parent)
    assert sample.height == n and sample["id"].n_unique() == n
    # every sampled row is a parent row, unchanged
    joined = sample.join(full, on="id", how="left", suffix="_parent")
    for col in ("chosen", "rejected", "source"):
        assert joined[col].to_list() == joined[f"{col}_parent"].to_list()
    # the sample is the keyed draw over ids, not the first rows
    order = ops.keyed_uniform(full["id"], 42, f"subsample:{name}")
    drawn = full.with_columns(order.alias("u")).sort(["u", "id"]).head(n)["id"].to_list()
    assert sample["id"].to_list() == drawn
    assert drawn != full["id"].head(n).to_list()
    manifest = json.loads((tmp_path / name / "manifest.json").read_text())
    assert manifest["rows_in"] == {parent: full.height}
    assert manifest["dropped"] == {f"not drawn: seeded random sample of {n:,} rows": full.height - n}


def test_subsample_larger_than_the_parent_gives_everything_and_says_so(tmp_path):
    builder = Builder(catalog=load_catalog(), sources="samples", out=tmp_path)
    sample = rows(builder.build("nectar_60k"))
    assert sorted(sample["id"]) == sorted(rows(tmp_path / "nectar")["id"])
    notes = json.loads((tmp_path / "nectar_60k" / "manifest.json").read_text())["notes"]
    assert any("fewer than the 60,908 asked for" in k for k in notes)


def test_subsample_builds_are_byte_identical_and_seed_dependent(tmp_path):
    catalog = catalog_with("hh_rlhf_60k", n=6)
    a = Builder(catalog=catalog, sources="samples", out=tmp_path / "a").build("hh_rlhf_60k")
    b = Builder(catalog=catalog, sources="samples", out=tmp_path / "b").build("hh_rlhf_60k")
    c = Builder(catalog=catalog, sources="samples", out=tmp_path / "c", seed=7).build("hh_rlhf_60k")
    assert [p.read_bytes() for p in sorted((a / "data").glob("*"))] == [p.read_bytes() for p in sorted((b / "data").glob("*"))]
    assert set(rows(a)["id"]) != set(rows(c)["id"])


@pytest.mark.parametrize(
    "params, message",
    [({"of": None}, "params.of"), ({"n": -1}, "params.n"), ({"n": "many"}, "params.n"), ({"split": "test"}, "no split 'test'")],
)
def test_bad_params_are_catalog_errors(tmp_path, params, message):
    builder = Builder(catalog=catalog_with("hh_rlhf_60k", **params), sources="samples", out=tmp_path)
    with pytest.raises(CatalogError, match=message):
        builder.build("hh_rlhf_60k")
