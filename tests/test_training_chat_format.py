"""The Tulu chat format: rendered text, label masks, and agreement between the template and the encoder."""

from __future__ import annotations

import pytest
from datasets import Dataset
from label_reference import trained_runs
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from trl.chat_template_utils import has_generation_markers, is_chat_template_stop_token_trained

from training.chat_format import (
    IGNORE_INDEX,
    encode_prompt,
    encode_with_labels,
    prompt_messages,
    render_tulu,
    set_tulu_template,
    split_preference_pair,
)
from training.data import tokenize_cached
from training.modeling import build_tiny_tokenizer, conversation_texts
from training.synthetic import preference_rows, sft_rows

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CONVERSATION = [
    {"role": "system", "content": "  Be brief. "},
    {"role": "user", "content": "Hi there\n"},
    {"role": "assistant", "content": " Hello! How can I help? "},
    {"role": "system", "content": "Now answer in French."},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Au revoir.\n\n"},
]
# Per RECIPES.md: content stripped; system/user "<|role|>\n{c}\n", assistant "<|assistant|>\n{c}{eos}\n";
# the whole string stripped (so no trailing newline).
EXPECTED_TEXT = (
    "<|system|>\nBe brief.\n"
    "<|user|>\nHi there\n"
    "<|assistant|>\nHello! How can I help?</s>\n"
    "<|system|>\nNow answer in French.\n"
    "<|user|>\nBye\n"
    "<|assistant|>\nAu revoir.</s>"
)
# Trained (RECIPES.md): each assistant content + eos, and the "\n" after eos unless the message is the last.
EXPECTED_TRAINED = ["Hello! How can I help?</s>\n", "Au revoir.</s>"]

EDGE_CASES = [
    [{"role": "user", "content": "  only a user turn \n"}],
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
    [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c d"},
    ],
    [
        {"role": "user", "content": "tabs\tand  spaces  "},
        {"role": "assistant", "content": "\tx"},
        {"role": "user", "content": "y"},
    ],
]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    rows = sft_rows(32) + preference_rows(16) + [{"messages": CONVERSATION}]
    return build_tiny_tokenizer(conversation_texts(rows))


@pytest.fixture(scope="module")
def metaspace_tokenizer() -> PreTrainedTokenizerFast:
    """A sentencepiece-style (Metaspace) BPE tokenizer, like Llama's, to check the rules beyond byte-level BPE."""
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    backend.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<pad>", "</s>"],
        show_progress=False,
        initial_alphabet=list("\n\t"),
    )
    texts = list(conversation_texts(sft_rows(32) + [{"messages": CONVERSATION}])) + [
        "<|user|>\n<|assistant|>\n<|system|>\n"
    ]
    backend.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    return set_tulu_template(wrapped)


def test_reference_renderer_matches_recipe_text() -> None:
    assert render_tulu(CONVERSATION, "</s>") == EXPECTED_TEXT


def test_template_renders_recipe_text_exactly(tokenizer: PreTrainedTokenizerFast) -> None:
    assert tokenizer.apply_chat_template(CONVERSATION, tokenize=False) == EXPECTED_TEXT


def test_generation_prompt_ends_with_assistant_header(tokenizer: PreTrainedTokenizerFast) -> None:
    prompt = CONVERSATION[:2]
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    assert text == "<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\n"
    assert text == render_tulu(prompt, "</s>", add_generation_prompt=True)
    # The prompt is exactly the rendered conversation up to the reply, so train and inference agree.
    assert EXPECTED_TEXT.startswith(render_tulu(CONVERSATION[:5], "</s>", add_generation_prompt=True))


@pytest.mark.parametrize("messages", EDGE_CASES)
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_template_and_reference_agree_on_edge_cases(
    tokenizer: PreTrainedTokenizerFast, messages: list[dict], add_generation_prompt: bool
) -> None:
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    assert rendered == render_tulu(messages, "</s>", add_generation_prompt)


def test_whole_string_is_stripped_when_last_turn_is_user(tokenizer: PreTrainedTokenizerFast) -> None:
    assert tokenizer.apply_chat_template(EDGE_CASES[0], tokenize=False) == "<|user|>\nonly a user turn"
    assert tokenizer.apply_chat_template(EDGE_CASES[1], tokenize=False) == "<|user|>"


