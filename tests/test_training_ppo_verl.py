"""``python -m training.ppo --engine verl --export DIR``: the export holds our prompts and every recipe default;
and (marked ``engine``, opt-in: it installs verl from PyPI into its own environment) verl's own dataset and
config classes read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from datasets import load_dataset

from training import ppo
from training.chat_format import encode_prompts, prompt_messages
from training.engines import verl
from training.modeling import (
    build_tiny_causal_lm,
    build_tiny_reward_model,
    build_tiny_tokenizer,
    conversation_texts,
)
from training.synthetic import write_rows

REPO = Path(__file__).resolve().parents[1]
MAX_PROMPT_LENGTH = 24


def prompt_rows() -> list[dict]:
    """Prompts of several shapes: one user turn, a system turn, several turns, and two too long to keep."""
    user = lambda text: {"role": "user", "content": text}  # noqa: E731
    rows = [[user(f"What colour is the {animal}?")] for animal in ("cat", "dog", "fish", "bird", "cow")]
    rows.append([{"role": "system", "content": "Answer briefly."}, user("Name a colour.")])
    rows.append([user("Hi"), {"role": "assistant", "content": "Hello!"}, user("Name an animal.")])
    rows += [[user("Tell me about the sea " + "and the sky " * 20)], [user("Why " * 40)]]
    return [{"id": f"p{index}", "prompt": messages} for index, messages in enumerate(rows)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A policy and a reward model checkpoint (tiny, random), and the export of a run on our prompts."""
    root = tmp_path_factory.mktemp("verl_export")
    os.environ.setdefault("TULU_DATA_CACHE", str(root / "cache"))
    prompts = write_rows(root / "prompts", prompt_rows())
    rows = load_dataset(str(prompts))["train"]
    tokenizer = build_tiny_tokenizer(conversation_texts(rows))
    for folder, model in (
        ("policy", build_tiny_causal_lm(tokenizer)),
        ("rm", build_tiny_reward_model(tokenizer)),
    ):
        model.save_pretrained(root / folder)
        tokenizer.save_pretrained(root / folder)
    folder = ppo.main(
        [
            "--mix", str(prompts), "--model", str(root / "policy"), "--reward_model", str(root / "rm"),
            "--engine", "verl", "--export", str(root / "export"), "--output_dir", str(root / "run"),
            "--max_prompt_length", str(MAX_PROMPT_LENGTH), "--rollout_batch_size", "4",
        ]
    )  # fmt: skip
    kept, _ = ppo.tokenize_prompts(rows, tokenizer, MAX_PROMPT_LENGTH)
    return {
        "root": root,
        "folder": folder,
        "rows": rows,
        "tokenizer": tokenizer,
        "prompt_ids": kept["prompt_ids"],
    }


