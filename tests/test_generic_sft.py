"""The generic SFT recipes (conversations, sharegpt, instruction_input_output) on small jsonl files
built here: exact rows, counted drops, order independence, the row format, param errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from generic_support import (
    DATASET,
    assert_loads_with_datasets,
    build,
    conversations,
    data_bytes,
    dropped,
    frame,
    shuffled,
)

from tulu_data.errors import CatalogError


def turns(*pairs: tuple[str, str], role: str = "speaker", text: str = "text") -> list[dict]:
    return [{role: r, text: t} for r, t in pairs]


CHAT_PARAMS = {"messages_field": "turns", "role_key": "speaker", "content_key": "text",
               "role_map": {"human": "user", "bot": "assistant"}}
CHAT_ROWS = [
    {"turns": turns(("system", "Be brief."), ("human", "Hi"), ("bot", "Hello!"))},
    {"turns": turns(("user", "2+2?"), ("assistant", " 4 "), ("user", "3+3?"), ("assistant", "6"))},
    {"turns": turns(("user", "2+2?"), ("assistant", " 4 "), ("user", "3+3?"), ("assistant", "6"))},  # exact copy
    {"turns": turns(("user", "only a question"))},
    {"turns": turns(("user", "q"), ("narrator", "x"))},
    {"turns": turns(("user", "q"), ("assistant", "   "))},
    {"turns": turns(("user", "a"), ("user", "b"), ("assistant", "c"))},
    {"turns": []},
    {"turns": "not a list"},
]


def test_conversations_rows_and_drops(tmp_path: Path):
    out = build(tmp_path, "conversations", CHAT_ROWS, CHAT_PARAMS)
    assert conversations(out) == [
        [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!")],
        [("user", "2+2?"), ("assistant", " 4 "), ("user", "3+3?"), ("assistant", "6")],
    ]
    df = frame(out)
    assert set(df["dataset"]) == {DATASET}
    assert all(i.startswith(f"{DATASET}_") for i in df["id"]) and df["id"].n_unique() == 2
    assert dropped(out) == {
        "exact duplicate of an earlier upstream row": 1,
        "turns: text where a list is expected": 1,
        "turns: no conversation (null or empty)": 1,
        "does not end in an assistant turn": 1,
        "role other than system/user/assistant": 1,
        "empty turn (a message is blank)": 1,
        "turns do not alternate user/assistant": 1,
    }
    assert_loads_with_datasets(out, "sft", tmp_path / "hf-cache")


def test_conversations_output_does_not_depend_on_row_order(tmp_path: Path):
    first = build(tmp_path / "a", "conversations", CHAT_ROWS, CHAT_PARAMS)
    second = build(tmp_path / "b", "conversations", shuffled(CHAT_ROWS), CHAT_PARAMS)
    assert data_bytes(first) == data_bytes(second) and data_bytes(first)


def test_conversations_with_the_default_keys_and_a_label(tmp_path: Path):
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]}]
    out = build(tmp_path, "conversations", rows, {"label": "chitchat"})
    assert conversations(out) == [[("user", "Hi"), ("assistant", "Hey")]]
    assert frame(out)["dataset"].to_list() == ["chitchat"]
    assert frame(out)["id"][0].startswith("chitchat_")


SHAREGPT_ROWS = [
    {"conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hi"},
                       {"from": "gpt", "value": "Hello"}]},
    {"conversations": [{"from": "human", "value": "A"}, {"from": "bot", "value": "B"}]},
    {"conversations": [{"from": "human", "value": "A"}, {"from": "bing", "value": "B"}]},
    {"conversations": [{"from": "gpt", "value": "first"}, {"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
    {"conversations": None},
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": 1}]},
]


def test_sharegpt_rows_and_drops(tmp_path: Path):
    out = build(tmp_path, "sharegpt", SHAREGPT_ROWS, {"role_map": {"bot": "assistant"}})
    assert conversations(out) == [
        [("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello")],
        [("user", "A"), ("assistant", "B")],
    ]
    assert dropped(out) == {
        "conversations[].value: a number where text is expected": 1,
        "conversations: no conversation (null or empty)": 1,
        "role other than system/user/assistant": 1,
        "turns do not alternate user/assistant": 1,
    }
    shuffled_out = build(tmp_path / "shuffled", "sharegpt", shuffled(SHAREGPT_ROWS), {"role_map": {"bot": "assistant"}})
    assert data_bytes(out) == data_bytes(shuffled_out)
    assert_loads_with_datasets(out, "sft", tmp_path / "hf-cache")


def test_sharegpt_without_the_extra_role_drops_the_bot_turn(tmp_path: Path):
    out = build(tmp_path, "sharegpt", SHAREGPT_ROWS)
    assert conversations(out) == [[("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello")]]
    assert dropped(out)["role other than system/user/assistant"] == 2


ALPACA_ROWS = [
    {"instruction": "Translate to French.", "input": " cat ", "output": "chat"},
    {"instruction": "  Name a color. ", "input": "   ", "output": "Blue"},
    {"instruction": "Say hi", "output": "hi"},
    {"instruction": "Add.", "input": "1 2", "output": "3", "sys": "You are a calculator."},
    {"instruction": "", "input": "x", "output": "y"},
    {"instruction": "Q", "input": "", "output": None},
    {"instruction": 5, "input": "", "output": "y"},
]


def test_instruction_input_output_rows_and_drops(tmp_path: Path):
    out = build(tmp_path, "instruction_input_output", ALPACA_ROWS, {"system_field": "sys"})
    assert conversations(out) == sorted([
        [("user", "Translate to French.\n\ncat"), ("assistant", "chat")],
        [("user", "Name a color."), ("assistant", "Blue")],
        [("user", "Say hi"), ("assistant", "hi")],
        [("system", "You are a calculator."), ("user", "Add.\n\n1 2"), ("assistant", "3")],
    ])
    assert dropped(out) == {"empty turn (a message is blank)": 2, "instruction: a number where text is expected": 1}
    again = build(tmp_path / "shuffled", "instruction_input_output", shuffled(ALPACA_ROWS), {"system_field": "sys"})
    assert data_bytes(out) == data_bytes(again)
    assert_loads_with_datasets(out, "sft", tmp_path / "hf-cache")


def test_instruction_input_output_with_other_field_names_and_no_input(tmp_path: Path):
    rows = [{"question": "Why?", "answer": "Because.", "input": "ignored"}]
    params = {"instruction_field": "question", "output_field": "answer", "input_field": None}
    assert conversations(build(tmp_path, "instruction_input_output", rows, params)) == [
        [("user", "Why?"), ("assistant", "Because.")]
    ]


@pytest.mark.parametrize(
    ("recipe", "params", "message"),
    [
        ("conversations", {"messages_field": 3}, "param 'messages_field' must be a field name"),
        ("conversations", {"role_map": {"human": 1}}, "param 'role_map' must be a mapping of text to text"),
        ("conversations", {"role_key": "x", "content_key": "x"}, "params 'role_key' and 'content_key' both name"),
        ("conversations", {"messages_feild": "turns"}, "unknown param\\(s\\) 'messages_feild' for recipe 'conversations'"),
        ("sharegpt", {"value_key": ""}, "param 'value_key' must be a field name"),
        ("instruction_input_output", {"output_field": None}, "param 'output_field' must not be null"),
        ("instruction_input_output", {"label": ""}, "param 'label' must be non-empty text"),
    ],
)
def test_invalid_params_name_the_dataset_and_the_param(tmp_path: Path, recipe: str, params: dict, message: str):
    with pytest.raises(CatalogError, match=f"datasets.{DATASET}: {message}"):
        build(tmp_path, recipe, [{"messages": []}], params)


def test_a_key_absent_from_every_message_names_the_file_field_and_param(tmp_path: Path):
    from tulu_data.errors import SourceFormatError

    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]
    with pytest.raises(SourceFormatError, match=r"data.jsonl: no object of field 'conversations' has the key "
                                                r"'text' \(datasets.my_data.params.value_key\)"):
        build(tmp_path, "sharegpt", rows, {"value_key": "text"})


def test_a_configured_system_field_must_exist_and_a_missing_input_field_is_noted(tmp_path: Path):
    from tulu_data.errors import SourceFormatError
    from tulu_data.writer import read_manifest

    rows = [{"instruction": "Say hi", "output": "hi"}]
    with pytest.raises(SourceFormatError, match=r"data.jsonl.*missing field\(s\) 'system'"):
        build(tmp_path / "a", "instruction_input_output", rows, {"system_field": "system"})
    out = build(tmp_path / "b", "instruction_input_output", rows, {"input_field": "context"})
    assert conversations(out) == [[("user", "Say hi"), ("assistant", "hi")]]
    notes = (read_manifest(out) or {})["notes"]
    assert notes["input field absent or null in every row (every user turn is the instruction alone)"] == "context"
