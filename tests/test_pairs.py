"""Orca DPO pairs, Capybara, Argilla DPO mix and AlpacaFarm pairs, checked row by row against the raw samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pref_build_support import (
    assert_rebuild_identical_and_order_free,
    build,
    raw_rows,
    stripped,
    turns,
    valid_pair,
)

from tulu_data.errors import SourceFormatError


def single(user: str | None, answer: str | None) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


# ---- Orca DPO pairs ----------------------------------------------------------------------------


def test_orca_question_is_the_user_turn_and_the_system_prompt_is_dropped(tmp_path: Path):
    out, manifest, _ = build(tmp_path, "orca_dpo_pairs")
    raw = raw_rows("orca_dpo_pairs")
    expected = Counter(
        (stripped(single(r["question"], r["chosen"])), stripped(single(r["question"], r["rejected"])))
        for r in raw
        if valid_pair(single(r["question"], r["chosen"]), single(r["question"], r["rejected"]))
    )
    got = Counter((turns(r["chosen"]), turns(r["rejected"])) for r in out.iter_rows(named=True))
    assert got == expected and out.height > 0
    systems = {r["system"] for r in raw if r["system"]}
    for row in out.iter_rows(named=True):
        assert all(m["role"] != "system" and m["content"] not in systems for m in row["chosen"] + row["rejected"])
    assert manifest["dropped"]["chosen and rejected answers are identical (no preference)"] == 1


def test_orca_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "orca_dpo_pairs", "orca_dpo_pairs")


# ---- message lists as they are -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "score_columns"),
    [
        ("capybara", "capybara_dpo_7k", ("rating_chosen", "rating_rejected")),
        ("argilla_dpo_mix", "argilla_dpo_mix_7k", ("chosen_rating", "rejected_rating")),
    ],
)
def test_message_lists_are_taken_as_they_are(tmp_path: Path, name: str, key: str, score_columns: tuple[str, str]):
    out, manifest, _ = build(tmp_path, name)
    raw = raw_rows(key)
    expected = Counter(
        (stripped(r["chosen"]), stripped(r["rejected"]), r[score_columns[0]], r[score_columns[1]])
        for r in raw
        if valid_pair(r["chosen"], r["rejected"])
    )
    got = Counter(
        (turns(r["chosen"]), turns(r["rejected"]), r["score_chosen"], r["score_rejected"]) for r in out.iter_rows(named=True)
    )
    assert got == expected and out.height > 0
    assert any(len(r["chosen"]) > 2 for r in out.iter_rows(named=True))  # multi-turn pairs pass through whole
    assert sum(manifest["dropped"].values()) == len(raw) - out.height


def test_message_list_with_wrong_shape_names_file_and_field(tmp_path: Path):
    folder = tmp_path / "mirror" / "argilla_dpo_mix_7k" / "data"
    folder.mkdir(parents=True)
    table = pa.table({"dataset": ["x"], "chosen": ["not a list"], "rejected": ["also not"],
                      "chosen_rating": [1.0], "rejected_rating": [0.0]})
    pq.write_table(table, folder / "train-00000-of-00001.parquet")
    with pytest.raises(SourceFormatError, match=r"train-00000-of-00001\.parquet: field 'chosen' is stored as string where a list is expected"):
        build(tmp_path / "out", "argilla_dpo_mix", sources=str(tmp_path / "mirror"))


def test_capybara_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "capybara", "capybara_dpo_7k")


# ---- AlpacaFarm --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [("alpaca_farm_gpt4_pref", "alpaca_farm_gpt4_preference"), ("alpaca_farm_human_pref", "alpaca_farm_human_preference")],
)
def test_alpaca_farm_preference_names_the_preferred_output(tmp_path: Path, name: str, key: str):
    out, manifest, _ = build(tmp_path, name)
    raw = raw_rows(key)
    expected = Counter()
    for r in raw:
        if r["preference"] not in (1, 2):
            continue
        extra = (r["input"] or "").strip()
        user = r["instruction"].strip() + ("\n\n" + extra if extra else "")
        better, worse = (r["output_1"], r["output_2"]) if r["preference"] == 1 else (r["output_2"], r["output_1"])
        if valid_pair(single(user, better), single(user, worse)):
            expected[(stripped(single(user, better)), stripped(single(user, worse)))] += 1
    got = Counter((turns(r["chosen"]), turns(r["rejected"])) for r in out.iter_rows(named=True))
    assert got == expected and out.height > 0
    assert any("\n\n" in r["chosen"][0]["content"] for r in out.iter_rows(named=True))  # the input really is appended
    assert manifest["dropped"]["preference is not 1 or 2"] == sum(r["preference"] not in (1, 2) for r in raw)
    assert set(out["source"]) == {name}


def test_alpaca_farm_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "alpaca_farm_human_pref", "alpaca_farm_human_preference")
