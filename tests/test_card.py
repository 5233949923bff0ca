"""Dataset cards written by real builds: valid Hub metadata, loadable configs, and the facts in the body."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import polars as pl
import pytest
from huggingface_hub import DatasetCard
from publish_helpers import publish_catalog, write_mirror

from tulu_data.build import Builder
from tulu_data.card import hub_license, render_card
from tulu_data.writer import read_manifest

# Independent copies of the Hub's accepted values (not the project's own list), from
# huggingface.co/docs/hub/repositories-licenses and huggingface.js packages/tasks/src/pipelines.ts.
HUB_LICENSE_IDS = set(
    ["apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "gemma", "unknown", "other"]
)
HUB_DATASET_TASKS = set(
    ["text-classification", "token-classification", "table-question-answering", "question-answering", "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation", "text2text-generation", "fill-mask", "sentence-similarity", "text-ranking", "text-retrieval", "multiple-choice", "table-to-text", "reinforcement-learning"]
)
SIZE_CATEGORIES = set(json.loads((Path(datasets.__file__).parent / "utils/resources/size_categories.json").read_text()))

RULES = ["Every pair keeps the question as the user turn.", "Answers are stripped | pipes survive in tables."]
DEPARTURES = ["We drop empty answers; the published script kept them."]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A two-split dataset, a one-split dataset with a non-Hub license, and a mixture of both."""
    tmp = tmp_path_factory.mktemp("card")
    mirror = write_mirror(tmp / "mirror")
    catalog = publish_catalog(
        {
            "two_split": {"rules": RULES, "departures": DEPARTURES, "citations": ["testcite"], "license": "cc-by-4.0"},
            "custom_lic": {"params": {"source": "pairs2"}, "license": "Custom Terms v2", "rules": ["Other rule."]},
        }
    )
    mixtures = tmp / "mixtures"
    mixtures.mkdir()
    (mixtures / "card_mix.yaml").write_text(
        "description: A test mixture.\nlicense: odc-by\nparts:\n  - dataset: two_split\n    take: 4\n  - dataset: custom_lic\n    take: all\n"
    )
    builder = Builder(catalog=catalog, sources=str(mirror), out=tmp / "out", mixtures=mixtures)
    paths = {name: builder.build(name) for name in ("two_split", "custom_lic", "card_mix")}
    return catalog, paths, tmp


def _card(path: Path) -> tuple[str, dict]:
    content = (path / "README.md").read_text()
    return content, DatasetCard(content).data.to_dict()


@pytest.mark.parametrize("name", ["two_split", "custom_lic", "card_mix"])
def test_card_header_is_valid_hub_metadata(built, name):
    _, paths, _ = built
    content, meta = _card(paths[name])
    assert content.startswith("---\n")
    assert meta["license"] in HUB_LICENSE_IDS
    if meta["license"] == "other":
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", meta["license_name"])
    assert meta["size_categories"] and set(meta["size_categories"]) <= SIZE_CATEGORIES
    assert meta["task_categories"] and set(meta["task_categories"]) <= HUB_DATASET_TASKS
    assert meta["language"] == ["en"] and meta["pretty_name"] == name
    manifest = read_manifest(paths[name])
    total = sum(manifest["rows_out"].values())
    assert meta["size_categories"] == ["n<1K"] and total < 1000
    config = meta["configs"][0]
    assert config["config_name"] == "default"
    assert {d["split"] for d in config["data_files"]} == set(manifest["splits"])


@pytest.mark.parametrize("name", ["two_split", "custom_lic", "card_mix"])
def test_card_configs_load_every_split(built, name):
    _, paths, tmp = built
    manifest = read_manifest(paths[name])
    loaded = datasets.load_dataset(str(paths[name]), cache_dir=str(tmp / "hf-cache"))
    assert set(loaded) == set(manifest["splits"])
    for split, info in manifest["splits"].items():
        ids = set(pl.concat([pl.read_parquet(paths[name] / f) for f in info["files"]])["id"])
        assert loaded[split].num_rows == manifest["rows_out"][split] == len(ids)
        assert set(loaded[split]["id"]) == ids


def test_license_outside_the_hub_list_becomes_other_with_a_name(built):
    _, paths, _ = built
    _, meta = _card(paths["custom_lic"])
    assert meta["license"] == "other" and meta["license_name"] == "custom-terms-v2"
    assert hub_license("MIT") == ("mit", None)
    assert hub_license("cc-by-4.0 (user prompts); model outputs under their terms")[0] == "other"


