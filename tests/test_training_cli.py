"""Flags: --help lists the Tulu defaults, batch-size arithmetic, and a real command-line smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import HfArgumentParser
from trl import TrlParser

from training import config as config_module
from training import ppo_config as ppo_config_module
from training.config import TuluDPOConfig, TuluRewardConfig, TuluSFTConfig, accumulation_steps
from training.ppo import PPOConfig
from training.synthetic import write_prompts, write_sft

REPO = Path(__file__).resolve().parents[1]


def help_text(config_class: type) -> str:
    parser = HfArgumentParser((config_class,)) if config_class is PPOConfig else TrlParser((config_class,))
    return " ".join(parser.format_help().split())


@pytest.mark.parametrize(
    ("config_class", "expected"),
    [
        (
            TuluSFTConfig,
            ["--learning_rate LEARNING_RATE", "(default: 2e-05)", "(default: 8192)", "(default: 128)"],
        ),
        (TuluDPOConfig, ["--beta BETA", "(default: 0.1)", "(default: 5e-07)", "(default: 32)"]),
        (TuluRewardConfig, ["(default: 1e-05)", "(default: 512)", "(default: 0.03)"]),
        (
            PPOConfig,
            ["--kl_coef KL_COEF", "(default: 0.05)", "(default: 0.7)", "(default: 0.95)", "(default: 1024)"],
        ),
    ],
)
def test_help_lists_flags_with_tulu_defaults(config_class: type, expected: list[str]) -> None:
    text = help_text(config_class)
    for fragment in ["--mix MIX", "--model MODEL", *expected]:
        assert fragment in text, fragment


def test_recipe_defaults() -> None:
    sft_args = TuluSFTConfig(mix="m", model="tiny")
    assert (sft_args.learning_rate, sft_args.num_train_epochs, sft_args.warmup_steps) == (2e-5, 2.0, 0.03)
    assert (sft_args.lr_scheduler_type.value, sft_args.weight_decay, sft_args.max_length) == (
        "linear",
        0.0,
        8192,
    )
    assert sft_args.output_dir.endswith("sft-m")
    dpo_args = TuluDPOConfig(mix="m", model="tiny")
    assert (dpo_args.beta, dpo_args.learning_rate, dpo_args.warmup_steps, dpo_args.num_train_epochs) == (
        0.1, 5e-7, 0.1, 3.0,
    )  # fmt: skip
    rm_args = TuluRewardConfig(mix="m", model="tiny")
    assert (rm_args.learning_rate, rm_args.num_train_epochs, rm_args.warmup_steps) == (1e-5, 1.0, 0.03)
    ppo_args = PPOConfig(mix="m", model="tiny", reward_model="tiny")
    assert (ppo_args.learning_rate, ppo_args.kl_coef, ppo_args.temperature, ppo_args.gamma, ppo_args.lam) == (
        1e-6, 0.05, 0.7, 1.0, 0.95,
    )  # fmt: skip
    assert (ppo_args.cliprange, ppo_args.cliprange_value, ppo_args.vf_coef) == (0.2, 0.2, 0.1)
    assert (
        ppo_args.whiten_advantages
        and ppo_args.max_response_length == 1024
        and ppo_args.missing_eos_penalty > 0
    )


def test_bf16_only_with_cuda() -> None:
    import torch

    assert TuluSFTConfig(mix="m", model="tiny").bf16 == torch.cuda.is_available()


def test_effective_batch_size_sets_accumulation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TuluSFTConfig(mix="m", model="tiny").gradient_accumulation_steps == 128  # 1 x 128 x 1 process
    # 8 processes, as accelerate launch would report; patched rather than set in WORLD_SIZE, which would make
    # TrainingArguments try to join a real 8-process group.
    monkeypatch.setattr(config_module, "world_size", lambda: 8)
    monkeypatch.setattr(ppo_config_module, "world_size", lambda: 8)
    args = TuluSFTConfig(mix="m", model="tiny", per_device_train_batch_size=2)
    assert args.gradient_accumulation_steps == 8  # 2 x 8 x 8 = 128
    assert TuluDPOConfig(mix="m", model="tiny").gradient_accumulation_steps == 4  # 1 x 4 x 8 = 32
    assert (
        TuluRewardConfig(mix="m", model="tiny", per_device_train_batch_size=4).gradient_accumulation_steps
        == 16
    )
    assert PPOConfig(mix="m", model="tiny", reward_model="tiny").per_device_rollout_batch_size == 8  # 64 / 8
    manual = TuluSFTConfig(mix="m", model="tiny", effective_batch_size=0, gradient_accumulation_steps=3)
    assert manual.gradient_accumulation_steps == 3
    with pytest.raises(ValueError, match="not a multiple"):
        accumulation_steps(128, 3, 8)


def test_mix_and_model_are_required() -> None:
    with pytest.raises(ValueError, match="--mix"):
        TuluSFTConfig(model="tiny")
    with pytest.raises(ValueError, match="--model"):
        TuluDPOConfig(mix="m")
    with pytest.raises(ValueError, match="--reward_model"):
        PPOConfig(mix="m", model="tiny")


def test_command_line_sft_smoke(tmp_path: Path) -> None:
    folder = write_sft(tmp_path / "data", count=8)
    env = {**os.environ, "TULU_DATA_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "training.sft",
        "--mix", str(folder), "--model", "tiny", "--output_dir", str(tmp_path / "out"),
        "--max_steps", "2", "--effective_batch_size", "0", "--per_device_train_batch_size", "4",
        "--max_length", "128", "--disable_tqdm", "true",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "chat_template.jinja").is_file()


def run_on_two_processes(module: str, flags: list[str], workdir: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` with 2 CPU processes, in a fresh ``workdir`` (its data cache lives there).

    ``--standalone`` rendezvouses on a free port rather than the fixed 29500, so a second job on the same
    host cannot join our group. Fault handlers are on so that a native crash prints where it happened.
    """
    env = {
        **os.environ,
        "TULU_DATA_CACHE": str(workdir / "cache"),
        "OMP_NUM_THREADS": "1",
        "PYTHONFAULTHANDLER": "1",
        "TORCH_SHOW_CPP_STACKTRACES": "1",
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", module,
        *flags, "--output_dir", str(workdir / "out"),
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def launch_two_processes(module: str, flags: list[str], tmp_path: Path) -> tuple[Path, str]:
    """Run ``module`` on 2 processes; return its work folder and its output, failing the test on error.

    Any failure fails: a worker that aborted at exit (the process group torn down in no set order, fixed
    by ``training.common.end_distributed``) used to pass its training and fail here 1 run in 5.
    """
    workdir = tmp_path / "run"
    result = run_on_two_processes(module, flags, workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result.stdout + result.stderr


@pytest.mark.slow
def test_two_processes_share_one_tokenization_and_train_data_parallel(tmp_path: Path) -> None:
    """torchrun with 2 CPU processes: rank 0 tokenizes, rank 1 reads its cache; batches are split."""
    folder = write_sft(tmp_path / "data", count=32)
    flags = [
        "--mix", str(folder), "--model", "tiny", "--num_train_epochs", "1", "--effective_batch_size", "16",
        "--per_device_train_batch_size", "4", "--max_length", "128", "--disable_tqdm", "true",
        "--save_strategy", "no", "--logging_steps", "1",
    ]  # fmt: skip
    workdir, output = launch_two_processes("training.sft", flags, tmp_path)
    assert output.count("sft data (tokenized now") == 1
    assert output.count("sft data (cache") == 1
    # 32 rows / (4 per device x 2 processes x 2 accumulation) = 2 optimizer steps, logged once (rank 0).
    assert output.count("'loss':") == 2
    assert (workdir / "out" / "model.safetensors").is_file()


@pytest.mark.slow
def test_ppo_runs_data_parallel_on_two_processes(tmp_path: Path) -> None:
    folder = write_prompts(tmp_path / "prompts", count=16)
    flags = [
        "--mix", str(folder), "--model", "tiny", "--reward_model", "tiny",
        "--rollout_batch_size", "8", "--max_steps", "2", "--max_response_length", "8",
    ]  # fmt: skip
    workdir, _ = launch_two_processes("training.ppo", flags, tmp_path)
    log = [json.loads(line) for line in (workdir / "out" / "ppo_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    assert (workdir / "out" / "value_model" / "model.safetensors").is_file()
