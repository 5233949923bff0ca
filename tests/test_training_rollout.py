"""PPO rollouts: scoring forwards in micro-batches give the unbatched numbers; generation runs in bf16."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datasets import Dataset

from training.modeling import (
    build_tiny_causal_lm,
    build_tiny_reward_model,
    build_tiny_tokenizer,
    conversation_texts,
)
from training.ppo import PolicyAndValue, PPOConfig, PPOTrainer, tokenize_prompts
from training.rollout import ScoringModels, sample_responses, score_rollout
from training.synthetic import prompt_rows, sft_rows

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(conversation_texts(sft_rows(32) + prompt_rows(32)))


@pytest.fixture(scope="module")
def prompts(tokenizer) -> Dataset:
    kept, _ = tokenize_prompts(Dataset.from_list(prompt_rows(8, seed=3)), tokenizer, 256)
    return kept


def trainer_for(tokenizer, prompts: Dataset, tmp_path: Path, **settings) -> PPOTrainer:
    config = PPOConfig(
        mix="unused", model="tiny", reward_model="tiny", rollout_batch_size=8, max_response_length=12,
        output_dir=str(tmp_path / "out"), use_cpu=True, **settings,
    )  # fmt: skip
    return PPOTrainer(
        config,
        build_tiny_causal_lm(tokenizer, seed=1),
        build_tiny_causal_lm(tokenizer, seed=2),
        build_tiny_reward_model(tokenizer, seed=3),
        build_tiny_reward_model(tokenizer, seed=4),
        tokenizer,
        prompts,
    )


def test_micro_batched_scoring_equals_one_forward(tokenizer, prompts: Dataset) -> None:
    models = ScoringModels(
        PolicyAndValue(build_tiny_causal_lm(tokenizer, seed=1), build_tiny_reward_model(tokenizer, seed=4)),
        build_tiny_causal_lm(tokenizer, seed=2),
        build_tiny_reward_model(tokenizer, seed=3),
    )
    torch.manual_seed(0)
    queries, query_mask, responses, mask, _ = sample_responses(
        models.policy_and_value.policy, tokenizer, [list(p) for p in prompts["prompt_ids"]], 12, 0.7
    )
    input_ids, attention_mask = torch.cat([queries, responses], 1), torch.cat([query_mask, mask], 1)
    whole = score_rollout(models, input_ids, attention_mask, responses, mask, 0.7, micro_batch_size=0)
    assert whole.logprobs.shape == responses.shape and whole.scores.shape == (8,)
    for size in (1, 3):  # 3 leaves a short last micro-batch
        parts = score_rollout(models, input_ids, attention_mask, responses, mask, 0.7, micro_batch_size=size)
        for name in ("logprobs", "ref_logprobs", "values", "scores"):
            torch.testing.assert_close(getattr(parts, name), getattr(whole, name), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(whole.logprobs, whole.ref_logprobs)  # the four models really differ


def test_rollout_flag_gives_the_same_experience(tokenizer, prompts: Dataset, tmp_path: Path) -> None:
    batches = []
    for size in (0, 2):
        trainer = trainer_for(tokenizer, prompts, tmp_path, rollout_forward_batch_size=size)
        torch.manual_seed(0)
        batches.append(trainer.rollout([list(p) for p in prompts["prompt_ids"]]))
    whole, micro = batches
    assert torch.equal(whole.responses, micro.responses)
    for name in ("logprobs", "values", "advantages", "returns"):
        torch.testing.assert_close(getattr(micro, name), getattr(whole, name), atol=1e-5, rtol=1e-5)
    assert whole.stats["time/generation"] > 0 and whole.stats["generated_tokens"] == whole.mask.sum().item()


@pytest.fixture
def fresh_accelerator_state():
    """accelerate keeps one process-wide state; a bf16 run needs it fresh, and later tests need it gone."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.usefixtures("fresh_accelerator_state")
def test_generation_runs_in_bf16_under_bf16(tokenizer, prompts: Dataset, tmp_path: Path) -> None:
    trainer = trainer_for(tokenizer, prompts, tmp_path, bf16=True)
    seen: list[torch.dtype] = []
    hook = trainer.policy.lm_head.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    torch.manual_seed(0)
    batch = trainer.rollout([list(p) for p in prompts["prompt_ids"]])
    hook.remove()
    steps = batch.responses.shape[1]
    assert len(seen) >= steps and set(seen) == {torch.bfloat16}  # every decoding step, and the scoring pass
    assert (
        trainer.policy.lm_head.weight.dtype == torch.float32
    )  # the trained weights stay the fp32 master copy
    assert trainer.ref_policy.lm_head.weight.dtype == torch.bfloat16
    assert trainer.reward_model.score.weight.dtype == torch.bfloat16
