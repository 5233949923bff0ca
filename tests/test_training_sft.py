"""SFT end to end on a tiny model on CPU: it learns, saves a checkpoint that loads, and reuses its cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training import sft
from training.chat_format import IGNORE_INDEX, encode_batch_with_labels, tulu_template
from training.data import TOKENIZATION_RUNS
from training.modeling import build_tiny_causal_lm
from training.synthetic import sft_rows, write_sft

pytestmark = pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")

TINY_FLAGS = [
    "--model", "tiny",
    "--effective_batch_size", "0",
    "--per_device_train_batch_size", "8",
    "--max_length", "128",
    "--save_strategy", "no",
    "--logging_steps", "5",
    "--disable_tqdm", "true",
    "--seed", "42",
]  # fmt: skip


def batch_loss(model: torch.nn.Module, tokenizer, conversations: list[list[dict]]) -> float:
    """Mean token loss of a fixed batch (assistant tokens only), right-padded."""
    encoded = encode_batch_with_labels(tokenizer, conversations, max_length=128)
    width = max(len(e["input_ids"]) for e in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    labels = torch.full((len(encoded), width), IGNORE_INDEX)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        input_ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        labels[row, : len(e["labels"])] = torch.tensor(e["labels"])
        attention_mask[row, : len(e["input_ids"])] = 1
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.item()


def test_sft_lowers_loss_and_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    folder = write_sft(tmp_path / "sft_data", count=32)
    run = sft.main(
        [
            "--mix",
            str(folder),
            "--output_dir",
            str(tmp_path / "out"),
            "--learning_rate",
            "3e-3",
            "--num_train_epochs",
            "5",
        ]
        + TINY_FLAGS
    )
    tokenizer = AutoTokenizer.from_pretrained(run.output_dir)
    trained = AutoModelForCausalLM.from_pretrained(run.output_dir)
    initial = build_tiny_causal_lm(
        tokenizer, seed=42
    )  # the same tokenizer and seed rebuild the starting model
    fixed_batch = [row["messages"] for row in sft_rows(32)[:8]]
    before, after = batch_loss(initial, tokenizer, fixed_batch), batch_loss(trained, tokenizer, fixed_batch)
    assert after < before - 1.0, (before, after)

    assert tokenizer.chat_template == tulu_template()
    assert tokenizer.eos_token == "</s>" and tokenizer.pad_token == "<pad>"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What colour is the cat?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    generated = trained.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    assert (run.output_dir / "tulu_data_stats.json").is_file()
    assert run.tokenized is not None and run.tokenized.stats["kept"] == 32


def test_second_run_reuses_tokenized_data(tmp_path: Path) -> None:
    folder = write_sft(tmp_path / "sft_data", count=16)
    flags = ["--mix", str(folder), "--max_steps", "1", *TINY_FLAGS]
    runs_before = TOKENIZATION_RUNS["sft"]
    first = sft.main([*flags, "--output_dir", str(tmp_path / "a")])
    second = sft.main([*flags, "--output_dir", str(tmp_path / "b")])
    assert TOKENIZATION_RUNS["sft"] == runs_before + 1
    assert not first.tokenized.cache_hit and second.tokenized.cache_hit
    third = sft.main([*flags, "--output_dir", str(tmp_path / "c"), "--max_length", "64"])
    assert not third.tokenized.cache_hit and TOKENIZATION_RUNS["sft"] == runs_before + 2


def test_trl_template_path_masks_like_the_encoder(tmp_path: Path) -> None:
    """Without --pretokenize, trl tokenizes with our template and assistant_only_loss: same ids and labels."""
    folder = write_sft(tmp_path / "sft_data", count=12)
    flags = ["--mix", str(folder), "--max_steps", "1", *TINY_FLAGS]
    ours = sft.main([*flags, "--output_dir", str(tmp_path / "ours")])
    via_trl = sft.main([*flags, "--output_dir", str(tmp_path / "trl"), "--pretokenize", "false"])
    assert via_trl.trainer.args.assistant_only_loss
    our_rows = ours.trainer.train_dataset
    trl_rows = via_trl.trainer.train_dataset
    assert len(our_rows) == len(trl_rows) == 12
    for ours_row, trl_row in zip(our_rows, trl_rows, strict=True):
        assert trl_row["input_ids"] == ours_row["input_ids"]
        assert trl_row["labels"] == ours_row["labels"]
