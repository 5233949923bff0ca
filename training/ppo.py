"""PPO with the Tulu 2.5 recipe (trl no longer ships a PPO trainer), run under accelerate.

    python -m training.ppo --mix ultrafeedback_prompts --model runs/sft-tulu_v2_sft_mixture \\
        --reward_model runs/rm-preference_big_mixture
    accelerate launch --config_file training/accelerate/ddp.yaml -m training.ppo ...

One step: sample one response per prompt from the policy (temperature 0.7); score prompt + response
with the frozen reward model at its last token, minus a penalty when the response has no eos; add a
per-token KL penalty against the frozen reference; estimate advantages with GAE (gamma 1, lambda 0.95)
from the value model (initialised from the reward model unless ``--value_model``); whiten advantages;
one PPO epoch of clipped policy and value losses (clip 0.2 each, value coefficient 0.1).

Prompts come from a prompt dataset (``prompt`` column, as in ``ultrafeedback_prompts``), or from the
prompt turns of preference or SFT rows. The math lives in ``training.ppo_math``; the settings in
``training.ppo_config``. Past one process: ``--sharding ddp|fsdp`` (``training.ppo_sharding``), the same
rollouts on any number of processes (``training.sampling``, ``training.ppo_batches``), checkpoints that
resume (``training.ppo_checkpoint``); ``--engine verl --export DIR`` writes a verl run instead
(``training.engines.verl``).
"""

from __future__ import annotations

from .front_door import help_before_imports, prog, run_entry

help_before_imports(__name__, "ppo")  # `--help` answers here, before torch is imported

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DistributedType
from datasets import Dataset
from torch import nn
from transformers import HfArgumentParser, PreTrainedModel, get_scheduler, set_seed

from .common import end_distributed, load_training_rows, setup_logging
from .front_door import TrainingInputError
from .modeling import load_causal_lm, load_reward_model
from .ppo_batches import PromptOrder
from .ppo_checkpoint import load_training_state, save_models, save_training_state, write_rollout
from .ppo_config import PPOConfig
from .ppo_math import compute_rewards_with_kl, gae, policy_loss, value_loss, whiten
from .ppo_prompts import (  # noqa: F401  (tokenize_prompts re-exported)
    check_same_vocabulary,
    load_policy_tokenizer,
    tokenize_prompts,
)
from .ppo_sharding import (
    device_mesh,
    is_distributed,
    shard_frozen,
    shard_trained,
    sum_over_processes,
)
from .precision import frozen_dtype
from .preflight import require_rows
from .rollout import (  # noqa: F401  (re-exported: the rollout helpers' historical home)
    ScoringModels,
    left_pad,
    positions,
    response_logprobs,
    sample_responses,
    score_rollout,
    stopwatch,
    token_scores,
    truncate_after_eos,
)
from .sampling import row_keys

logger = logging.getLogger("training.ppo")


class PolicyAndValue(nn.Module):
    """The two trained models in one module, so accelerate wraps, syncs and saves them together."""

    def __init__(self, policy: PreTrainedModel, value_model: PreTrainedModel) -> None:
        super().__init__()
        self.policy = policy
        self.value_model = value_model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.policy(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).logits
        values = token_scores(self.value_model, input_ids, attention_mask, position_ids)
        return logits, values


def disable_dropout(model: nn.Module) -> None:
    """Dropout off, so rollout and update log-probabilities agree."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


@dataclass
class Rollout:
    """One batch of experience, all tensors on the training device."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    responses: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    scores: torch.Tensor
    stats: dict[str, float]

    def select(self, rows: slice) -> Rollout:
        """A slice of the batch (stats are kept whole)."""
        tensors = {name: getattr(self, name)[rows] for name in self.__dataclass_fields__ if name != "stats"}
        return Rollout(**tensors, stats=self.stats)


