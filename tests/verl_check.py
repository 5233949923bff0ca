"""Run inside verl's own environment (tests/test_training_ppo_verl.py): read an export with verl's classes.

    python tests/verl_check.py EXPORT_DIR POLICY_DIR RESULT_JSON

Composes ``EXPORT_DIR/tulu_ppo.yaml`` with Hydra over verl's ``ppo_trainer`` config, turns its sections into
verl's config dataclasses (which check types and values; the critic's loads the value model's config), loads
``train.parquet`` with verl's ``RLHFDataset`` and renders each prompt the way verl's rollout does
(``apply_chat_template`` with the configured template). Writes what it found to RESULT_JSON (verl prints
to stdout itself).
"""

from __future__ import annotations

import json
import sys

from hydra import compose, initialize_config_dir
from transformers import AutoTokenizer
from verl.utils.config import omega_conf_to_dataclass
from verl.utils.dataset.rl_dataset import RLHFDataset


def main(export_dir: str, policy_dir: str) -> dict:
    with initialize_config_dir(config_dir=export_dir, version_base=None):
        config = compose("tulu_ppo")
    sections = {
        "algorithm": config.algorithm,
        "actor": config.actor_rollout_ref.actor,
        "rollout": config.actor_rollout_ref.rollout,
        "critic": config.critic,
    }
    typed = {name: omega_conf_to_dataclass(section) for name, section in sections.items()}
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    tokenizer.chat_template = config.actor_rollout_ref.model.custom_chat_template
    dataset = RLHFDataset(data_files=[config.data.train_files], tokenizer=tokenizer, config=config.data)
    rows = [dataset[index] for index in range(len(dataset))]
    rendered = [
        list(
            tokenizer.apply_chat_template(
                row["raw_prompt"], add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
        for row in rows
    ]
    return {
        "classes": {name: type(value).__name__ for name, value in typed.items()},
        "algorithm": {"gamma": typed["algorithm"].gamma, "lam": typed["algorithm"].lam,
                      "adv_estimator": str(typed["algorithm"].adv_estimator),
                      "use_kl_in_reward": typed["algorithm"].use_kl_in_reward,
                      "kl_coef": typed["algorithm"].kl_ctrl.kl_coef, "kl_type": typed["algorithm"].kl_ctrl.type},
        "actor": {"lr": typed["actor"].optim.lr, "clip_ratio": typed["actor"].clip_ratio,
                  "ppo_epochs": typed["actor"].ppo_epochs, "use_kl_loss": typed["actor"].use_kl_loss,
                  "loss_agg_mode": typed["actor"].loss_agg_mode},
        "rollout": {"temperature": typed["rollout"].temperature, "n": typed["rollout"].n,
                    "response_length": typed["rollout"].response_length},
        "critic": {"lr": typed["critic"].optim.lr, "cliprange_value": typed["critic"].cliprange_value,
                   "model_path": typed["critic"].model.path},
        "reward_model": {"enable": bool(config.reward.reward_model.enable),
                         "model_path": config.reward.reward_model.model_path},
        "dataset_length": len(dataset),
        "raw_prompts": [[dict(message) for message in row["raw_prompt"]] for row in rows],
        "prompt_ids": rendered,
    }  # fmt: skip


if __name__ == "__main__":
    with open(sys.argv[3], "w") as handle:
        json.dump(main(sys.argv[1], sys.argv[2]), handle, default=str)
