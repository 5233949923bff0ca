"""Chatbot Arena 2023 and 2024 pairs, checked row by row against the raw samples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
from pref_build_support import (
    assert_rebuild_identical_and_order_free,
    build,
    raw_rows,
    stripped,
    turns,
    valid_pair,
)

from tulu_data.recipes.arena import decode_json_lists

MULTI_TURN = "multi-turn battle whose earlier turns differ (the vote judged whole conversations)"


def differ_before_last(a: list[dict], b: list[dict]) -> bool:
    return stripped(a)[:-1] != stripped(b)[:-1]


# ---- 2023 conversations ------------------------------------------------------------------------


def test_arena_2023_winner_is_chosen_ties_and_diverging_multi_turn_dropped(tmp_path: Path):
    out, manifest, _ = build(tmp_path, "chatbot_arena_2023")
    raw = raw_rows("chatbot_arena_conversations")
    expected: Counter = Counter()
    multi_turn_dropped = 0
    for r in raw:
        a, b = r["conversation_a"], r["conversation_b"]
        if r["winner"] not in ("model_a", "model_b") or a is None or b is None:
            continue
        if differ_before_last(a, b) and max(len(a), len(b)) > 2:
            multi_turn_dropped += 1
        chosen, rejected = (a, b) if r["winner"] == "model_a" else (b, a)
        if valid_pair(chosen, rejected):
            expected[(stripped(chosen), stripped(rejected))] += 1
    got = Counter((turns(r["chosen"]), turns(r["rejected"])) for r in out.iter_rows(named=True))
    assert got == expected and out.height > 0
    assert any(len(r["chosen"]) > 2 for r in out.iter_rows(named=True))  # a multi-turn battle with identical early answers
    dropped = manifest["dropped"]
    assert dropped["tie (no preference)"] == sum(r["winner"] == "tie" for r in raw)
    assert dropped["tie, both bad (no preference)"] == sum(r["winner"] == "tie (bothbad)" for r in raw)
    assert dropped[MULTI_TURN] == multi_turn_dropped > 0
    assert dropped["unknown winner label"] == sum(r["winner"] not in ("model_a", "model_b", "tie", "tie (bothbad)") for r in raw)
    assert sum(dropped.values()) == len(raw) - out.height


def test_arena_2023_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "chatbot_arena_2023", "chatbot_arena_conversations")


# ---- 2024 55k human preferences ----------------------------------------------------------------


def parse_turn_list(text: str) -> list | None:
    """A JSON list of strings (or nulls) holding valid text; anything else -> None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or any(v is not None and not isinstance(v, str) for v in value):
        return None
    try:
        [v.encode("utf-8") for v in value if v is not None]  # a lone surrogate is not text
    except UnicodeEncodeError:
        return None
    return value


def conversation(prompts: list, answers: list) -> list[dict]:
    out = []
    for p, a in zip(prompts, answers, strict=True):
        out += [{"role": "user", "content": p or ""}, {"role": "assistant", "content": a or ""}]
    return out


def test_arena_2024_json_lists_become_conversations_and_the_winner_is_chosen(tmp_path: Path):
    out, manifest, _ = build(tmp_path, "chatbot_arena_2024")
    raw = raw_rows("arena_human_preference_55k")
    expected: Counter = Counter()
    malformed = 0
    for r in raw:
        flags = [int(r[f]) for f in ("winner_model_a", "winner_model_b", "winner_tie")]
        if sorted(flags) != [0, 0, 1] or flags[2] == 1:
            continue
        lists = [parse_turn_list(r[c]) for c in ("prompt", "response_a", "response_b")]
        if any(v is None for v in lists):
            malformed += 1
            continue
        prompts, answers_a, answers_b = lists
        if not prompts or len({len(prompts), len(answers_a), len(answers_b)}) != 1:
            continue
        a, b = conversation(prompts, answers_a), conversation(prompts, answers_b)
        chosen, rejected = (a, b) if flags[0] == 1 else (b, a)
        if valid_pair(chosen, rejected):
            expected[(stripped(chosen), stripped(rejected))] += 1
    got = Counter((turns(r["chosen"]), turns(r["rejected"])) for r in out.iter_rows(named=True))
    assert got == expected and out.height > 0
    assert any("\U0001F31E" in r["chosen"][-1]["content"] for r in out.iter_rows(named=True))  # surrogate pairs decoded
    dropped = manifest["dropped"]
    assert dropped["prompt or response is not a JSON list of strings (malformed JSON)"] == malformed > 0
    assert dropped["tie (no preference)"] == sum(r["winner_tie"] == "1" for r in raw)
    assert dropped[MULTI_TURN] >= 1
    assert sum(dropped.values()) == len(raw) - out.height


def test_arena_2024_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "chatbot_arena_2024", "arena_human_preference_55k")


def test_json_list_decoding_isolates_bad_entries_without_failing_the_column():
    good = [json.dumps([f"turn {i}", None]) for i in range(9)]
    values = pl.Series("response_a", [*good[:4], '[["nested"]]', *good[4:], '{"a": 1}', "[unclosed", None])
    decoded = decode_json_lists(values).to_list()
    assert decoded[:4] == [[f"turn {i}", None] for i in range(4)]
    assert decoded[4] is None
    assert decoded[5:10] == [[f"turn {i}", None] for i in range(4, 9)]
    assert decoded[10:] == [None, None, None]