class PPOTrainer:
    """The Tulu 2.5 PPO loop on an ``Accelerator``."""

    def __init__(
        self,
        config: PPOConfig,
        policy: PreTrainedModel,
        ref_policy: PreTrainedModel,
        reward_model: PreTrainedModel,
        value_model: PreTrainedModel,
        tokenizer: Any,
        prompts: Dataset,
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.accelerator = Accelerator(
            cpu=config.use_cpu,
            mixed_precision="bf16" if config.bf16 else "no",
            gradient_accumulation_steps=1,
        )
        if self.accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP):
            raise TrainingInputError(
                "training.ppo shards its models itself: launch it with torchrun or with "
                "training/accelerate/ddp.yaml and pass --sharding fsdp (DeepSpeed is not supported)"
            )
        self.fsdp = config.sharding == "fsdp"
        for model in (policy, value_model):
            disable_dropout(model)
            model.config.use_cache = False
            if config.activation_checkpointing:
                model.gradient_checkpointing_enable()
        for frozen in (ref_policy, reward_model):
            frozen.requires_grad_(False)
            frozen.eval()
            frozen.to(frozen_dtype(config.bf16))
        self.prompt_ids = [list(ids) for ids in prompts["prompt_ids"]]
        self.order = PromptOrder(
            len(self.prompt_ids),
            config.rollout_batch_size,
            config.seed,
            self.accelerator.process_index,
            self.accelerator.num_processes,
        )
        if self.order.steps_per_epoch == 0:
            raise ValueError(
                f"{len(prompts)} prompts are fewer than one rollout batch ({config.rollout_batch_size})"
            )
        self.total_steps = (
            config.max_steps
            if config.max_steps > 0
            else max(1, math.ceil(config.num_train_epochs * self.order.steps_per_epoch))
        )
        device = self.accelerator.device
        if self.fsdp:
            mesh = device_mesh(device)
            policy, value_model = (shard_trained(m, mesh, device, config.bf16) for m in (policy, value_model))
            ref_policy, reward_model = (
                shard_frozen(m, mesh, device, config.offload_frozen) for m in (ref_policy, reward_model)
            )
        model = PolicyAndValue(policy, value_model)
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
        )
        updates_per_step = config.num_ppo_epochs * config.num_mini_batches
        # A plain scheduler: accelerate's wrapper steps it once per process, so the rate decayed n times
        # too fast on n processes.
        self.scheduler = get_scheduler(
            config.lr_scheduler_type,
            self.optimizer,
            num_warmup_steps=0,
            num_training_steps=self.total_steps * updates_per_step,
        )
        self.model = model if self.fsdp else self.accelerator.prepare_model(model)
        self.ref_policy = ref_policy if self.fsdp else ref_policy.to(device)
        self.reward_model = reward_model if self.fsdp else reward_model.to(device)
        self.step = 0
        if config.resume_from_checkpoint:
            self.step = load_training_state(
                Path(config.resume_from_checkpoint), self.unwrapped, self.optimizer, self.scheduler
            )
        self.history: list[dict[str, float]] = []

    @property
    def unwrapped(self) -> PolicyAndValue:
        return self.accelerator.unwrap_model(self.model)

    @property
    def policy(self) -> PreTrainedModel:
        return self.unwrapped.policy

    @property
    def value_model(self) -> PreTrainedModel:
        return self.unwrapped.value_model

    @torch.no_grad()
    def generate(
        self, prompt_ids: list[list[int]], keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Sample one response per prompt under the accelerator's autocast (bf16 when ``--bf16``); ``keys``
        fix each row's draws (``training.sampling``)."""
        config = self.config
        synced = self.fsdp and is_distributed()
        with self.accelerator.autocast():
            return sample_responses(
                self.policy,
                self.tokenizer,
                prompt_ids,
                config.max_response_length,
                config.temperature,
                keys,
                synced,
            )

    @torch.no_grad()
    def rollout(self, prompt_ids: list[list[int]], keys: torch.Tensor | None = None) -> Rollout:
        """Sample, score, and compute rewards, advantages and returns for one batch of prompts (advantages
        are whitened over the rollout batch of all processes)."""
        config = self.config
        self.model.eval()
        times: dict[str, float] = {}
        with stopwatch(times, "time/generation"):
            queries, query_mask, responses, mask, ends_with_eos = self.generate(prompt_ids, keys)
        input_ids = torch.cat([queries, responses], dim=1)
        attention_mask = torch.cat([query_mask, mask], dim=1)
        with stopwatch(times, "time/scoring"):
            scored = score_rollout(
                ScoringModels(self.model, self.ref_policy, self.reward_model),
                input_ids,
                attention_mask,
                responses,
                mask,
                config.temperature,
                config.rollout_forward_batch_size,
                self.accelerator.autocast,
            )
        scores = scored.scores - config.missing_eos_penalty * (~ends_with_eos).float()
        mask_float = mask.float()
        rewards, kl = compute_rewards_with_kl(
            scores, scored.logprobs, scored.ref_logprobs, mask_float, config.kl_coef
        )
        advantages, returns = gae(rewards, scored.values, mask_float, config.gamma, config.lam)
        if config.whiten_advantages:
            advantages = whiten(advantages, mask_float, sum_all=sum_over_processes)
        stats = {
            "score": scores.mean().item(),
            "kl": kl.sum(dim=1).mean().item(),
            "non_score_reward": (rewards.sum(dim=1) - scores).mean().item(),
            "ends_with_eos": ends_with_eos.float().mean().item(),
            "response_length": mask_float.sum(dim=1).mean().item(),
            "generated_tokens": mask_float.sum().item(),
            **times,
        }
        return Rollout(
            input_ids,
            attention_mask,
            positions(attention_mask),
            responses,
            mask_float,
            scored.logprobs,
            scored.values * mask_float,
            advantages,
            returns,
            scores,
            stats,
        )

    def update(self, batch: Rollout) -> dict[str, float]:
        """One PPO epoch (or more) of clipped policy and value updates on a rollout batch.

        Losses are means over the response tokens of a whole mini-batch of all processes, so neither the
        micro-batch size nor the number of processes changes the gradient (up to float rounding).
        """
        config = self.config
        size = batch.input_ids.shape[0]
        mini_batch = size // config.num_mini_batches
        micro_batch = max(1, min(config.per_device_train_batch_size, mini_batch))
        context = batch.input_ids.shape[1] - batch.responses.shape[1]
        predicting = slice(context - 1, batch.input_ids.shape[1] - 1)
        names = ("policy_loss", "value_loss", "policy_clipfrac", "value_clipfrac")
        totals = torch.zeros(len(names), dtype=torch.float64, device=batch.input_ids.device)
        processes = self.accelerator.num_processes
        self.model.train()
        for _ in range(config.num_ppo_epochs):
            order = torch.randperm(size, device=batch.input_ids.device)
            for start in range(0, size, mini_batch):
                mini_rows = order[start : start + mini_batch]
                tokens = sum_over_processes(batch.mask[mini_rows].sum()).clamp(min=1)
                self.optimizer.zero_grad()
                for micro_start in range(0, len(mini_rows), micro_batch):
                    part = batch.select(mini_rows[micro_start : micro_start + micro_batch])
                    with self.accelerator.autocast():
                        logits, all_values = self.model(
                            part.input_ids, part.attention_mask, part.position_ids
                        )
                    new_logprobs = response_logprobs(
                        logits[:, predicting], part.responses, config.temperature
                    )
                    new_values = all_values[:, predicting]
                    pg_loss, pg_clip = policy_loss(
                        new_logprobs, part.logprobs, part.advantages, part.mask, config.cliprange
                    )
                    vf_loss, vf_clip = value_loss(
                        new_values, part.values, part.returns, part.mask, config.cliprange_value
                    )
                    share = part.mask.sum() / tokens  # this micro-batch's share of the mini-batch's tokens
                    # x processes: DDP and FSDP average the gradients over processes; we want their sum
                    self.accelerator.backward((pg_loss + config.vf_coef * vf_loss) * share * processes)
                    parts = torch.stack([pg_loss, vf_loss, pg_clip, vf_clip]).detach().double()
                    totals += parts * share
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.unwrapped.parameters(), config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
        self.model.eval()
        totals = sum_over_processes(totals) / (config.num_ppo_epochs * config.num_mini_batches)
        return dict(zip(names, totals.tolist(), strict=True))

    def train(self) -> list[dict[str, float]]:
        """Run PPO steps until ``total_steps`` (from ``self.step``: 0, or the resumed step)."""
        config = self.config
        log_file = Path(config.output_dir) / "ppo_log.jsonl"
        if self.accelerator.is_main_process:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            if not config.resume_from_checkpoint:
                log_file.write_text("")
        while self.step < self.total_steps:
            indices = self.order.rows(self.step)
            batch = self.rollout(
                [self.prompt_ids[i] for i in indices], row_keys(config.seed, self.step, indices)
            )
            if config.save_rollouts:
                write_rollout(
                    Path(config.output_dir) / "rollouts", self.step + 1, indices, batch, self.accelerator
                )
            times: dict[str, float] = {}
            with stopwatch(times, "time/update"):
                losses = self.update(batch)
            self.step += 1
            metrics = {**batch.stats, **losses, **times, "learning_rate": self.scheduler.get_last_lr()[0]}
            metrics = {
                k: self.accelerator.reduce(
                    torch.tensor(float(v), device=self.accelerator.device), "mean"
                ).item()
                for k, v in metrics.items()
            }
            metrics = {"step": self.step, **metrics}
            self.history.append(metrics)
            if self.accelerator.is_main_process and self.step % config.logging_steps == 0:
                logger.info("ppo step %d/%d: %s", self.step, self.total_steps, json.dumps(metrics))
                with log_file.open("a") as handle:
                    handle.write(json.dumps(metrics) + "\n")
            if config.save_steps and self.step % config.save_steps == 0 and self.step < self.total_steps:
                self.save(Path(config.output_dir) / f"checkpoint-{self.step}")
        return self.history

    def save(self, output_dir: Path | str) -> Path:
        """Save the policy and tokenizer to ``output_dir``, the value model to ``output_dir/value_model``
        (both whole, in the Hugging Face format) and what resuming needs (``training.ppo_checkpoint``)."""
        output_dir = Path(output_dir)
        main = self.accelerator.is_main_process
        if main:
            output_dir.mkdir(parents=True, exist_ok=True)
        self.accelerator.wait_for_everyone()
        save_models(output_dir, self.policy, self.value_model, self.tokenizer, main)
        save_training_state(output_dir, self.unwrapped, self.optimizer, self.scheduler, self.step, main)
        if main:
            config = dict(asdict(self.config).items())
            (output_dir / "ppo_config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        self.accelerator.wait_for_everyone()
        return output_dir


@dataclass
class PPORun:
    """What ``train`` returns: where the policy is saved, the trainer, and the logged metrics."""

    output_dir: Path
    trainer: PPOTrainer
    history: list[dict[str, float]]
    prompt_stats: dict[str, int]


def export_engine_run(config: PPOConfig) -> Path:
    """``--engine verl --export DIR``: write the prompts, the config and the launch command for verl."""
    from .engines import verl

    verl.check_exportable(config)
    _, rows, _ = load_training_rows(config, ("prompts", "preference", "sft"))
    folder = verl.export(config, rows, load_policy_tokenizer(config, rows))
    logger.info("verl run written to %s; start it with: %s", folder, verl.launch_command(folder))
    return folder


def train(config: PPOConfig) -> PPORun | Path:
    """Run PPO as configured and save the policy (and value model) to ``config.output_dir``; with
    ``--engine verl``, write the verl run instead and return its folder."""
    if config.engine != "native":
        return export_engine_run(config)
    set_seed(config.seed)
    _, rows, _ = load_training_rows(config, ("prompts", "preference", "sft"))
    tokenizer = load_policy_tokenizer(config, rows)
    check_same_vocabulary(tokenizer, config.reward_model, "reward model")
    if config.value_model:
        check_same_vocabulary(tokenizer, config.value_model, "value model")
    prompts, prompt_stats = tokenize_prompts(rows, tokenizer, config.max_prompt_length)
    require_rows(prompt_stats, config.mix, f"--max_prompt_length {config.max_prompt_length}")
    logger.info("prompts: %s", json.dumps(prompt_stats))
    resume = config.resume_from_checkpoint
    policy = load_causal_lm(resume or config.model, tokenizer, config.seed)
    ref_policy = load_causal_lm(config.ref_model or config.model, tokenizer, config.seed)
    reward_model = load_reward_model(config.reward_model, tokenizer, config.seed)
    value_start = str(Path(resume) / "value_model") if resume else config.value_model or config.reward_model
    value_model = load_reward_model(value_start, tokenizer, config.seed)
    trainer = PPOTrainer(config, policy, ref_policy, reward_model, value_model, tokenizer, prompts)
    history = trainer.train()
    output_dir = trainer.save(config.output_dir)
    if trainer.accelerator.is_main_process:
        (output_dir / "tulu_data_stats.json").write_text(json.dumps(prompt_stats, indent=2) + "\n")
    return PPORun(output_dir, trainer, history, prompt_stats)


def parse_args(argv: Sequence[str] | None = None) -> PPOConfig:
    """The flags (``--help`` lists them with their defaults)."""
    (config,) = HfArgumentParser((PPOConfig,), prog=prog("ppo")).parse_args_into_dataclasses(args=argv)
    return config


def main(argv: Sequence[str] | None = None) -> PPORun | Path:
    """Parse flags and train."""
    setup_logging()
    return train(parse_args(argv))


if __name__ == "__main__":
    setup_logging()
    run_entry("ppo", parse_args, train)  # the run is dropped inside, before the process group goes
    end_distributed()