def test_export_rows_are_the_prompts_our_loop_trains_on(exported: dict) -> None:
    table = pd.read_parquet(exported["folder"] / verl.DATA_FILE)
    assert list(table.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    messages = [[dict(m) for m in prompt] for prompt in table["prompt"]]
    assert encode_prompts(exported["tokenizer"], messages) == exported["prompt_ids"]
    every = [prompt_messages(row) for row in exported["rows"]]
    assert len(messages) == len(every) - 2  # the two long prompts are over --max_prompt_length
    assert messages == [m for m in every if m in messages]  # same order, same turns
    assert [info["index"] for info in table["extra_info"]] == list(range(len(messages)))
    assert set(table["data_source"]) == {"tulu_data/prompts"}
    assert all(rm == {"style": "model", "ground_truth": ""} for rm in table["reward_model"])


def leaf(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


def test_export_config_maps_every_recipe_default(exported: dict) -> None:
    folder, root = exported["folder"], exported["root"]
    config = yaml.safe_load((folder / f"{verl.CONFIG_NAME}.yaml").read_text())
    assert config["defaults"] == ["ppo_trainer", "_self_"]
    expected = {
        "actor_rollout_ref.actor.optim.lr": 1e-6,
        "critic.optim.lr": 1e-6,
        "algorithm.use_kl_in_reward": True,
        "algorithm.kl_ctrl.kl_coef": 0.05,
        "algorithm.kl_ctrl.type": "fixed",
        "actor_rollout_ref.actor.use_kl_loss": False,
        "actor_rollout_ref.actor.ppo_epochs": 1,
        "actor_rollout_ref.rollout.n": 1,
        "actor_rollout_ref.rollout.temperature": 0.7,
        "algorithm.adv_estimator": "gae",
        "algorithm.gamma": 1.0,
        "algorithm.lam": 0.95,
        "actor_rollout_ref.actor.clip_ratio": 0.2,
        "critic.cliprange_value": 0.2,
        "data.max_response_length": 1024,
        "data.max_prompt_length": MAX_PROMPT_LENGTH,
        "critic.model.path": str(root / "rm"),  # the value model starts from the reward model
        "reward.reward_model.model_path": str(root / "rm"),
        "actor_rollout_ref.model.path": str(root / "policy"),
        "data.train_batch_size": 4,
        "data.train_files": str((folder / verl.DATA_FILE).resolve()),
    }
    assert {key: leaf(config, key) for key in expected} == expected
    recipe = (folder / "RECIPE.md").read_text()
    for setting in (
        "learning rate",
        "KL coefficient",
        "PPO epochs",
        "rollouts per prompt",
        "temperature",
        "gamma",
        "GAE lambda",
        "policy clip",
        "value clip",
        "value loss coefficient",
        "whitened advantages",
        "max response length",
        "missing-eos penalty",
        "value model initialised from the reward model",
    ):
        assert f"| {setting}" in recipe, setting  # fmt: skip
    assert "NOT APPLIED by verl" in recipe and "| 0.1 | (none) |" in recipe  # missing eos; value coefficient
    script = (folder / "run_verl.sh").read_text()
    assert verl.launch_command(folder) in script and os.access(folder / "run_verl.sh", os.X_OK)


def test_tiny_models_cannot_be_exported(exported: dict, monkeypatch, capsys) -> None:
    from training.front_door import run_entry

    argv = [
        "--mix",
        "unused",
        "--model",
        "tiny",
        "--reward_model",
        "tiny",
        "--engine",
        "verl",
        "--export",
        "x",
    ]
    monkeypatch.setattr(sys, "argv", ["training/ppo.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        run_entry("ppo", ppo.parse_args, ppo.train)
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err.strip().endswith("--model tiny cannot be exported; give a checkpoint folder")
    )


# pip's words when the package index cannot be reached (not when a package or a version is wrong)
UNREACHABLE_INDEX = ("Failed to establish a new connection", "Temporary failure in name resolution",
                     "Network is unreachable", "Read timed out", "ConnectionError")  # fmt: skip


def verl_environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """verl's own environment (``scripts/make_verl_env.sh --read-only``), kept in TULU_DATA_VERL_ENV if set."""
    env_dir = Path(os.environ.get("TULU_DATA_VERL_ENV") or tmp_path_factory.mktemp("verl_env") / "venv")
    command = ["bash", str(REPO / "scripts" / "make_verl_env.sh"), str(env_dir), "--read-only"]
    result = subprocess.run(command, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                            timeout=1500)  # fmt: skip
    if result.returncode != 0 and any(sign in result.stderr for sign in UNREACHABLE_INDEX):
        pytest.skip(f"the package index could not be reached to install verl: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return env_dir


@pytest.mark.engine
def test_verl_reads_the_export_with_its_own_classes(exported: dict, tmp_path_factory, tmp_path: Path) -> None:
    env_dir = verl_environment(tmp_path_factory)
    result_file = tmp_path / "verl.json"
    command = [str(env_dir / "bin" / "python"), str(REPO / "tests" / "verl_check.py"), str(exported["folder"]),
               str(exported["root"] / "policy"), str(result_file)]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result_file.read_text())
    assert found["classes"] == {"algorithm": "AlgoConfig", "actor": "FSDPActorConfig",
                                "rollout": "RolloutConfig", "critic": "FSDPCriticConfig"}  # fmt: skip
    assert found["algorithm"] == {"gamma": 1.0, "lam": 0.95, "adv_estimator": "gae", "use_kl_in_reward": True,
                                  "kl_coef": 0.05, "kl_type": "fixed"}  # fmt: skip
    assert found["actor"] == {"lr": 1e-6, "clip_ratio": 0.2, "ppo_epochs": 1, "use_kl_loss": False,
                              "loss_agg_mode": "token-mean"}  # fmt: skip
    assert found["rollout"] == {"temperature": 0.7, "n": 1, "response_length": 1024}
    rm = str(exported["root"] / "rm")
    assert found["critic"] == {"lr": 1e-6, "cliprange_value": 0.2, "model_path": rm}
    assert found["reward_model"] == {"enable": True, "model_path": rm}
    table = pd.read_parquet(exported["folder"] / verl.DATA_FILE)
    assert found["dataset_length"] == len(table) == len(exported["prompt_ids"])
    assert found["raw_prompts"] == [[dict(m) for m in prompt] for prompt in table["prompt"]]
    assert found["prompt_ids"] == exported["prompt_ids"]  # verl renders each prompt to our token ids


def test_the_package_never_imports_the_engine() -> None:
    code = (
        "import sys, training.ppo, training.engines.verl; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'verl', 'hydra', 'ray', 'vllm'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
