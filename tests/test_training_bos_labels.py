"""BOS and label masks as the encoders that trained Tulu produce them (RECIPES.md), with two BOS-defining
tokenizers built offline: a byte-level BPE and a Llama 2-like sentencepiece-style one."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset
from label_reference import (
    IGNORE_INDEX,
    byte_level_bos_tokenizer,
    reference_encode,
    sentencepiece_bos_tokenizer,
    trained_runs,
)
from transformers import PreTrainedTokenizerFast

from training import data as data_module
from training.chat_format import (
    encode_prompt,
    encode_with_labels,
    render_tulu,
)
from training.data import tokenization_fingerprint, tokenize_cached
from training.modeling import conversation_texts
from training.ppo import tokenize_prompts
from training.synthetic import preference_rows, sft_rows

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


SINGLE_TURN = [user("What colour is the sky?"), assistant(" Blue. ")]
MULTI_TURN = [
    user("Hi there"),
    assistant("Hello! How can I help?"),
    user("Tell me a joke."),
    assistant("Why did the chicken cross the road?\n"),
]
SYSTEM_PROMPT = [
    system("  Be brief. "),
    user("Hi"),
    assistant("Hello."),
    system("Now answer in French."),
    user("Bye"),
    assistant("Au revoir."),
]
ENDS_ON_USER = [user("q one"), assistant("a one"), user("q two")]
STARTS_WITH_ASSISTANT = [assistant("Welcome."), user("Thanks"), assistant("You are welcome.")]
TWO_ASSISTANTS_IN_A_ROW = [user("Count"), assistant("One."), assistant("Two.")]
CONVERSATIONS = {
    "single_turn": SINGLE_TURN,
    "multi_turn": MULTI_TURN,
    "system_prompt": SYSTEM_PROMPT,
    "ends_on_user": ENDS_ON_USER,
    "starts_with_assistant": STARTS_WITH_ASSISTANT,
    "two_assistants_in_a_row": TWO_ASSISTANTS_IN_A_ROW,
}
# Per RECIPES.md: BOS, then every system/user message and every "<|assistant|>\n" header masked; each
# assistant content + eos trained, with the "\n" after eos when the assistant message is not the last.
EXPECTED_BYTE_LEVEL = {
    "single_turn": (["Blue.</s>"], "<s><|user|>\nWhat colour is the sky?\n<|assistant|>\n"),
    "multi_turn": (
        ["Hello! How can I help?</s>\n", "Why did the chicken cross the road?</s>"],
        "<s><|user|>\nHi there\n<|assistant|>\n<|user|>\nTell me a joke.\n<|assistant|>\n",
    ),
    "system_prompt": (
        ["Hello.</s>\n", "Au revoir.</s>"],
        "<s><|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n<|system|>\nNow answer in French.\n"
        "<|user|>\nBye\n<|assistant|>\n",
    ),
    "ends_on_user": (["a one</s>\n"], "<s><|user|>\nq one\n<|assistant|>\n<|user|>\nq two"),
    # Our departure: the header is masked even where no system/user message precedes it.
    "starts_with_assistant": (
        ["Welcome.</s>\n", "You are welcome.</s>"],
        "<s><|assistant|>\n<|user|>\nThanks\n<|assistant|>\n",
    ),
    "two_assistants_in_a_row": (
        ["One.</s>\n", "Two.</s>"],
        "<s><|user|>\nCount\n<|assistant|>\n<|assistant|>\n",
    ),
}
TOKENIZERS = ("byte_level", "sentencepiece")


def training_texts() -> list[str]:
    rows = sft_rows(32) + preference_rows(16) + [{"messages": m} for m in CONVERSATIONS.values()]
    return list(conversation_texts(rows))


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, PreTrainedTokenizerFast]:
    texts = training_texts()
    return {"byte_level": byte_level_bos_tokenizer(texts), "sentencepiece": sentencepiece_bos_tokenizer(texts)}


@pytest.mark.parametrize("kind", TOKENIZERS)
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_ids_and_labels_match_the_rule(tokenizers: dict, kind: str, name: str) -> None:
    tokenizer, messages = tokenizers[kind], CONVERSATIONS[name]
    encoded = encode_with_labels(tokenizer, messages)
    assert encoded == reference_encode(tokenizer, messages)
    # What open-instruct does: the whole text through the tokenizer with its default special tokens.
    assert encoded["input_ids"] == tokenizer(render_tulu(messages, "</s>"))["input_ids"]
    assert encoded["input_ids"][0] == tokenizer.bos_token_id
    assert encoded["input_ids"].count(tokenizer.bos_token_id) == 1
    assert encoded["labels"][0] == IGNORE_INDEX


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_trained_and_masked_text_with_byte_level_bpe(tokenizers: dict, name: str) -> None:
    tokenizer = tokenizers["byte_level"]
    encoded = encode_with_labels(tokenizer, CONVERSATIONS[name])
    trained, masked = EXPECTED_BYTE_LEVEL[name]
    assert trained_runs(tokenizer, encoded["input_ids"], encoded["labels"]) == trained
    ids, labels = encoded["input_ids"], encoded["labels"]
    assert tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab == IGNORE_INDEX]) == masked


def test_sentencepiece_style_trains_the_newline_after_a_non_final_eos(tokenizers: dict) -> None:
    tokenizer = tokenizers["sentencepiece"]
    encoded = encode_with_labels(tokenizer, MULTI_TURN)
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    trained = [p for p, lab in zip(pieces, encoded["labels"], strict=True) if lab != IGNORE_INDEX]
    assert trained.count("</s>") == 2
    first_eos = trained.index("</s>")
    # The newline after the first eos (a Llama 2-style tokenizer marks the text after a special token with
    # "▁", so it is two pieces) is trained, as the published encoders do.
    assert trained[first_eos + 1 : first_eos + 3] == ["▁", "\n"]
    assert trained[-1] == "</s>"  # the final message has no newline (the whole string is stripped)
    assert "".join(trained).replace("▁", " ").replace("</s>", "|").split("|")[0].strip() == (
        "Hello! How can I help?"
    )


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_truncation_cuts_at_max_length_counting_bos(tokenizers: dict, kind: str) -> None:
    tokenizer = tokenizers[kind]
    full = encode_with_labels(tokenizer, SYSTEM_PROMPT)
    for max_length in range(1, len(full["input_ids"]) + 2):
        short = encode_with_labels(tokenizer, SYSTEM_PROMPT, max_length=max_length)
        assert short == reference_encode(tokenizer, SYSTEM_PROMPT, max_length)
        assert short["input_ids"] == full["input_ids"][:max_length]
        assert short["labels"] == full["labels"][:max_length]
    assert encode_with_labels(tokenizer, SYSTEM_PROMPT, max_length=1) == {
        "input_ids": [tokenizer.bos_token_id],
        "labels": [IGNORE_INDEX],
    }


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_template_and_one_pass_encoder_agree_token_for_token(tokenizers: dict, kind: str) -> None:
    tokenizer = tokenizers[kind]
    conversations = [*CONVERSATIONS.values(), *(row["messages"] for row in sft_rows(12))]
    for messages in conversations:
        templated = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        encoded = encode_with_labels(tokenizer, messages)
        assert list(templated["input_ids"]) == encoded["input_ids"], messages
        assert list(templated["assistant_masks"]) == [
            int(label != IGNORE_INDEX) for label in encoded["labels"]
        ], messages
        prompt = messages[:-1] if messages[-1]["role"] == "assistant" else messages
        prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)
        assert list(prompt_ids["input_ids"]) == encode_prompt(tokenizer, prompt)


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_prompt_encoding_starts_with_bos_and_prefixes_the_conversation(tokenizers: dict, kind: str) -> None:
    tokenizer = tokenizers[kind]
    prompt_ids = encode_prompt(tokenizer, SYSTEM_PROMPT[:5])
    assert prompt_ids[0] == tokenizer.bos_token_id and prompt_ids.count(tokenizer.bos_token_id) == 1
    assert encode_with_labels(tokenizer, SYSTEM_PROMPT)["input_ids"][: len(prompt_ids)] == prompt_ids
    assert encode_prompt(tokenizer, []) == []


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_dpo_rm_and_ppo_sequences_start_with_bos(
    tokenizers: dict, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TULU_DATA_CACHE", str(tmp_path))
    tokenizer = tokenizers[kind]
    pairs = preference_rows(6)
    dpo_rows = tokenize_cached(Dataset.from_list(pairs), "dpo", tokenizer, 512, "pairs").dataset
    rm_rows = tokenize_cached(Dataset.from_list(pairs), "rm", tokenizer, 512, "pairs").dataset
    prompts, stats = tokenize_prompts(Dataset.from_list(pairs), tokenizer, 512)
    assert stats["kept"] == len(pairs)
    for pair, dpo_row, rm_row, ppo_row in zip(pairs, dpo_rows, rm_rows, prompts, strict=True):
        expected_prompt = encode_prompt(tokenizer, pair["chosen"][:-1])
        assert expected_prompt[0] == tokenizer.bos_token_id
        assert dpo_row["prompt_ids"] == expected_prompt == ppo_row["prompt_ids"]
        for side in ("chosen", "rejected"):
            one_pass = encode_with_labels(tokenizer, pair[side])["input_ids"]
            assert dpo_row["prompt_ids"] + dpo_row[f"{side}_ids"] == one_pass
            assert rm_row[f"{side}_ids"] == one_pass
            assert dpo_row[f"{side}_ids"][0] != tokenizer.bos_token_id


def test_prepend_first_tokenizers_follow_the_published_encoders() -> None:
    """A Metaspace tokenizer that marks only the start of the string tokenizes the first word differently
    after a BOS written as text; the encoder keeps the published rule (BOS id + the text alone)."""
    tokenizer = sentencepiece_bos_tokenizer(training_texts(), prepend_scheme="first")
    text = render_tulu(SINGLE_TURN, "</s>")
    encoded = encode_with_labels(tokenizer, SINGLE_TURN)
    assert encoded["input_ids"] == tokenizer(text)["input_ids"]
    assert encoded == reference_encode(tokenizer, SINGLE_TURN)
    templated = tokenizer.apply_chat_template(SINGLE_TURN, tokenize=True, return_dict=True)["input_ids"]
    assert list(templated) != encoded["input_ids"]  # documented in training/chat_format.py and the README


def test_old_encoder_caches_are_not_reused(tokenizers: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = tokenizers["byte_level"]
    current = tokenization_fingerprint("data", "sft", tokenizer, 512)
    monkeypatch.setattr(data_module, "ENCODER_VERSION", "tulu-v2")  # the version without BOS and newline
    assert tokenization_fingerprint("data", "sft", tokenizer, 512) != current


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_trl_tokenizes_our_rows_to_the_cached_ids(
    tokenizers: dict, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trl's own tokenization (through our template) of SFT and preference rows gives our cache, BOS included."""
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer

    from training.modeling import build_tiny_causal_lm, build_tiny_reward_model

    monkeypatch.setenv("TULU_DATA_CACHE", str(tmp_path / "cache"))
    tokenizer = tokenizers[kind]
    sft = Dataset.from_list([{"messages": m} for m in CONVERSATIONS.values()])
    pairs = Dataset.from_list(preference_rows(6)).select_columns(["chosen", "rejected"])
    common = {"report_to": [], "max_length": 512, "use_cpu": True}

    via_trl = SFTTrainer(
        model=build_tiny_causal_lm(tokenizer),
        args=SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, **common),
        train_dataset=sft,
        processing_class=tokenizer,
    ).train_dataset
    ours = tokenize_cached(sft, "sft", tokenizer, 512, "sft").dataset
    assert via_trl["input_ids"][:] == ours["input_ids"][:]
    assert via_trl["labels"][:] == ours["labels"][:]

    via_trl = DPOTrainer(
        model=build_tiny_causal_lm(tokenizer),
        ref_model=build_tiny_causal_lm(tokenizer),
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
        train_dataset=pairs,
        processing_class=tokenizer,
    ).train_dataset
    ours = tokenize_cached(pairs, "dpo", tokenizer, 512, "pairs").dataset
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert via_trl[column][:] == ours[column][:], column

    via_trl = RewardTrainer(
        model=build_tiny_reward_model(tokenizer),
        args=RewardConfig(output_dir=str(tmp_path / "rm"), **common),
        train_dataset=pairs,
        processing_class=tokenizer,
    ).train_dataset
    ours = tokenize_cached(pairs, "rm", tokenizer, 512, "pairs").dataset
    for column in ("chosen_ids", "rejected_ids"):
        assert via_trl[column][:] == ours[column][:], column