def test_unknown_role_is_rejected(tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(ValueError):
        render_tulu([{"role": "tool", "content": "x"}], "</s>")
    with pytest.raises(Exception, match="no role tool"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_encoder_trains_assistant_content_eos_and_newline(tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_with_labels(tokenizer, CONVERSATION)
    assert tokenizer.decode(encoded["input_ids"]) == EXPECTED_TEXT
    assert trained_runs(tokenizer, encoded["input_ids"], encoded["labels"]) == EXPECTED_TRAINED
    masked_text = tokenizer.decode(
        [t for t, lab in zip(encoded["input_ids"], encoded["labels"], strict=True) if lab == IGNORE_INDEX]
    )
    # Everything else is masked, including each "<|assistant|>\n" header. This tokenizer has no BOS.
    assert masked_text == (
        "<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\n"
        "<|system|>\nNow answer in French.\n<|user|>\nBye\n<|assistant|>\n"
    )


def test_template_mask_agrees_with_encoder(tokenizer: PreTrainedTokenizerFast) -> None:
    conversations = [CONVERSATION, *EDGE_CASES[2:], *(row["messages"] for row in sft_rows(12))]
    for messages in conversations:
        templated = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        encoded = encode_with_labels(tokenizer, messages)
        assert list(templated["input_ids"]) == encoded["input_ids"]
        template_mask = list(templated["assistant_masks"])
        encoder_mask = [int(label != IGNORE_INDEX) for label in encoded["labels"]]
        assert template_mask == encoder_mask, messages


def test_metaspace_tokenizer_template_and_encoder_agree(metaspace_tokenizer: PreTrainedTokenizerFast) -> None:
    conversations = [CONVERSATION, *EDGE_CASES[2:], *(row["messages"] for row in sft_rows(8))]
    for messages in conversations:
        templated = metaspace_tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        encoded = encode_with_labels(metaspace_tokenizer, messages)
        assert list(templated["input_ids"]) == encoded["input_ids"]
        assert list(templated["assistant_masks"]) == [
            int(label != IGNORE_INDEX) for label in encoded["labels"]
        ]
    encoded = encode_with_labels(metaspace_tokenizer, CONVERSATION)
    runs = trained_runs(metaspace_tokenizer, encoded["input_ids"], encoded["labels"])
    assert [run.strip() for run in runs] == [run.strip() for run in EXPECTED_TRAINED]


def test_trl_sees_generation_markers_and_a_trained_stop_token(tokenizer: PreTrainedTokenizerFast) -> None:
    assert has_generation_markers(tokenizer.chat_template)
    assert is_chat_template_stop_token_trained(tokenizer)


def test_truncation_keeps_the_start(tokenizer: PreTrainedTokenizerFast) -> None:
    full = encode_with_labels(tokenizer, CONVERSATION)
    short = encode_with_labels(tokenizer, CONVERSATION, max_length=5)
    assert short["input_ids"] == full["input_ids"][:5]
    assert short["labels"] == full["labels"][:5]
    assert all(label == IGNORE_INDEX for label in short["labels"])  # only the system turn fits


def test_prompt_encoding_is_a_prefix_of_the_conversation(tokenizer: PreTrainedTokenizerFast) -> None:
    prompt_ids = encode_prompt(tokenizer, CONVERSATION[:5])
    assert tokenizer.decode(prompt_ids).endswith("<|user|>\nBye\n<|assistant|>\n")
    assert encode_with_labels(tokenizer, CONVERSATION)["input_ids"][: len(prompt_ids)] == prompt_ids


def test_preference_pairs_split_into_prompt_and_replies() -> None:
    row = preference_rows(1)[0]
    prompt, chosen, rejected = split_preference_pair(row["chosen"], row["rejected"])
    assert prompt == row["chosen"][:-1]
    assert chosen.startswith("Sure!") and rejected == "No. No. No."
    with pytest.raises(ValueError):
        split_preference_pair(row["chosen"], [{"role": "user", "content": "other"}, row["rejected"][-1]])


def test_prompt_turns_from_every_row_format() -> None:
    user = {"role": "user", "content": "q"}
    assert prompt_messages({"prompt": [user]}) == [user]
    assert prompt_messages({"chosen": [user, {"role": "assistant", "content": "a"}], "rejected": []}) == [
        user
    ]
    multi = [user, {"role": "assistant", "content": "a"}, user, {"role": "assistant", "content": "b"}]
    assert prompt_messages({"messages": multi}) == multi[:3]


def test_preference_ids_keep_in_context_tokens_for_sentencepiece_style_tokenizers(
    metaspace_tokenizer: PreTrainedTokenizerFast, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply tokenized alone would start with a word-start marker it never has after "<|assistant|>\\n";
    cached DPO/RM ids must equal the one-pass tokenization that SFT trains on and PPO generates."""
    monkeypatch.setenv("TULU_DATA_CACHE", str(tmp_path))
    pairs = preference_rows(6)
    dpo_rows = tokenize_cached(Dataset.from_list(pairs), "dpo", metaspace_tokenizer, 512, "pairs")
    rm_rows = tokenize_cached(Dataset.from_list(pairs), "rm", metaspace_tokenizer, 512, "pairs")
    assert dpo_rows.stats["prompt_reply_boundary_merges"] == 0
    for pair, dpo_row, rm_row in zip(pairs, dpo_rows.dataset, rm_rows.dataset, strict=True):
        for side in ("chosen", "rejected"):
            one_pass = encode_with_labels(metaspace_tokenizer, pair[side])["input_ids"]
            assert dpo_row["prompt_ids"] + dpo_row[f"{side}_ids"] == one_pass
            assert rm_row[f"{side}_ids"] == one_pass
        assert dpo_row["prompt_ids"] == encode_prompt(metaspace_tokenizer, pair["chosen"][:-1])
    alone = metaspace_tokenizer("No. No. No.</s>", add_special_tokens=False)["input_ids"]
    assert dpo_rows.dataset[0]["rejected_ids"] != alone  # the difference this guards against
