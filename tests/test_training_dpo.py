"""DPO end to end on a tiny model on CPU: chosen replies end up with a higher implicit reward."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training import dpo
from training.chat_format import encode_completion, encode_prompt, split_preference_pair
from training.data import load_mix, select_split
from training.modeling import build_tiny_causal_lm
from training.synthetic import preference_rows, write_preferences

pytestmark = pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")

BETA = 0.1


def reply_logprob(model: torch.nn.Module, prompt_ids: list[int], reply_ids: list[int]) -> float:
    """Sum of log-probabilities of the reply tokens given the prompt."""
    input_ids = torch.tensor([prompt_ids + reply_ids])
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0, len(prompt_ids) - 1 : -1]
    return torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(reply_ids).unsqueeze(1)).sum().item()


def implicit_reward_margins(output_dir: Path, rows: list[dict]) -> list[float]:
    """beta * (log pi/pi_ref)(chosen) - beta * (log pi/pi_ref)(rejected) for each training pair."""
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    policy = AutoModelForCausalLM.from_pretrained(output_dir)
    reference = build_tiny_causal_lm(tokenizer, seed=42)  # the frozen starting point
    margins = []
    for row in rows:
        prompt, chosen, rejected = split_preference_pair(row["chosen"], row["rejected"])
        prompt_ids = encode_prompt(tokenizer, prompt)
        rewards = []
        for reply in (chosen, rejected):
            reply_ids = encode_completion(tokenizer, reply)
            rewards.append(
                BETA
                * (
                    reply_logprob(policy, prompt_ids, reply_ids)
                    - reply_logprob(reference, prompt_ids, reply_ids)
                )
            )
        margins.append(rewards[0] - rewards[1])
    return margins


def test_dpo_puts_chosen_above_rejected(tmp_path: Path) -> None:
    folder = write_preferences(tmp_path / "pairs", count=32)
    run = dpo.main(
        [
            "--mix", str(folder),
            "--model", "tiny",
            "--output_dir", str(tmp_path / "out"),
            "--learning_rate", "1e-3",
            "--num_train_epochs", "3",
            "--beta", str(BETA),
            "--effective_batch_size", "0",
            "--per_device_train_batch_size", "8",
            "--max_length", "128",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(run.output_dir)
    policy = AutoModelForCausalLM.from_pretrained(run.output_dir)
    reference = build_tiny_causal_lm(tokenizer, seed=42)  # the frozen starting point
    margins = []
    for row in preference_rows(32):
        prompt, chosen, rejected = split_preference_pair(row["chosen"], row["rejected"])
        prompt_ids = encode_prompt(tokenizer, prompt)
        rewards = []
        for reply in (chosen, rejected):
            reply_ids = encode_completion(tokenizer, reply)
            rewards.append(
                BETA
                * (
                    reply_logprob(policy, prompt_ids, reply_ids)
                    - reply_logprob(reference, prompt_ids, reply_ids)
                )
            )
        margins.append(rewards[0] - rewards[1])
    assert sum(margins) / len(margins) > 0.2
    assert sum(margin > 0 for margin in margins) / len(margins) >= 0.9
    assert run.tokenized is not None and run.tokenized.stats["kept"] == 32


def catalog_has(name: str) -> bool:
    """Whether tulu_data's catalog can build ``name`` (it lands in stages)."""
    if importlib.util.find_spec("tulu_data.build") is None:
        return False
    from tulu_data.catalog import load_catalog

    return name in load_catalog().datasets


@pytest.mark.skipif(
    not catalog_has("ultrafeedback_mean_aspects"), reason="tulu_data cannot build uf_mean yet"
)
def test_dpo_on_the_uf_mean_mixture_built_from_samples(tmp_path: Path) -> None:
    builds = tmp_path / "builds"
    run = dpo.main(
        [
            "--mix", "uf_mean",
            "--sources", "samples",
            "--builds_dir", str(builds),
            "--model", "tiny",
            "--output_dir", str(tmp_path / "out"),
            "--learning_rate", "1e-3",
            "--num_train_epochs", "4",
            "--beta", str(BETA),
            "--effective_batch_size", "0",
            "--per_device_train_batch_size", "4",
            "--max_length", "512",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    assert (builds / "uf_mean" / "manifest.json").is_file()
    rows = list(select_split(load_mix("uf_mean", "samples", builds).datasets, "train"))
    assert run.tokenized is not None and run.tokenized.stats["rows"] == len(rows) > 0
    margins = implicit_reward_margins(run.output_dir, rows)
    assert sum(margins) / len(margins) > 0
    assert sum(margin > 0 for margin in margins) / len(margins) >= 0.8


def test_trl_tokenization_matches_the_cached_pairs(tmp_path: Path) -> None:
    """Without --pretokenize, trl tokenizes the pairs through our template: same prompt and reply ids."""
    folder = write_preferences(tmp_path / "pairs", count=8)
    flags = [
        "--mix", str(folder), "--model", "tiny", "--max_steps", "1", "--effective_batch_size", "0",
        "--per_device_train_batch_size", "4", "--max_length", "128", "--save_strategy", "no", "--disable_tqdm", "true",
    ]  # fmt: skip
    ours = dpo.main([*flags, "--output_dir", str(tmp_path / "ours")]).trainer.train_dataset
    via_trl = dpo.main(
        [*flags, "--output_dir", str(tmp_path / "trl"), "--pretokenize", "false"]
    ).trainer.train_dataset
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert via_trl[column][:] == ours[column][:], column
