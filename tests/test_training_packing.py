"""Padding-free SFT and DPO batches are exact: per-sequence losses and gradients equal the padded ones."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch
from trl.trainer.dpo_trainer import DataCollatorForPreference
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling
from trl.trainer.utils import add_fused_lm_head

from training import dpo, sft
from training.chat_format import IGNORE_INDEX, encode_batch_with_labels
from training.data import _encode_preference
from training.modeling import build_tiny_causal_lm, build_tiny_tokenizer, conversation_texts
from training.packing import add_padding_free_forward, packed_attention_is_isolated, padding_free_decision
from training.synthetic import preference_rows, sft_rows, write_preferences, write_sft

pytestmark = pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")

FIELDS = ("log_probs", "entropy", "mean_logits", "is_top1", "label_mask")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(conversation_texts(sft_rows(32) + preference_rows(32)))


def sequence_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss of one sequence (``[tokens, vocab]`` logits, ``[tokens]`` labels)."""
    return torch.nn.functional.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORE_INDEX)


def gradients(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def test_installed_attention_keeps_packed_sequences_apart() -> None:
    assert packed_attention_is_isolated("sdpa") and packed_attention_is_isolated("eager")
    assert not packed_attention_is_isolated("no_such_attention")  # cannot be checked: not trusted


def test_decision_falls_back_or_refuses(tokenizer, caplog: pytest.LogCaptureFixture) -> None:
    model = build_tiny_causal_lm(tokenizer)
    assert padding_free_decision(None, model) and padding_free_decision(True, model)
    assert not padding_free_decision(False, model)
    assert not padding_free_decision(None, model, sequences_per_batch=1)  # nothing to remove
    assert padding_free_decision(True, model, sequences_per_batch=1)  # asked for: allowed, it is exact
    model.config._attn_implementation = "no_such_attention"
    with caplog.at_level(logging.WARNING, logger="training.packing"):
        assert not padding_free_decision(None, model)
    assert "padded batches instead" in caplog.text and "attend to each other" in caplog.text
    with pytest.raises(ValueError, match="would mix sequences"):
        padding_free_decision(True, model)
    with pytest.raises(ValueError, match="not possible here"):
        padding_free_decision(True, build_tiny_causal_lm(tokenizer), "a reason")


def test_sft_packed_batch_equals_padded(tokenizer) -> None:
    encoded = encode_batch_with_labels(tokenizer, [row["messages"] for row in sft_rows(6, seed=1)], 128)
    lengths = [len(e["input_ids"]) for e in encoded]
    assert len(set(lengths)) > 1  # the padded batch really has padding
    packed = DataCollatorForLanguageModeling(tokenizer.pad_token_id, padding_free=True)(encoded)
    padded = DataCollatorForLanguageModeling(tokenizer.pad_token_id)(encoded)
    assert "attention_mask" not in packed and packed["input_ids"].shape == (1, sum(lengths))
    # label masks: exactly the encoder's, sequence after sequence
    assert packed["labels"][0].tolist() == [label for e in encoded for label in e["labels"]]

    model = build_tiny_causal_lm(tokenizer)
    model.config.use_cache = False
    results = []
    for batch in (packed, padded):
        model.zero_grad()
        logits = model(**batch).logits
        if batch is packed:
            pieces = logits[0].split(lengths)
            labels = batch["labels"][0].split(lengths)
        else:
            pieces = [logits[row, :length] for row, length in enumerate(lengths)]
            labels = [batch["labels"][row, :length] for row, length in enumerate(lengths)]
        losses = torch.stack([sequence_losses(lg, lb) for lg, lb in zip(pieces, labels, strict=True)])
        losses.sum().backward()
        results.append((losses.detach(), gradients(model)))
    (packed_losses, packed_grads), (padded_losses, padded_grads) = results
    torch.testing.assert_close(packed_losses, padded_losses, atol=1e-5, rtol=1e-5)
    for a, b in zip(packed_grads, padded_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_sft_entry_point_trains_padding_free_and_keeps_max_length(tmp_path: Path) -> None:
    folder = write_sft(tmp_path / "sft_data", count=16)
    run = sft.main(
        [
            "--mix", str(folder), "--model", "tiny", "--output_dir", str(tmp_path / "out"),
            "--effective_batch_size", "0", "--per_device_train_batch_size", "8", "--max_length", "128",
            "--max_steps", "1", "--save_strategy", "no", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    trainer = run.trainer
    assert trainer.args.padding_free and trainer.data_collator.padding_free
    assert trainer.args.max_length == 128  # shown to trl as None only while it was built
    rows = [trainer.train_dataset[i] for i in range(8)]
    model = trainer.model
    losses = []
    for padding_free in (True, False):
        batch = DataCollatorForLanguageModeling(
            trainer.processing_class.pad_token_id, padding_free=padding_free
        )(rows)
        model.zero_grad()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        losses.append((loss.detach(), gradients(model)))
    torch.testing.assert_close(losses[0][0], losses[1][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(losses[0][1], losses[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def dpo_batch(tokenizer, count: int = 4) -> dict[str, torch.Tensor]:
    rows = preference_rows(count, seed=2)
    columns = _encode_preference(
        {"chosen": [r["chosen"] for r in rows], "rejected": [r["rejected"] for r in rows]}, tokenizer, "dpo"
    )
    examples = [
        {name: columns[name][i] for name in ("prompt_ids", "chosen_ids", "rejected_ids")}
        for i in range(count)
    ]
    return DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)(examples)


def test_dpo_padding_free_forward_equals_padded(tokenizer) -> None:
    batch = dpo_batch(tokenizer)
    assert (batch["attention_mask"] == 0).any()
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, IGNORE_INDEX)
    padded_model = build_tiny_causal_lm(tokenizer)
    add_fused_lm_head(padded_model, outputs=FIELDS[:4])  # as trl's DPOTrainer does
    free_model = add_padding_free_forward(copy.deepcopy(padded_model))
    calls = []
    free_model.model.register_forward_pre_hook(
        lambda m, a, kw: calls.append(kw["input_ids"].shape), with_kwargs=True
    )
    outputs, grads = [], []
    for model in (padded_model, free_model):
        out = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
            use_cache=False, fused_lm_head=True,
        )  # fmt: skip
        out.log_probs.sum(dim=1).sum().backward()  # per-sequence log-probabilities, as DPO sums them
        outputs.append(out)
        grads.append(gradients(model))
    assert calls == [torch.Size([1, int(batch["attention_mask"].sum())])]  # one row, no padding
    padded, free = outputs
    for name in FIELDS:
        torch.testing.assert_close(getattr(free, name), getattr(padded, name), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(free.log_probs.sum(1), padded.log_probs.sum(1), atol=1e-5, rtol=1e-5)
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_dpo_entry_point_trains_padding_free(tmp_path: Path) -> None:
    folder = write_preferences(tmp_path / "pairs", count=8)
    run = dpo.main(
        [
            "--mix", str(folder), "--model", "tiny", "--output_dir", str(tmp_path / "out"),
            "--effective_batch_size", "0", "--per_device_train_batch_size", "4", "--max_steps", "1",
            "--save_strategy", "no", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    trainer = run.trainer
    assert trainer.args.padding_free and not trainer.padding_free  # ours on, trl's own off
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    wrapped = trainer.model.forward
    with torch.no_grad():
        free_loss = trainer.compute_loss(trainer.model, batch)
        trainer.model.forward = wrapped.__wrapped__  # trl's own forward: the padded batch as it is
        padded_loss = trainer.compute_loss(trainer.model, batch)
        trainer.model.forward = wrapped
    torch.testing.assert_close(free_loss, padded_loss, atol=1e-5, rtol=1e-5)
