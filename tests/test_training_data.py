"""Resolving --mix and the tokenized-data cache (hits, invalidation, dropped rows)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from training import data as data_module
from training.chat_format import IGNORE_INDEX
from training.data import (
    TOKENIZATION_RUNS,
    load_mix,
    resolve_mix,
    row_format,
    select_split,
    subsample,
    tokenize_cached,
)
from training.modeling import build_tiny_tokenizer, conversation_texts
from training.synthetic import (
    preference_rows,
    prompt_rows,
    sft_rows,
    write_preferences,
    write_rows,
    write_sft,
)


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """Tiny models gain nothing from threads, and spinning threads crawl on a loaded CI machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "tokenized_cache"
    monkeypatch.setenv("TULU_DATA_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(conversation_texts(sft_rows(32) + preference_rows(32)))


def test_local_folder_resolves_to_its_splits(tmp_path: Path) -> None:
    folder = write_sft(tmp_path / "sft", count=10)
    write_rows(folder, sft_rows(4, seed=1), split="test")
    datasets = resolve_mix(str(folder))
    assert isinstance(datasets, DatasetDict)
    assert {name: len(split) for name, split in datasets.items()} == {"train": 10, "test": 4}
    assert row_format(datasets["train"]) == "sft"


def test_content_hash_prefers_the_build_manifest(tmp_path: Path) -> None:
    folder = write_preferences(tmp_path / "prefs", count=4)
    plain_hash = load_mix(str(folder)).content_hash
    (folder / "manifest.json").write_text(json.dumps({"content_hash": "abc123"}))
    assert load_mix(str(folder)).content_hash == "abc123"
    (folder / "manifest.json").unlink()
    write_rows(folder, preference_rows(5))
    assert load_mix(str(folder)).content_hash != plain_hash  # data bytes changed


def test_row_formats_and_split_choice() -> None:
    assert row_format(Dataset.from_list(preference_rows(2))) == "preference"
    assert row_format(Dataset.from_list(prompt_rows(2))) == "prompts"
    only = DatasetDict({"train_prefs": Dataset.from_list(prompt_rows(2))})
    assert len(select_split(only, "train")) == 2  # the only split is used whatever its name
    two = DatasetDict({"a": Dataset.from_list(prompt_rows(2)), "b": Dataset.from_list(prompt_rows(3))})
    with pytest.raises(ValueError, match="--split train: no such split; the mix has a, b"):
        select_split(two, "train")


def test_subsample_is_random_not_the_first_rows() -> None:
    rows = Dataset.from_list([{"id": str(i)} for i in range(100)])
    picked = subsample(rows, 10, seed=42)
    assert len(picked) == 10
    assert [row["id"] for row in picked] != [str(i) for i in range(10)]
    assert [row["id"] for row in subsample(rows, 10, seed=42)] == [row["id"] for row in picked]


def test_second_run_reads_the_cache(tokenizer) -> None:
    rows = Dataset.from_list(sft_rows(16))
    before = TOKENIZATION_RUNS["sft"]
    first = tokenize_cached(rows, "sft", tokenizer, 256, "hash-a")
    second = tokenize_cached(rows, "sft", tokenizer, 256, "hash-a")
    assert TOKENIZATION_RUNS["sft"] == before + 1
    assert not first.cache_hit and second.cache_hit
    assert second.path == first.path and second.stats == first.stats
    assert second.dataset["input_ids"][:] == first.dataset["input_ids"][:]


@pytest.mark.parametrize("change", ["data", "max_length", "template", "tokenizer"])
def test_any_change_tokenizes_again(tokenizer, change: str) -> None:
    rows = Dataset.from_list(sft_rows(8))
    baseline = tokenize_cached(rows, "sft", tokenizer, 256, "hash-a")
    runs = TOKENIZATION_RUNS["sft"]
    data_key, max_length, other = "hash-a", 256, tokenizer
    if change == "data":
        data_key = "hash-b"
    elif change == "max_length":
        max_length = 128
    elif change == "template":
        other = build_tiny_tokenizer(conversation_texts(sft_rows(32) + preference_rows(32)))
        other.chat_template = other.chat_template.replace(
            "trim", "trim "
        )  # same output, different template text
    else:
        other = build_tiny_tokenizer(conversation_texts(sft_rows(8)), vocab_size=400)
    changed = tokenize_cached(rows, "sft", other, max_length, data_key)
    assert TOKENIZATION_RUNS["sft"] == runs + 1
    assert not changed.cache_hit and changed.fingerprint != baseline.fingerprint


def test_the_template_function_is_part_of_the_key(tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = Dataset.from_list(sft_rows(4))
    baseline = tokenize_cached(rows, "sft", tokenizer, 64, "hash-a")
    monkeypatch.setattr(data_module, "ENCODER_VERSION", "changed-rendering")
    assert tokenize_cached(rows, "sft", tokenizer, 64, "hash-a").fingerprint != baseline.fingerprint


def test_rows_fully_masked_after_truncation_are_dropped_and_counted(tokenizer) -> None:
    long_system = {"role": "system", "content": "context " * 200}
    rows = Dataset.from_list(
        [
            {
                "messages": [
                    long_system,
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            *({"messages": row["messages"]} for row in sft_rows(3)),
        ]
    )
    result = tokenize_cached(rows, "sft", tokenizer, 64, "hash-long")
    assert result.stats == {"rows": 4, "dropped_all_labels_masked": 1, "kept": 3}
    assert all(len(ids) <= 64 for ids in result.dataset["input_ids"])
    assert all(any(label != IGNORE_INDEX for label in labels) for labels in result.dataset["labels"])
    saved = json.loads((result.path / "tulu_tokenization.json").read_text())
    assert saved["dropped_all_labels_masked"] == 1


def test_dpo_rows_hold_prompt_and_replies(tokenizer) -> None:
    pairs = preference_rows(4)
    malformed = dict(pairs[0], rejected=[{"role": "user", "content": "different"}, pairs[0]["rejected"][-1]])
    result = tokenize_cached(Dataset.from_list([*pairs, malformed]), "dpo", tokenizer, 512, "hash-pref")
    assert result.stats["dropped_malformed_pairs"] == 1 and result.stats["kept"] == 4
    row = result.dataset[0]
    assert tokenizer.decode(row["prompt_ids"]) == tokenizer.apply_chat_template(
        pairs[0]["chosen"][:-1], tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.decode(row["chosen_ids"]) == pairs[0]["chosen"][-1]["content"] + "</s>"
    assert tokenizer.decode(row["rejected_ids"]) == "No. No. No.</s>"


def test_dpo_drops_prompts_that_fill_max_length(tokenizer) -> None:
    result = tokenize_cached(Dataset.from_list(preference_rows(4)), "dpo", tokenizer, 4, "hash-pref")
    assert result.stats["dropped_too_long"] == 4 and result.stats["kept"] == 0


def test_rm_rows_are_whole_conversations(tokenizer) -> None:
    pairs = preference_rows(3)
    result = tokenize_cached(Dataset.from_list(pairs), "rm", tokenizer, 512, "hash-pref")
    assert set(result.dataset.column_names) == {"chosen_ids", "rejected_ids"}
    assert tokenizer.decode(result.dataset[1]["chosen_ids"]) == tokenizer.apply_chat_template(
        pairs[1]["chosen"], tokenize=False
    )
    short = tokenize_cached(Dataset.from_list(pairs), "rm", tokenizer, 12, "hash-pref")
    assert short.stats["dropped_too_long"] == 3


def catalog_has(name: str) -> bool:
    """Whether tulu_data's catalog (still growing) can build ``name`` yet."""
    if importlib.util.find_spec("tulu_data.build") is None:
        return False
    from tulu_data.catalog import load_catalog

    return name in load_catalog().datasets


@pytest.mark.skipif(
    not catalog_has("ultrafeedback_mean_aspects"), reason="tulu_data cannot build uf_mean yet"
)
def test_catalog_mixture_resolves_through_tulu_data(tmp_path: Path) -> None:
    mix = load_mix("uf_mean", sources="samples", out=tmp_path / "builds")
    rows = select_split(mix.datasets, "train")
    assert row_format(rows) == "preference" and len(rows) > 0
    assert mix.folder == tmp_path / "builds" / "uf_mean"
    assert mix.content_hash == json.loads((mix.folder / "manifest.json").read_text())["content_hash"]
