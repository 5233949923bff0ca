"""The Tulu v2 SFT mixture built from the samples: the model-name filter row by row, reproducible bytes,
independence from input order, and what a different seed may change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from sft_support import (
    MODEL_NAMES,
    SAMPLES_TOKENIZER,
    SFT_DATASETS,
    builder,
    catalog_with,
    manifest,
    rows,
    shuffled_mirror,
)

from tulu_data.mixtures import build_mixture, find_mixture, parse_mixture

MIXTURE = "tulu_v2_sft_mixture"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mix")
    builder(out).build(MIXTURE)
    return out


def mentions_a_model(messages: list[dict]) -> bool:
    return any(name.lower() in (m["content"] or "").lower() for m in messages for name in MODEL_NAMES)


def test_mixture_file_lists_the_published_counts_and_filter():
    mixture = find_mixture(MIXTURE)
    assert [p.dataset for p in mixture.parts] == list(SFT_DATASETS)
    assert sum(p.take for p in mixture.parts) == 330_490
    (f,) = mixture.filters
    assert f["name"] == "model_name_filter" and tuple(f["params"]["strings"]) == MODEL_NAMES
    assert f["params"]["exempt"] == ["hard_coded"]


def test_filter_drops_exactly_the_rows_naming_a_model_never_hard_coded(built: Path):
    mixed = rows(built / MIXTURE)
    kept = set(mixed["id"])
    assert mixed["id"].n_unique() == mixed.height
    expected_drops: Counter = Counter()
    for name in SFT_DATASETS:
        part = rows(built / name)  # every part is under its cap with the samples, so all rows enter the mix
        for dataset, row_id, messages in part.select("dataset", "id", "messages").iter_rows():
            hit = mentions_a_model(messages)
            if dataset == "hard_coded" or not hit:
                assert row_id in kept, (dataset, row_id)
            else:
                assert row_id not in kept, (dataset, row_id)
                expected_drops[f"model name filter: {dataset}"] += 1
    assert sum(rows(built / n).height for n in SFT_DATASETS) == mixed.height + sum(expected_drops.values())
    assert manifest(built / MIXTURE)["dropped"] == dict(expected_drops)
    assert len(expected_drops) >= 8, "the samples put a model name in most sources"
    hard_coded = [m for d, m in zip(mixed["dataset"], mixed["messages"].to_list(), strict=True) if d == "hard_coded"]
    assert len(hard_coded) == 140 and any(mentions_a_model(m) for m in hard_coded)


def test_filter_is_case_insensitive_and_matches_inside_words(built: Path):
    dropped = {
        m[0]["content"] + m[1]["content"]
        for n in SFT_DATASETS
        for m in rows(built / n)["messages"].to_list()
    } - {m[0]["content"] + m[1]["content"] for m in rows(built / MIXTURE)["messages"].to_list()}
    assert any("napalm" in t for t in dropped) and any("bombarded" in t for t in dropped)
    assert any("gpt4" in t for t in dropped)  # lower case in the text, "GPT4" in the list


def test_two_builds_are_byte_identical(built: Path, tmp_path: Path):
    again = builder(tmp_path).build(MIXTURE)
    for name in (*SFT_DATASETS, MIXTURE):
        first, second = built / name, tmp_path / name
        assert manifest(first)["content_hash"] == manifest(second)["content_hash"], name
        for rel in manifest(first)["splits"]["train"]["files"]:
            assert (first / rel).read_bytes() == (second / rel).read_bytes()
    assert again == tmp_path / MIXTURE


def test_shuffled_input_gives_the_identical_mixture(built: Path, tmp_path: Path):
    mirror = shuffled_mirror(tmp_path / "mirror")
    catalog = catalog_with({"sharegpt": {"tokenizer": str(SAMPLES_TOKENIZER)}})  # the tokenizer the samples build used
    builder(tmp_path / "out", sources=str(mirror), catalog=catalog).build(MIXTURE)
    for name in (*SFT_DATASETS, MIXTURE):
        assert manifest(tmp_path / "out" / name)["content_hash"] == manifest(built / name)["content_hash"], name


def small_mixture() -> tuple:
    """A catalog whose recipes sample (cot, gpt4_alpaca, wizardlm, open_orca) and a mixture that samples flan_v2."""
    catalog = catalog_with(
        {
            "cot": {"samples": {"cot_zsopt": 4, "cot_fsopt": 4}},
            "gpt4_alpaca": {"n": 6},
            "wizardlm": {"n": 5},
            "open_orca": {"n": 7},
        }
    )
    raw = yaml.safe_load(find_mixture(MIXTURE).path.read_text())
    raw["parts"][0]["take"] = 9  # flan_v2: 22 rows, sampled in the mixture
    return catalog, parse_mixture("tulu_v2_sft_small", raw)


def test_another_seed_changes_only_the_sampled_parts(tmp_path: Path):
    catalog, mixture = small_mixture()
    by_seed = {}
    for seed in (42, 7):
        b = builder(tmp_path / str(seed), seed=seed, catalog=catalog)
        df = rows(build_mixture(b, mixture))
        by_seed[seed] = {
            d: Counter((i, str(m)) for i, m in zip(g["id"], g["messages"].to_list(), strict=True))
            for (d,), g in df.group_by("dataset")
        }
    sampled = {"flan_v2", "cot", "gpt4_alpaca", "wizardlm", "open_orca"}
    labels = set(by_seed[42]) | set(by_seed[7])
    assert {lab.split(".")[0] for lab in labels} == set(SFT_DATASETS)
    for label in labels:
        same = by_seed[42].get(label) == by_seed[7].get(label)
        assert same == (label not in sampled), label
    for seed in (42, 7):  # the counts taken do not depend on the seed
        sizes = {name: rows(tmp_path / str(seed) / name).height for name in ("cot", "gpt4_alpaca", "wizardlm", "open_orca")}
        assert sizes == {"cot": 8, "gpt4_alpaca": 6, "wizardlm": 5, "open_orca": 7}
        parts = {p["name"]: p for p in manifest(tmp_path / str(seed) / "tulu_v2_sft_small")["parts"]}
        assert parts["flan_v2"]["given"] == 9
