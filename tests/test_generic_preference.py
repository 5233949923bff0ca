"""The generic preference recipes (prompt_chosen_rejected, rated) on small jsonl files built here: exact
pairs, counted drops, keyed draws independent of row order, the row format, param errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from generic_support import DATASET, assert_loads_with_datasets, build, data_bytes, dropped, frame, shuffled

from tulu_data.errors import CatalogError
from tulu_data.recipe_params import declared
from tulu_data.recipes.generic_preference import RULES


def pairs(folder: Path) -> list[tuple]:
    """Each row as (chosen messages, rejected messages, score_chosen, score_rejected), sorted."""
    df = frame(folder)
    as_tuples = [[(m["role"], m["content"]) for m in msgs] for msgs in df["chosen"].to_list()]
    rejected = [[(m["role"], m["content"]) for m in msgs] for msgs in df["rejected"].to_list()]
    return sorted(zip(as_tuples, rejected, df["score_chosen"], df["score_rejected"], strict=True), key=repr)


def single(prompt: str, answer: str) -> list[tuple[str, str]]:
    return [("user", prompt), ("assistant", answer)]


TEXT_PARAMS = {"score_chosen_field": "sc", "score_rejected_field": "sr"}
TEXT_ROWS = [
    {"prompt": "Q1", "chosen": " good ", "rejected": "bad", "sc": 8, "sr": 3.5},
    {"prompt": "Q2", "chosen": "same", "rejected": "same ", "sc": 1, "sr": 1},
    {"prompt": "Q3", "chosen": None, "rejected": "x", "sc": 1, "sr": 0},
    {"prompt": "  ", "chosen": "a", "rejected": "b", "sc": 1, "sr": 0},
    {"prompt": "Q5", "chosen": "a", "rejected": "b", "sc": "high", "sr": 0},
    {"prompt": "Q6", "chosen": "yes", "rejected": "no"},
]


def test_text_pairs_rows_scores_and_drops(tmp_path: Path):
    out = build(tmp_path, "prompt_chosen_rejected", TEXT_ROWS, TEXT_PARAMS)
    assert pairs(out) == sorted([
        (single("Q1", "good"), single("Q1", "bad"), 8.0, 3.5),
        (single("Q6", "yes"), single("Q6", "no"), None, None),
    ], key=repr)
    assert set(frame(out)["source"]) == {DATASET}
    assert dropped(out) == {
        "chosen and rejected answers are identical (no preference)": 1,
        "chosen: missing (null)": 1,
        "chosen: empty message": 1,
        "sc: text where a number is expected": 1,
    }
    again = build(tmp_path / "shuffled", "prompt_chosen_rejected", shuffled(TEXT_ROWS), TEXT_PARAMS)
    assert data_bytes(out) == data_bytes(again)
    assert_loads_with_datasets(out, "preference", tmp_path / "hf-cache")


def msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


CONV_ROWS = [
    {"prompt": [msg("user", "Hi")], "chosen": [msg("assistant", "Hello!")], "rejected": [msg("assistant", "Go away.")]},
    {"prompt": [msg("user", "a"), msg("assistant", "b"), msg("user", "c")], "chosen": [msg("assistant", "d")],
     "rejected": [msg("assistant", "e")]},
    {"prompt": [], "chosen": [msg("assistant", "x")], "rejected": [msg("assistant", "y")]},
    {"prompt": [msg("user", "q")], "chosen": [msg("assistant", "x"), msg("user", "more?")],
     "rejected": [msg("assistant", "y")]},
]


def test_conversation_pairs_put_the_prompt_before_each_answer(tmp_path: Path):
    out = build(tmp_path, "prompt_chosen_rejected", CONV_ROWS, {"format": "conversations"})
    assert pairs(out) == sorted([
        (single("Hi", "Hello!"), single("Hi", "Go away."), None, None),
        ([("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")],
         [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "e")], None, None),
    ], key=repr)
    assert dropped(out) == {
        "chosen: no user turn (nothing to answer)": 1,
        "chosen: does not end in an assistant turn": 1,
    }
    again = build(tmp_path / "shuffled", "prompt_chosen_rejected", shuffled(CONV_ROWS), {"format": "conversations"})
    assert data_bytes(out) == data_bytes(again)
    assert_loads_with_datasets(out, "preference", tmp_path / "hf-cache")


def test_whole_conversations_with_mapped_keys_and_roles(tmp_path: Path):
    def conv(*turns: tuple[str, str]) -> list[dict]:
        return [{"speaker": s, "text": t} for s, t in turns]

    rows = [
        {"good": conv(("human", "Q"), ("bot", "A")), "bad": conv(("human", "Q"), ("bot", "B"))},
        {"good": conv(("human", "Q1"), ("bot", "A")), "bad": conv(("human", "Q2"), ("bot", "B"))},
    ]
    params = {"format": "conversations", "prompt_field": None, "chosen_field": "good", "rejected_field": "bad",
              "role_key": "speaker", "content_key": "text", "role_map": {"human": "user", "bot": "assistant"}}
    out = build(tmp_path, "prompt_chosen_rejected", rows, params)
    assert pairs(out) == [(single("Q", "A"), single("Q", "B"), None, None)]
    assert dropped(out) == {"chosen and rejected do not share the prompt turns": 1}


def rated_rows() -> list[dict]:
    """Scored responses, one row each: tied best, a tie with no lower, a lone response, a missing score."""
    def row(prompt: str, response: str, score: float | None) -> dict:
        return {"question": prompt, "answer": response, "rating": score}

    return [
        row("P1", "r1", 9), row("P1", "r2", 7), row("P1", "r3", 3), row("P1", "r4", 9),
        row("P2", "a", 5), row("P2", "b", 5),
        row("P3", "alone", 4),
        row("P4", "x", None), row("P4", "y", 4), row("P4", "z", 2),
        row("P5", "same text", 6), row("P5", "same text", 2),
    ]


RATED_ROWS_PARAMS = {"prompt_field": "question", "response_field": "answer", "score_field": "rating"}


@pytest.mark.parametrize("rule", RULES)
def test_rated_rows_pairs_and_counts(tmp_path: Path, rule: str):
    out = build(tmp_path, "rated", rated_rows(), {**RATED_ROWS_PARAMS, "rule": rule})
    got = {chosen[0][1]: (chosen[1][1], rejected[1][1], sc, sr) for chosen, rejected, sc, sr in pairs(out)}
    assert sorted(got) == ["P1", "P4"]
    assert got["P4"] == ("y", "z", 4.0, 2.0)
    chosen, rejected, score_chosen, score_rejected = got["P1"]
    assert chosen in {"r1", "r4"} and score_chosen == 9.0
    assert (rejected, score_rejected) in ({("r3", 3.0)} if rule == "best_vs_worst" else {("r2", 7.0), ("r3", 3.0)})
    assert dropped(out) == {
        "score missing": 1,
        "prompt has only one usable response (no pair possible)": 1,
        "no response scored strictly lower than the best with another text (prompt gives no pair)": 4,
        "response not used (one pair per prompt)": 2,
    }
    again = build(tmp_path / "shuffled", "rated", shuffled(rated_rows()), {**RATED_ROWS_PARAMS, "rule": rule})
    assert data_bytes(out) == data_bytes(again)
    assert_loads_with_datasets(out, "preference", tmp_path / "hf-cache")


def test_rated_lists_layout_gives_the_same_pairs_as_rows(tmp_path: Path):
    by_prompt: dict[str, list[dict]] = {}
    for row in rated_rows():
        by_prompt.setdefault(row["question"], []).append({"text": row["answer"], "stars": row["rating"]})
    lists = [{"question": p, "options": items} for p, items in by_prompt.items()] + [{"question": "P6", "options": []}]
    params = {"layout": "lists", "rule": "best_vs_random_lower", "prompt_field": "question",
              "responses_field": "options", "response_key": "text", "score_key": "stars"}
    from_lists = build(tmp_path / "lists", "rated", lists, params)
    from_rows = build(tmp_path / "rows", "rated", rated_rows(), {**RATED_ROWS_PARAMS, "rule": "best_vs_random_lower"})
    assert data_bytes(from_lists) == data_bytes(from_rows)
    assert dropped(from_lists)["options: no responses (null or empty list; counted in prompt rows)"] == 1


def tied_prompts(n: int) -> list[dict]:
    """n prompts, each with two best responses tied and two lower ones."""
    return [
        {"prompt": f"prompt {i}", "response": text, "score": score}
        for i in range(n)
        for text, score in ((f"best a {i}", 5), (f"best b {i}", 5), (f"low c {i}", 2), (f"low d {i}", 1))
    ]


def test_ties_and_lower_draws_are_keyed_on_content_and_seed(tmp_path: Path):
    rows = tied_prompts(40)
    picks = {}
    for seed in (42, 43):
        out = build(tmp_path / str(seed), "rated", rows, {"rule": "best_vs_random_lower"}, seed=seed)
        picks[seed] = [(c[1][1].split()[1], r[1][1].split()[1]) for c, r, *_ in pairs(out)]
    assert len(picks[42]) == 40
    assert {c for c, _ in picks[42]} == {"a", "b"} and {r for _, r in picks[42]} == {"c", "d"}
    assert picks[42] != picks[43]
    worst = build(tmp_path / "worst", "rated", rows, {"rule": "best_vs_worst"})
    assert {r[1][1].split()[1] for _, r, *_ in pairs(worst)} == {"d"}


@pytest.mark.parametrize(
    ("recipe", "params", "message"),
    [
        ("rated", {}, "param 'rule' is required by recipe 'rated'"),
        ("rated", {"rule": "best_vs_median"}, "param 'rule' must be one of best_vs_random_lower, best_vs_worst"),
        ("rated", {"rule": "best_vs_worst", "responses_field": "x"}, "param 'responses_field' does not apply to layout: rows"),
        ("rated", {"rule": "best_vs_worst", "layout": "lists", "score_field": "x"}, "param 'score_field' does not apply"),
        ("rated", {"rule": "best_vs_worst", "cap": 0}, "param 'cap' must be a whole number of at least 1"),
        ("prompt_chosen_rejected", {"prompt_field": None}, "param 'prompt_field' must name a field with format: text"),
        ("prompt_chosen_rejected", {"chosen_field": ["a"]}, "param 'chosen_field' must be a field name"),
        ("prompt_chosen_rejected", {"format": "pairs"}, "param 'format' must be one of text, conversations"),
        ("prompt_chosen_rejected", {"score_chosen_field": "s"}, "params 'score_chosen_field' and 'score_rejected_field' go"),
        ("prompt_chosen_rejected", {"role_map": {"a": "user"}}, "param 'role_map' does not apply to format: text"),
        ("prompt_chosen_rejected", {"chosen_field": "prompt"}, "params 'prompt_field' and 'chosen_field' both name"),
    ],
)
def test_invalid_params_name_the_dataset_and_the_param(tmp_path: Path, recipe: str, params: dict, message: str):
    with pytest.raises(CatalogError, match=f"datasets.{DATASET}: {message}"):
        build(tmp_path, recipe, [{"prompt": "p"}], params)


def test_every_generic_recipe_declares_what_it_reads_and_its_params():
    specs = declared()
    for name in ("conversations", "sharegpt", "instruction_input_output", "prompt_chosen_rejected", "rated"):
        spec = specs[name]
        assert spec.reads and spec.params
        assert all(p.doc for p in spec.params)
        assert "label" in {p.name for p in spec.params}
    assert specs["rated"].param("rule").choices == RULES and specs["rated"].param("rule").required


@pytest.mark.parametrize(
    ("recipe", "rows", "params", "field", "param"),
    [
        ("rated", [{"prompt": "p", "responses": [{"response": "a", "score": 1}]}],
         {"rule": "best_vs_worst", "layout": "lists", "score_key": "rating"}, "responses", "score_key"),
        ("prompt_chosen_rejected", [{"prompt": [{"from": "human", "value": "q"}], "chosen": [], "rejected": []}],
         {"format": "conversations"}, "prompt", "role_key"),
    ],
)
def test_a_key_absent_from_every_object_names_the_file_field_and_param(
    tmp_path: Path, recipe: str, rows: list, params: dict, field: str, param: str
):
    from tulu_data.errors import SourceFormatError

    with pytest.raises(SourceFormatError, match=rf"data.jsonl: no object of field '{field}' has the key .*params.{param}"):
        build(tmp_path, recipe, rows, params)
