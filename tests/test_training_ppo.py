"""PPO end to end on CPU: a tiny SFT policy learns to say what a (real, loaded) reward model prefers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from training import ppo, sft
from training.modeling import build_token_rate_reward_model
from training.ppo import PPOConfig, PPOTrainer, sample_responses, tokenize_prompts, truncate_after_eos
from training.synthetic import write_prompts, write_sft

pytestmark = pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")

TARGET_WORD = " blue"  # one of six colours the SFT data answers with


@pytest.fixture(scope="module")
def sft_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny policy fine-tuned to answer "The <animal> is <colour>." (Tulu 2.5: PPO starts from SFT)."""
    root = tmp_path_factory.mktemp("ppo_sft")
    folder = write_sft(root / "sft_data", count=64)
    run = sft.main(
        [
            "--mix", str(folder),
            "--model", "tiny",
            "--output_dir", str(root / "policy"),
            "--learning_rate", "3e-3",
            "--num_train_epochs", "10",
            "--effective_batch_size", "0",
            "--per_device_train_batch_size", "8",
            "--max_length", "128",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    return run.output_dir


def target_token(tokenizer) -> int:
    ids = tokenizer(TARGET_WORD, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, ids
    return ids[0]


def target_rate(policy_dir: Path, tokenizer, prompt_ids: list[list[int]], token: int) -> float:
    """Share of sampled response tokens that are the target token (seeded sampling, temperature 0.7)."""
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    torch.manual_seed(0)
    _, _, responses, mask, _ = sample_responses(model, tokenizer, prompt_ids * 4, 16, 0.7)
    return ((responses == token) & (mask == 1)).sum().item() / mask.sum().item()


def test_token_rate_reward_model_prefers_the_target(sft_policy: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(sft_policy)
    token = target_token(tokenizer)
    model = build_token_rate_reward_model(tokenizer, token)
    other = tokenizer(" red", add_special_tokens=False)["input_ids"][0]
    prompt = tokenizer("<|user|>\nhi\n<|assistant|>\n", add_special_tokens=False)["input_ids"]
    scores = []
    for count in range(4):
        ids = torch.tensor([prompt + [token] * count + [other] * (3 - count)])
        with torch.no_grad():
            scores.append(model(input_ids=ids).logits[0, 0].item())
    assert scores == sorted(scores) and scores[-1] - scores[0] > 1.0, scores


def test_truncate_after_eos_masks_the_tail() -> None:
    eos, pad = 1, 0
    responses = torch.tensor([[5, 6, eos, 7, 8], [5, 6, 7, 8, 9], [eos, 4, 4, 4, 4]])
    cut, mask, ends_with_eos = truncate_after_eos(responses, eos, pad)
    assert cut.tolist() == [[5, 6, eos, pad, pad], [5, 6, 7, 8, 9], [eos, pad, pad, pad, pad]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert ends_with_eos.tolist() == [True, False, True]


def test_missing_eos_is_penalised(sft_policy: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(sft_policy)
    reward_model = build_token_rate_reward_model(tokenizer, target_token(tokenizer))
    prompts, _ = tokenize_prompts(
        load_dataset(str(write_prompts(tmp_path / "prompts", 8)))["train"], tokenizer, 256
    )
    scores = {}
    for penalty in (0.0, 10.0):
        config = PPOConfig(
            mix="unused", model=str(sft_policy), reward_model="unused", rollout_batch_size=8,
            max_response_length=2, missing_eos_penalty=penalty, output_dir=str(tmp_path / "out"),
        )  # fmt: skip
        policy = AutoModelForCausalLM.from_pretrained(sft_policy)
        trainer = PPOTrainer(
            config, policy, AutoModelForCausalLM.from_pretrained(sft_policy), reward_model,
            build_token_rate_reward_model(tokenizer, 0), tokenizer, prompts,
        )  # fmt: skip
        torch.manual_seed(0)
        rollout = trainer.rollout([list(ids) for ids in prompts["prompt_ids"]])
        scores[penalty] = (rollout.stats["score"], rollout.stats["ends_with_eos"])
    (unpenalised, eos_share), (penalised, same_share) = scores[0.0], scores[10.0]
    assert eos_share == same_share < 1.0  # two tokens are too few for "The cat is red.</s>"
    assert penalised == pytest.approx(unpenalised - 10.0 * (1.0 - eos_share), abs=1e-4)


def test_ppo_raises_the_rate_of_the_rewarded_token(sft_policy: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(sft_policy)
    token = target_token(tokenizer)
    reward_dir = tmp_path / "token_rate_rm"
    reward_model = build_token_rate_reward_model(tokenizer, token)
    reward_model.config.pad_token_id = tokenizer.pad_token_id
    reward_model.save_pretrained(reward_dir)
    tokenizer.save_pretrained(reward_dir)

    prompt_folder = write_prompts(tmp_path / "prompts", count=64)  # ultrafeedback_prompts row format
    prompts, _ = tokenize_prompts(load_dataset(str(prompt_folder))["train"], tokenizer, 256)
    prompt_ids = [list(ids) for ids in prompts["prompt_ids"]]
    before = target_rate(sft_policy, tokenizer, prompt_ids, token)

    run = ppo.main(
        [
            "--mix", str(prompt_folder),
            "--model", str(sft_policy),
            "--reward_model", str(reward_dir),
            "--output_dir", str(tmp_path / "ppo"),
            "--learning_rate", "1e-3",
            "--rollout_batch_size", "16",
            "--max_steps", "40",
            "--max_response_length", "16",
            "--logging_steps", "10",
        ]
    )  # fmt: skip
    after = target_rate(run.output_dir, tokenizer, prompt_ids, token)
    print(f"target rate before {before:.3f} after {after:.3f}")
    assert after > before, (before, after)
    assert after > 2 * before + 0.02, (before, after)
    assert run.history[-1]["score"] > run.history[0]["score"]
    assert (run.output_dir / "ppo_log.jsonl").read_text().count("\n") == 4
    assert json.loads((run.output_dir / "tulu_data_stats.json").read_text())["kept"] == 64
    value_model = AutoModelForSequenceClassification.from_pretrained(run.output_dir / "value_model")
    assert value_model.config.num_labels == 1
