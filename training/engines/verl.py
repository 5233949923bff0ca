"""The Tulu 2.5 PPO recipe as a verl run: ``python -m training.ppo --mix NAME --engine verl --export DIR``.

Writes, without importing verl:

- ``DIR/train.parquet``: the prompts our loop would train on (same rows, same length filter), in verl's
  RL dataset format: ``data_source``, ``prompt`` (the chat messages; verl renders them with the chat
  template), ``ability``, ``reward_model`` (``{"style": "model", "ground_truth": ""}``) and
  ``extra_info`` (``index``: the row's index in our prompt set).
- ``DIR/tulu_ppo.yaml``: a Hydra config that starts from verl's ``ppo_trainer`` and sets every recipe
  default (plus the Tulu chat template, the models and the batch sizes).
- ``DIR/RECIPE.md``: each recipe setting, our value, the verl key and value, and where verl differs.
- ``DIR/run_verl.sh``: the launch command (``python -m verl.trainer.main_ppo --config-path DIR
  --config-name tulu_ppo``), to run in verl's own environment (README, "PPO on verl").

Checked against verl 0.9.1's config schema (``VERL_VERSION``).
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chat_format import encode_prompts, prompt_messages, tulu_template
from ..front_door import TrainingInputError
from ..modeling import is_tiny

VERL_VERSION = "0.9.1"
CONFIG_NAME = "tulu_ppo"
DATA_FILE = "train.parquet"
# verl's policy loss adds a "dual clip" for negative advantages, bounded by clip_ratio_c (default 3.0,
# must be > 1); the recipe has none, so it is set out of reach.
NO_DUAL_CLIP = 1.0e9


@dataclass(frozen=True)
class Setting:
    """One recipe setting: our value, the verl key(s) and value(s) that carry it, and how verl differs."""

    recipe: str
    ours: Any
    keys: dict[str, Any]
    difference: str = ""


def recipe_settings(config: Any) -> list[Setting]:
    """Every Tulu 2.5 PPO default (and our run's batch settings) mapped to verl keys."""
    actor, critic, algorithm = "actor_rollout_ref.actor", "critic", "algorithm"
    value_start = config.value_model or config.reward_model
    return [
        Setting("learning rate", config.learning_rate,
                {f"{actor}.optim.lr": config.learning_rate, f"{critic}.optim.lr": config.learning_rate},
                "verl has separate policy and critic optimizers; both get the recipe's rate"),
        Setting("learning-rate schedule", f"{config.lr_scheduler_type}, no warmup",
                {f"{actor}.optim.lr_scheduler_type": "constant", f"{critic}.optim.lr_scheduler_type": "constant"},
                "verl offers constant or cosine only: constant (the recipe does not state a schedule)"),
        Setting("weight decay", config.weight_decay,
                {f"{actor}.optim.weight_decay": config.weight_decay,
                 f"{critic}.optim.weight_decay": config.weight_decay}),
        Setting("gradient clipping", config.max_grad_norm,
                {f"{actor}.grad_clip": config.max_grad_norm, f"{critic}.grad_clip": config.max_grad_norm},
                "verl clips the policy's and the critic's gradients separately; we clip their joint norm"),
        Setting("KL coefficient (per-token penalty in the reward)", config.kl_coef,
                {f"{algorithm}.use_kl_in_reward": True, f"{algorithm}.kl_penalty": "kl",
                 f"{algorithm}.kl_ctrl.type": "fixed", f"{algorithm}.kl_ctrl.kl_coef": config.kl_coef,
                 f"{actor}.use_kl_loss": False}),
        Setting("PPO epochs per batch", config.num_ppo_epochs, {f"{actor}.ppo_epochs": config.num_ppo_epochs}),
        Setting("rollouts per prompt", 1, {"actor_rollout_ref.rollout.n": 1}),
        Setting("temperature", config.temperature,
                {"actor_rollout_ref.rollout.temperature": config.temperature, "actor_rollout_ref.rollout.top_k": -1,
                 "actor_rollout_ref.rollout.top_p": 1.0, "actor_rollout_ref.rollout.do_sample": True}),
        Setting("gamma", config.gamma, {f"{algorithm}.adv_estimator": "gae", f"{algorithm}.gamma": config.gamma}),
        Setting("GAE lambda", config.lam, {f"{algorithm}.lam": config.lam}),
        Setting("policy clip", config.cliprange,
                {f"{actor}.clip_ratio": config.cliprange, f"{actor}.clip_ratio_low": config.cliprange,
                 f"{actor}.clip_ratio_high": config.cliprange, f"{actor}.clip_ratio_c": NO_DUAL_CLIP},
                "verl's dual clip (clip_ratio_c) is set out of reach: the recipe has none"),
        Setting("value clip", config.cliprange_value, {f"{critic}.cliprange_value": config.cliprange_value}),
        Setting("value loss coefficient", config.vf_coef, {},
                "no verl key: verl trains the critic with its own optimizer, so the coefficient has nothing to "
                "weigh (AdamW is invariant to a constant loss scale; in our loop it only enters the joint "
                "gradient clipping)"),
        Setting("whitened advantages (rewards not)", config.whiten_advantages, {},
                "no verl key: verl's GAE always whitens advantages and never rewards; the same as ours"
                if config.whiten_advantages else "verl always whitens advantages: it cannot be turned off"),
        Setting("loss aggregation", "token mean over the mini-batch",
                {f"{actor}.loss_agg_mode": "token-mean"}),
        Setting("max response length", config.max_response_length,
                {"data.max_response_length": config.max_response_length}),
        Setting("max prompt length (longer prompts dropped)", config.max_prompt_length,
                {"data.max_prompt_length": config.max_prompt_length, "data.filter_overlong_prompts": True},
                "the export already holds only prompts that fit; verl filters again with its own count"),
        Setting("missing-eos penalty", config.missing_eos_penalty, {},
                "NOT APPLIED by verl: its model reward scores a truncated response like any other. Ours "
                f"subtracts {config.missing_eos_penalty} from the score of a response without eos; on verl that "
                "needs a custom reward manager (not provided)"),
        Setting("policy (from the SFT model)", config.model, {"actor_rollout_ref.model.path": config.model}),
        Setting("reference (frozen)", config.ref_model or config.model, {},
                "verl's reference is always the starting policy (actor_rollout_ref.model.path)"
                + ("; --ref_model is ignored" if config.ref_model and config.ref_model != config.model else "")),
        Setting("reward model (frozen)", config.reward_model,
                {"reward.reward_model.enable": True, "reward.reward_model.model_path": config.reward_model,
                 "reward.reward_model.rollout.name": "vllm"},
                "verl serves the reward model with vLLM and reads its score at the last token, as we do"),
        Setting("value model initialised from the reward model", value_start,
                {f"{critic}.model.path": value_start, f"{critic}.model.tokenizer_path": config.model},
                "verl loads the critic as a one-label token classifier; a Llama reward model's 'score' head "
                "carries over by name"),
        Setting("chat template", "Tulu (training.chat_format)",
                {"actor_rollout_ref.model.custom_chat_template": tulu_template()}),
        Setting("prompts per step", config.rollout_batch_size,
                {"data.train_batch_size": config.rollout_batch_size,
                 f"{actor}.ppo_mini_batch_size": config.rollout_batch_size // config.num_mini_batches}),
        Setting("micro-batches (per GPU)", config.per_device_train_batch_size,
                {f"{actor}.ppo_micro_batch_size_per_gpu": config.per_device_train_batch_size,
                 f"{critic}.ppo_micro_batch_size_per_gpu": config.per_device_train_batch_size,
                 "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": config.rollout_forward_batch_size
                 or config.per_device_train_batch_size,
                 "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": config.rollout_forward_batch_size
                 or config.per_device_train_batch_size}),
        Setting("seed", config.seed, {"data.seed": config.seed, "actor_rollout_ref.rollout.seed": config.seed}),
    ]  # fmt: skip


def run_settings(config: Any, folder: Path) -> dict[str, Any]:
    """The run's files, length and logging (not recipe settings)."""
    data = str(folder.resolve() / DATA_FILE)
    steps = config.max_steps if config.max_steps > 0 else None
    return {
        "data.train_files": data,
        "data.val_files": data,
        "data.prompt_key": "prompt",
        "actor_rollout_ref.rollout.name": "vllm",
        "trainer.total_epochs": max(1, math.ceil(config.num_train_epochs)),
        "trainer.total_training_steps": steps,
        "trainer.val_before_train": False,
        "trainer.test_freq": -1,
        "trainer.logger": ["console"],
        "trainer.project_name": "tulu-data",
        "trainer.experiment_name": Path(config.output_dir).name,
        "trainer.default_local_dir": str(Path(config.output_dir).resolve()),
    }


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def hydra_config(settings: list[Setting], run: dict[str, Any]) -> dict[str, Any]:
    """The Hydra config: verl's ``ppo_trainer`` first, then our settings on top."""
    flat = {key: value for setting in settings for key, value in setting.keys.items()} | run
    header = {"hydra": {"searchpath": ["pkg://verl.trainer.config"]}, "defaults": ["ppo_trainer", "_self_"]}
    return header | nested(flat)


def prompt_rows(rows: Any, tokenizer: Any, max_prompt_length: int, source: str) -> list[dict[str, Any]]:
    """Our prompts (the rows ``training.ppo`` would keep) as verl dataset rows."""
    messages = [prompt_messages(row) for row in rows]
    lengths = [len(ids) for ids in encode_prompts(tokenizer, messages)]
    kept = [turns for turns, length in zip(messages, lengths, strict=True) if 0 < length <= max_prompt_length]
    return [
        {
            "data_source": source,
            "prompt": [{"role": m["role"], "content": m["content"]} for m in turns],
            "ability": "chat",
            "reward_model": {"style": "model", "ground_truth": ""},
            "extra_info": {"index": index},
        }
        for index, turns in enumerate(kept)
    ]


def recipe_table(settings: list[Setting]) -> str:
    """RECIPE.md: what each recipe setting becomes on verl."""
    lines = [
        f"# Tulu 2.5 PPO on verl {VERL_VERSION}",
        "",
        "| recipe setting | ours | verl | where verl differs |",
        "|---|---|---|---|",
    ]
    for s in settings:
        keys = "<br>".join(f"`{k}={json.dumps(v)}`" for k, v in s.keys.items() if "chat_template" not in k)
        if any("chat_template" in k for k in s.keys):
            keys = "`actor_rollout_ref.model.custom_chat_template` (the Tulu template)"
        lines.append(f"| {s.recipe} | {s.ours} | {keys or '(none)'} | {s.difference} |")
    return "\n".join(lines) + "\n"


def launch_command(folder: Path) -> str:
    """The command that starts the exported run (in verl's environment)."""
    return (
        f"python -m verl.trainer.main_ppo --config-path {shlex.quote(str(folder.resolve()))} "
        f"--config-name {CONFIG_NAME}"
    )


def check_exportable(config: Any) -> None:
    """verl loads every model from a path or the Hub: 'tiny' cannot be exported."""
    for flag in ("model", "reward_model", "value_model", "ref_model"):
        if is_tiny(getattr(config, flag)):
            raise TrainingInputError(
                f"--engine verl: --{flag} tiny cannot be exported; give a checkpoint folder"
            )


def export(config: Any, rows: Any, tokenizer: Any) -> Path:
    """Write the verl run for ``config`` (prompts from ``rows``) to ``config.export``; returns the folder."""
    import pandas as pd
    import yaml

    check_exportable(config)
    folder = Path(config.export)
    folder.mkdir(parents=True, exist_ok=True)
    records = prompt_rows(rows, tokenizer, config.max_prompt_length, f"tulu_data/{Path(config.mix).name}")
    if not records:
        raise TrainingInputError(
            f"--mix {config.mix}: no prompt fits --max_prompt_length {config.max_prompt_length}"
        )
    pd.DataFrame(records).to_parquet(folder / DATA_FILE, index=False)
    settings = recipe_settings(config)
    config_text = yaml.safe_dump(
        hydra_config(settings, run_settings(config, folder)), sort_keys=False, width=1000
    )
    (folder / f"{CONFIG_NAME}.yaml").write_text(config_text)
    (folder / "RECIPE.md").write_text(recipe_table(settings))
    script = folder / "run_verl.sh"
    script.write_text(f"#!/usr/bin/env bash\n# verl {VERL_VERSION} environment: README, 'PPO on verl'\n"
                      f"set -euo pipefail\n{launch_command(folder)} \"$@\"\n")  # fmt: skip
    script.chmod(0o755)
    return folder