def test_card_body_states_rules_departures_sources_counts_and_citation(built):
    catalog, paths, _ = built
    content, _ = _card(paths["two_split"])
    manifest = read_manifest(paths["two_split"])
    for rule in RULES:
        assert f"- {rule}" in content
    for departure in DEPARTURES:
        assert f"- {departure}" in content
    # the upstream source: link, full pinned revision, where it was read from, its license and homepage
    assert "[example/pairs](https://huggingface.co/datasets/example/pairs)" in content
    assert f"https://huggingface.co/datasets/example/pairs/tree/{'a' * 40}" in content
    assert "| mirror |" in content and "| cc-by-4.0 |" in content and "https://example.org/pairs" in content
    # counts in and out, and every drop reason with its count (table cells escape '|')
    assert manifest["dropped"], "the mirror has an empty answer, which must be dropped"
    rows_in, dropped, rows_out = sum(manifest["rows_in"].values()), sum(manifest["dropped"].values()), sum(manifest["rows_out"].values())
    assert rows_in == 12 and rows_out == 11 and dropped == 1
    assert f"{rows_out:,} rows written." in content
    for source, n in manifest["rows_in"].items():
        assert f"| {source} | {n:,} |" in content
    for reason, n in manifest["dropped"].items():
        assert f"| {reason} | {n:,} |" in content
    for split, n in manifest["rows_out"].items():
        assert f"| {split} | {n:,} |" in content
    assert "load_dataset(" in content and manifest["content_hash"] in content
    assert catalog.citations["testcite"] in content
    assert "Built from the small synthetic samples" not in content


def test_mixture_card_lists_parts_and_how_each_part_was_built(built):
    catalog, paths, _ = built
    content, meta = _card(paths["card_mix"])
    manifest = read_manifest(paths["card_mix"])
    assert "## Mixture parts" in content
    for part in manifest["parts"]:
        assert f"| {part['name']} | {part['requested']} | {part['given']:,} | {part['available']:,} |" in content
        assert f"### {part['name']}" in content
        for rule in catalog.datasets[part["name"]].rules:
            assert f"- {rule}" in content
    assert [p["given"] for p in manifest["parts"]] == [4, 5]
    assert meta["license"] == "odc-by"
    assert catalog.citations["testcite"] in content  # cited by a part
    # both parts' sources appear once each
    assert content.count("[example/pairs](") == 1 and content.count("[example/pairs2](") == 1
    assert "`main` (not pinned to a commit)" in content


def test_card_warns_when_built_from_bundled_samples(built):
    catalog, paths, _ = built
    manifest = read_manifest(paths["two_split"])
    from_samples = dict(manifest, sources=[dict(s, mode="samples") for s in manifest["sources"]])
    assert "Built from the small synthetic samples" in render_card(from_samples, catalog)
    with_repo = dict(manifest, hub_repo_id="my-org/two-split")
    assert 'load_dataset("my-org/two-split")' in render_card(with_repo, catalog)


@pytest.fixture(scope="module")
def real_builds(tmp_path_factory):
    from tulu_data.build import build

    out = tmp_path_factory.mktemp("real")
    build("preference_big_mixture", sources="samples", out=out)
    return out


@pytest.mark.parametrize("name", ["ultrafeedback_mean_aspects", "preference_big_mixture"])
def test_real_cards_are_valid_and_load(real_builds, name, tmp_path):
    from tulu_data.catalog import load_catalog

    path = real_builds / name
    content, meta = _card(path)
    manifest = read_manifest(path)
    assert meta["license"] in HUB_LICENSE_IDS and set(meta["size_categories"]) <= SIZE_CATEGORIES
    assert set(meta["task_categories"]) <= HUB_DATASET_TASKS
    assert "Built from the small synthetic samples" in content
    loaded = datasets.load_dataset(str(path), cache_dir=str(tmp_path / "cache"))
    assert {s: loaded[s].num_rows for s in loaded} == manifest["rows_out"]
    spec = load_catalog().datasets.get(name)
    for rule in spec.rules if spec else []:
        assert f"- {rule}" in content
    for reason, n in manifest["dropped"].items():
        assert f"| {reason.replace('|', chr(92) + '|')} | {n:,} |" in content
