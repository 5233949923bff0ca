"""The engine: catalog validation, sources, keyed randomness, builds (layout, provenance, reuse, atomicity)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import numpy as np
import polars as pl
import pytest
import yaml
from conftest import qa_rows, write_jsonl
from typer.testing import CliRunner

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.catalog import load_catalog, parse_catalog
from tulu_data.cli import app
from tulu_data.errors import CatalogError, SourceError, SourceFormatError
from tulu_data.registry import recipe

# ---- catalog ------------------------------------------------------------------------------------


def _raw_catalog() -> dict:
    return {
        "sources": {"qa": {"hub_id": "example/qa", "revision": "abc", "format": "jsonl"}},
        "datasets": {"d": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "x", "license": "mit"}},
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["sources"]["qa"].pop("revision"), "sources.qa: missing required field 'revision'"),
        (lambda r: r["sources"]["qa"].update(format="xml"), "sources.qa: field 'format' must be one of"),
        (lambda r: r["datasets"]["d"].pop("recipe"), "datasets.d: missing required field 'recipe'"),
        (lambda r: r["datasets"]["d"].update(recipe="nope"), "datasets.d: field 'recipe' names unknown recipe 'nope'"),
        (lambda r: r["datasets"]["d"].update(sources=["zz"]), "datasets.d: field 'sources' names unknown source 'zz'"),
        (lambda r: r["datasets"]["d"].update(params=[1]), "datasets.d: field 'params' must be dict"),
        (lambda r: r["datasets"]["d"].update(colour="red"), "datasets.d: unknown field(s) 'colour'"),
        (lambda r: r["datasets"]["d"].update(depends_on=["zz"]), "datasets.d: field 'depends_on' names unknown dataset 'zz'"),
    ],
)
def test_catalog_errors_name_entry_and_field(mutate, message):
    raw = _raw_catalog()
    mutate(raw)
    with pytest.raises(CatalogError) as err:
        parse_catalog(raw)
    assert message in str(err.value)


def test_project_catalog_is_valid_and_every_source_has_samples():
    catalog = load_catalog()
    from tulu_data.sources import SAMPLES_DIR

    for key in catalog.sources:
        assert (SAMPLES_DIR / key).is_dir(), f"source {key} has no bundled samples"


# ---- keyed randomness -----------------------------------------------------------------------------


def test_stable_hash_is_fixed_and_order_independent():
    keys = pl.Series([f"row {i}" for i in range(1000)] + ["", "ünïcode ✓"])
    hashes = ops.stable_hash64(keys)
    assert len(set(hashes.tolist())) == len(keys)
    perm = np.random.default_rng(0).permutation(len(keys))
    assert (ops.stable_hash64(keys[perm]) == hashes[perm]).all()
    # pinned values: a change here would silently change every sample and shuffle ever built
    assert ops.hex_ids(ops.stable_hash64(pl.Series(["a", "hello world"]))).to_list() == ["3c61a43bfc4437e5", "4677b9f413b0cfb9"]


def test_keyed_uniform_depends_on_seed_and_salt_and_is_uniform():
    keys = pl.Series([str(i) for i in range(20000)])
    u = ops.keyed_uniform(keys, 42, "a").to_numpy()
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    assert not np.allclose(u, ops.keyed_uniform(keys, 43, "a").to_numpy())
    assert not np.allclose(u, ops.keyed_uniform(keys, 42, "b").to_numpy())
    assert np.array_equal(u, ops.keyed_uniform(keys, 42, "a").to_numpy())


def test_take_random_is_a_sample_not_the_first_rows():
    df = pl.DataFrame({"id": [f"{i:05d}" for i in range(1000)]})
    sample = ops.take_random(df, 100, seed=42)
    assert sample.height == 100
    assert sample["id"].to_list() != df["id"].head(100).to_list()
    assert ops.take_random(df.reverse(), 100, seed=42)["id"].to_list() == sample["id"].to_list()


# ---- builds ---------------------------------------------------------------------------------------


def _builder(catalog, mirror, out, **kw) -> Builder:
    return Builder(catalog=catalog, sources=str(mirror), out=out, **kw)


def _parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


def test_build_writes_hub_layout_with_provenance(qa_catalog, qa_mirror, tmp_path):
    path = _builder(qa_catalog, qa_mirror, tmp_path / "out").build("qa_small")
    assert (path / "data" / "train-00000-of-00001.parquet").exists()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["rows_in"] == {"qa": 21}
    assert manifest["rows_out"] == {"train": 20}
    assert manifest["dropped"] == {"chosen: empty message": 1}
    (example,) = manifest["drop_examples"]["chosen: empty message"]
    assert example["chosen"][0]["content"] == "empty answer?"
    assert manifest["recipe"] == {"name": "_test_qa_pairs", "version": "1", "params": {"label": "qa_small"}}
    (src,) = manifest["sources"]
    assert src["revision"] == "0" * 40 and src["mode"] == "mirror"
    assert [f["path"] for f in src["files"]] == ["part-0.jsonl", "part-1.jsonl"]
    assert all(len(f["sha256"]) == 64 for f in src["files"])
    ds = datasets.load_dataset(str(path))
    assert list(ds) == ["train"] and ds["train"].num_rows == 20
    row = ds["train"][0]
    assert row["chosen"][0]["role"] == "user" and row["chosen"][-1]["content"].startswith("good answer")
    assert row["chosen"][-1]["content"] == row["chosen"][-1]["content"].strip()
    card = (path / "README.md").read_text()
    assert card.startswith("---\n") and "data/train-*" in card


def test_two_builds_are_byte_identical_and_independent_of_row_order(qa_catalog, qa_mirror, tmp_path):
    first = _builder(qa_catalog, qa_mirror, tmp_path / "a").build("qa_capped")
    second = _builder(qa_catalog, qa_mirror, tmp_path / "b").build("qa_capped")
    assert _parquet_bytes(first) == _parquet_bytes(second)

    rows = qa_rows(20) + [{"question": "empty answer?", "good": "   ", "bad": "x"}]
    random.Random(7).shuffle(rows)
    shuffled = tmp_path / "shuffled"
    write_jsonl(shuffled / "qa" / "all-in-one.jsonl", rows)
    third = _builder(qa_catalog, shuffled, tmp_path / "c").build("qa_capped")
    assert _parquet_bytes(third) == _parquet_bytes(first)
    manifest = json.loads((third / "manifest.json").read_text())
    assert manifest["dropped"]["over the 5-row cap (seeded shuffle)"] == 15


def test_seed_changes_the_sample(qa_catalog, qa_mirror, tmp_path):
    a = datasets.load_dataset(str(_builder(qa_catalog, qa_mirror, tmp_path / "a").build("qa_capped")))
    b = datasets.load_dataset(str(_builder(qa_catalog, qa_mirror, tmp_path / "b", seed=1).build("qa_capped")))
    assert set(a["train"]["id"]) != set(b["train"]["id"])


def test_matching_build_is_reused_and_changes_rebuild(qa_catalog, qa_mirror, tmp_path):
    out = tmp_path / "out"
    b1 = _builder(qa_catalog, qa_mirror, out)
    b1.build("qa_small")
    assert [e.reused for e in b1.events] == [False]
    b2 = _builder(qa_catalog, qa_mirror, out)
    b2.build("qa_small")
    assert [e.reused for e in b2.events] == [True]
    # an upstream file changes -> rebuild
    write_jsonl(qa_mirror / "qa" / "part-2.jsonl", qa_rows(3, prefix="new"))
    b3 = _builder(qa_catalog, qa_mirror, out)
    b3.build("qa_small")
    assert [e.reused for e in b3.events] == [False]
    assert b3.events[0].manifest["rows_out"] == {"train": 23}
    # a parameter changes -> rebuild
    raw = {"sources": {k: {"hub_id": v.hub_id, "revision": v.revision, "format": v.format} for k, v in qa_catalog.sources.items()},
           "datasets": {"qa_small": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "x", "license": "mit",
                                     "params": {"label": "renamed"}}}}
    b4 = _builder(parse_catalog(raw), qa_mirror, out)
    b4.build("qa_small")
    assert [e.reused for e in b4.events] == [False]


@recipe("_test_fails_midway", version="1", kind="preference")
def _fails_midway(ctx):
    ctx.frame("qa", fields={"question": pl.String})
    raise RuntimeError("interrupted")


def test_interrupted_build_leaves_previous_output_intact(qa_catalog, qa_mirror, tmp_path):
    out = tmp_path / "out"
    path = _builder(qa_catalog, qa_mirror, out).build("qa_small")
    before = _parquet_bytes(path)
    raw = yaml.safe_load(yaml.safe_dump({
        "sources": {"qa": {"hub_id": "example/qa", "revision": "0" * 40, "format": "jsonl"}},
        "datasets": {"qa_small": {"recipe": "_test_fails_midway", "sources": ["qa"], "description": "x", "license": "mit"}},
    }))
    with pytest.raises(RuntimeError, match="interrupted"):
        _builder(parse_catalog(raw), qa_mirror, out).build("qa_small")
    assert _parquet_bytes(path) == before
    assert sorted(p.name for p in out.iterdir()) == ["qa_small"]  # no temporary folder left behind


def test_writer_failure_during_write_leaves_nothing(qa_catalog, qa_mirror, tmp_path, monkeypatch):
    import tulu_data.writer as writer

    def broken_card(manifest):
        raise OSError("disk full")

    monkeypatch.setattr("tulu_data.build.render_card", lambda m, c: broken_card(m))
    with pytest.raises(OSError):
        _builder(qa_catalog, qa_mirror, tmp_path / "out").build("qa_small")
    assert not any((tmp_path / "out").iterdir())
    assert writer  # the real writer ran up to the failure


# ---- sources --------------------------------------------------------------------------------------


def test_missing_field_names_file_and_field(qa_catalog, tmp_path):
    write_jsonl(tmp_path / "m" / "qa" / "broken.jsonl", [{"question": "q", "good": "g"}])
    with pytest.raises(SourceFormatError) as err:
        _builder(qa_catalog, tmp_path / "m", tmp_path / "out").build("qa_small")
    assert "broken.jsonl" in str(err.value) and "'bad'" in str(err.value)


def test_unreadable_file_names_file(qa_catalog, tmp_path):
    (tmp_path / "m" / "qa").mkdir(parents=True)
    (tmp_path / "m" / "qa" / "garbage.jsonl").write_text('{"question": "q", "good": \n')
    with pytest.raises(SourceFormatError, match="garbage.jsonl"):
        _builder(qa_catalog, tmp_path / "m", tmp_path / "out").build("qa_small")


def test_json_array_and_parquet_mirrors_read_the_same(qa_catalog, tmp_path):
    rows = qa_rows(8)
    (tmp_path / "j" / "qa").mkdir(parents=True)
    (tmp_path / "j" / "qa" / "data.json").write_text(json.dumps(rows))
    (tmp_path / "p" / "qa").mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(tmp_path / "p" / "qa" / "train-00000-of-00001.parquet")
    a = _builder(qa_catalog, tmp_path / "j", tmp_path / "oa").build("qa_small")
    b = _builder(qa_catalog, tmp_path / "p", tmp_path / "ob").build("qa_small")
    assert _parquet_bytes(a) == _parquet_bytes(b)


def test_missing_mirror_folder_says_where_to_put_files(qa_catalog, tmp_path):
    with pytest.raises(SourceError, match=r"mirror folder .*qa does not exist"):
        _builder(qa_catalog, tmp_path / "nowhere", tmp_path / "out").build("qa_small")


def test_hub_offline_error_names_the_other_options(qa_catalog, tmp_path, monkeypatch):
    monkeypatch.setattr("tulu_data.sources.hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(SourceError) as err:
        Builder(catalog=qa_catalog, sources="hub", out=tmp_path / "out").build("qa_small")
    text = str(err.value)
    assert "not reachable" in text and "--sources samples" in text and "--sources DIR" in text


# ---- CLI ------------------------------------------------------------------------------------------


def test_cli_build_and_error_without_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["build", "no_such_dataset", "--sources", "samples", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "neither a catalog dataset, a mixture nor a collection" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    help_text = runner.invoke(app, ["build", "--help"]).output
    assert "--sources" in help_text and "samples" in help_text


def test_card_features_match_what_datasets_writes():
    import pyarrow as pa
    from datasets import DatasetInfo, Features

    from tulu_data.writer import features_yaml, to_arrow

    frames = [pl.DataFrame(schema=schema) for schema in ops.SCHEMAS.values()]
    frames.append(pl.DataFrame({"n": [1], "ok": [True], "tags": [["a"]], "nested": [[["x"]]], "st": [{"a": 1}]}))
    for df in frames:
        table = to_arrow(df)
        expected = DatasetInfo(features=Features.from_arrow_schema(table.schema))._to_yaml_dict()["features"]
        assert features_yaml(table) == expected
    odd = pa.table({"t": pa.array([1], pa.timestamp("s"))})  # not written by recipes: handed to datasets
    assert features_yaml(odd)[0]["name"] == "t"


def test_large_file_hashes_are_remembered_on_disk_and_invalidated_by_changes(tmp_path, monkeypatch):
    import hashlib

    from tulu_data import sources

    monkeypatch.setenv("TULU_DATA_HASH_CACHE", str(tmp_path / "hashes.json"))
    monkeypatch.setattr(sources, "_HASH_CACHE", {})
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"a": 1}\n' * 200_000)
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    assert sources.file_sha256(big) == expected
    assert list(json.loads((tmp_path / "hashes.json").read_text()).values()) == [expected]
    monkeypatch.setattr(sources, "_HASH_CACHE", {})  # a new process: served from disk
    assert sources.file_sha256(big) == expected
    big.write_bytes(b'{"a": 2}\n' * 200_000)  # same size, new content and mtime -> hashed again
    assert sources.file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest() != expected


def test_rebuild_in_place_is_not_served_from_a_stale_datasets_cache(qa_catalog, tmp_path):
    """Same folder, same row count and byte sizes, other rows: load_dataset must see the new rows."""
    rows = [{"question": f"question {i:03d}?", "good": f"good {i:03d}", "bad": f"bad {i:03d}"} for i in range(40)]
    write_jsonl(tmp_path / "mirror" / "qa" / "rows.jsonl", rows)
    out = tmp_path / "out"
    for seed in (42, 1, 2, 3):
        path = _builder(qa_catalog, tmp_path / "mirror", out, seed=seed).build("qa_capped")
        expected = pl.read_parquet(path / "data" / "train-00000-of-00001.parquet")["id"].to_list()
        assert datasets.load_dataset(str(path))["train"]["id"] == expected


@pytest.mark.parametrize("width", [80, 140])
def test_cli_list_shows_every_dataset_and_mixture_once_and_fits(monkeypatch, width):
    """Narrow: one cut line per entry. Wide: the whole description, wrapped under its entry."""
    from tulu_data import cli_common
    from tulu_data.mixtures import list_mixtures

    monkeypatch.setattr(cli_common.console, "width", width)
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name in [*load_catalog().datasets, *(m.name for m in list_mixtures())]:
        assert sum(line.startswith(f"│ {name} ") for line in lines) == 1, name
    assert max(map(len, lines)) <= width
    description = load_catalog().datasets["helpsteer"].description
    last_words = " ".join(description.split()[-2:])
    text = " ".join(line.strip("│ ").replace("│", " ") for line in lines)
    assert (last_words in " ".join(text.split())) == (width >= 120)
