"""Reward-model training end to end on CPU, and PPO loading the saved reward model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from training import ppo, rm
from training.synthetic import preference_rows, write_preferences

pytestmark = pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")


def score(model: torch.nn.Module, tokenizer, conversation: list[dict]) -> float:
    input_ids = tokenizer.apply_chat_template(conversation, return_tensors="pt", return_dict=True)[
        "input_ids"
    ]
    with torch.no_grad():
        return model(input_ids=input_ids).logits[0, 0].item()


def test_reward_model_ranks_chosen_first_and_ppo_loads_it(tmp_path: Path) -> None:
    folder = write_preferences(tmp_path / "pairs", count=32)
    run = rm.main(
        [
            "--mix", str(folder),
            "--model", "tiny",
            "--output_dir", str(tmp_path / "rm"),
            "--learning_rate", "1e-3",
            "--num_train_epochs", "3",
            "--effective_batch_size", "0",
            "--per_device_train_batch_size", "8",
            "--max_length", "128",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(run.output_dir)
    reward_model = AutoModelForSequenceClassification.from_pretrained(run.output_dir)
    assert reward_model.config.num_labels == 1
    margins = [
        score(reward_model, tokenizer, row["chosen"]) - score(reward_model, tokenizer, row["rejected"])
        for row in preference_rows(32)
    ]
    assert sum(margins) / len(margins) > 0.5
    assert sum(margin > 0 for margin in margins) / len(margins) >= 0.9

    # PPO reads the reward model back (and initialises the value model from it); prompts are taken from the
    # preference rows' shared turns. A tiny policy shares the reward model's tokenizer.
    ppo_run = ppo.main(
        [
            "--mix", str(folder),
            "--model", "tiny",
            "--reward_model", str(run.output_dir),
            "--output_dir", str(tmp_path / "ppo"),
            "--rollout_batch_size", "4",
            "--max_steps", "2",
            "--max_response_length", "8",
        ]
    )  # fmt: skip
    assert [entry["step"] for entry in ppo_run.history] == [1, 2]
    assert ppo_run.prompt_stats["kept"] == 32
    assert AutoModelForCausalLM.from_pretrained(ppo_run.output_dir).config.vocab_size == len(tokenizer)
    value_model = AutoModelForSequenceClassification.from_pretrained(ppo_run.output_dir / "value_model")
    assert value_model.config.num_labels == 1
