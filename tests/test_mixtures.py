"""Mixture semantics: counts, caps and strict shortfalls, fractions, upsampling, seed stability, reuse."""

from __future__ import annotations

from pathlib import Path

import datasets
import polars as pl
import pytest
import yaml
from conftest import qa_rows, write_jsonl

from tulu_data.build import Builder
from tulu_data.catalog import parse_catalog
from tulu_data.errors import CatalogError, MixtureShortfallError
from tulu_data.mixtures import parse_mixture, select_part
from tulu_data.writer import read_manifest, read_splits


@pytest.fixture
def env(tmp_path: Path):
    """Two catalog datasets (30 and 12 rows) over mirrored sources, and a mixtures folder."""
    mirror = tmp_path / "mirror"
    write_jsonl(mirror / "qa" / "a.jsonl", qa_rows(30, prefix="big"))
    write_jsonl(mirror / "qa2" / "b.jsonl", qa_rows(12, prefix="small"))
    catalog = parse_catalog({
        "sources": {
            "qa": {"hub_id": "example/qa", "revision": "a" * 40, "format": "jsonl"},
            "qa2": {"hub_id": "example/qa2", "revision": "b" * 40, "format": "jsonl"},
        },
        "datasets": {
            "big": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "30 pairs.", "license": "mit",
                    "params": {"label": "big"}},
            "small": {"recipe": "_test_qa_pairs", "sources": ["qa2"], "description": "12 pairs.", "license": "mit",
                      "params": {"label": "small"}},
        },
    })
    mixdir = tmp_path / "mixtures"
    mixdir.mkdir()

    def make(name: str, parts: list[dict], **extra) -> None:
        (mixdir / f"{name}.yaml").write_text(yaml.safe_dump({"description": f"{name}.", "license": "mit", "parts": parts, **extra}))

    def build(name: str, seed: int = 42, out: str = "out") -> tuple[Builder, pl.DataFrame, dict]:
        builder = Builder(catalog=catalog, sources=str(mirror), out=tmp_path / out, seed=seed, mixtures=mixdir)
        path = builder.build(name)
        return builder, read_splits(path)["train"], read_manifest(path)

    return make, build


def _count(df: pl.DataFrame, source: str) -> int:
    return df.filter(pl.col("source") == source).height


def test_all_count_and_cap_with_shortfall_reported(env):
    make, build = env
    make("mix", [{"dataset": "big", "take": 10}, {"dataset": "small", "take": 100}])
    builder, df, manifest = build("mix")
    assert _count(df, "big") == 10 and _count(df, "small") == 12
    parts = manifest["parts"]
    assert [(p["name"], p["given"], p["available"], p["shortfall"]) for p in parts] == [
        ("big", 10, 30, False), ("small", 12, 12, True)]
    assert manifest["rows_out"] == {"train": 22}
    card = (builder.out / "mix" / "README.md").read_text()
    assert "## Mixture parts" in card and "shortfall" in card


def test_strict_shortfall_is_an_error(env):
    make, build = env
    make("strict_mix", [{"dataset": "small", "take": 13, "strict": True}])
    with pytest.raises(MixtureShortfallError, match="small.*13.*only 12"):
        build("strict_mix")


def test_sample_is_random_not_first_rows_and_seed_stable(env):
    make, build = env
    make("mix", [{"dataset": "big", "take": 10}, {"dataset": "small", "take": "all"}])
    _, a, _ = build("mix", out="a")
    _, a_again, _ = build("mix", out="a2")
    _, b, _ = build("mix", seed=7, out="b")
    assert a.equals(a_again)
    big_all = build("big", out="a")[1]  # reused build of the part
    assert set(a.filter(pl.col("source") == "big")["id"]) != set(big_all.head(10)["id"])
    # a different seed changes the sampled part only ("all" parts keep their rows)
    assert set(a.filter(pl.col("source") == "big")["id"]) != set(b.filter(pl.col("source") == "big")["id"])
    assert set(a.filter(pl.col("source") == "small")["id"]) == set(b.filter(pl.col("source") == "small")["id"])


def test_fractions_and_upsampling(env):
    make, build = env
    make("frac", [{"dataset": "big", "take": 0.5}, {"dataset": "small", "take": 2.25, "upsample": True}])
    _, df, manifest = build("frac")
    assert _count(df, "big") == 15
    small = df.filter(pl.col("source") == "small")
    assert small.height == 12 * 2 + 3
    base_ids = small["id"].str.replace(r"#\d+$", "")
    counts = base_ids.value_counts()
    assert counts["count"].max() == 3 and (counts["count"] >= 2).all()
    assert small["id"].n_unique() == small.height  # copies carry '#k' so ids stay unique
    assert [p["given"] for p in manifest["parts"]] == [15, 27]


def test_one_means_one_row_and_one_point_zero_means_all():
    df = pl.DataFrame({"id": [str(i) for i in range(8)]})
    assert select_part(df, 1, 42, "s").height == 1
    assert select_part(df, 1.0, 42, "s").height == 8
    assert select_part(df, "all", 42, "s").height == 8


def test_nested_mixture_and_part_reuse(env):
    make, build = env
    make("inner", [{"dataset": "small", "take": 5}])
    make("outer", [{"dataset": "inner", "take": "all"}, {"dataset": "big", "take": 3}])
    builder, df, manifest = build("outer")
    assert df.height == 8 and _count(df, "small") == 5
    builder2, df2, _ = build("outer")
    assert all(e.reused for e in builder2.events) and df2.equals(df)


def test_rebuilt_mixture_loads_fresh_with_datasets(env):
    make, build = env
    make("m", [{"dataset": "big", "take": 4}])
    builder, first, _ = build("m")
    path = builder.out / "m"
    assert sorted(datasets.load_dataset(str(path))["train"]["id"]) == sorted(first["id"])
    make("m", [{"dataset": "big", "take": 6}])
    _, second, _ = build("m")
    assert sorted(datasets.load_dataset(str(path))["train"]["id"]) == sorted(second["id"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"parts": []}, "field 'parts' must be a non-empty list"),
        ({"parts": [{"take": 3}]}, "parts[0]: missing required field 'dataset'"),
        ({"parts": [{"dataset": "a", "take": -1}]}, "must not be negative"),
        ({"parts": [{"dataset": "a", "take": "half"}]}, "field 'take' must be"),
        ({"parts": [{"dataset": "a", "weight": 2}]}, "unknown field(s)"),
    ],
)
def test_mixture_file_errors(raw, message):
    with pytest.raises(CatalogError) as err:
        parse_mixture("m", raw)
    assert message in str(err.value)


def test_project_mixture_files_parse():
    from tulu_data.mixtures import list_mixtures

    names = {m.name for m in list_mixtures()}
    assert {"preference_big_mixture", "uf_mean"} <= names
