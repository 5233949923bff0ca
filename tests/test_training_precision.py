"""The memory table: parameter counts from real model builds, bytes per parameter per layout, README in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.precision import (
    frozen_dtype,
    llama_config,
    memory_table,
    parameter_count,
    task_state_bytes,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def test_parameter_counts_match_the_published_llama2_sizes() -> None:
    assert parameter_count(llama_config("7b")) == 6_738_415_616  # Llama-2-7b-hf
    assert parameter_count(llama_config("13b")) == 13_015_864_320  # Llama-2-13b-hf
    # a reward model swaps the 32,000 x hidden LM head for a one-output score head
    assert parameter_count(llama_config("7b"), reward_head=True) == 6_738_415_616 - 32_000 * 4096 + 4096


def test_bytes_per_parameter() -> None:
    params = parameter_count(llama_config("7b"))
    assert task_state_bytes("SFT", "7b", "1 GPU") == 16 * params
    assert task_state_bytes("SFT", "7b", "8 GPUs, ZeRO-3 / FSDP") == 2 * params
    assert task_state_bytes("DPO", "7b", "1 GPU") == 18 * params  # + the bf16 reference
    assert task_state_bytes("SFT", "7b", "8 GPUs, ZeRO-2") == params * (2 + 14 / 8)
    assert task_state_bytes("PPO", "7b", "8 GPUs, ZeRO-2") is None
    reward = parameter_count(llama_config("7b"), reward_head=True)
    # --sharding fsdp: 16 + 2 bytes per parameter of each size over 8 GPUs, + two bf16 policy layers of 32
    assert task_state_bytes("PPO", "7b", "8 GPUs, ZeRO-3 / FSDP") == pytest.approx(
        (params + reward) * 18 / 8 + 2 * params * 2 / 32
    )
    assert frozen_dtype(True) == torch.bfloat16 and frozen_dtype(False) == torch.float32


def test_readme_shows_the_computed_table() -> None:
    assert memory_table() in README.read_text()


def test_ppo_memory_per_gpu() -> None:
    from training.ppo_memory import LAYOUTS, kv_cache_bytes, ppo_memory_table, state_bytes

    policy = parameter_count(llama_config("7b"))
    reward = parameter_count(llama_config("7b"), reward_head=True)
    layouts = {layout.name: layout for layout in LAYOUTS}
    assert state_bytes("7b", layouts["8 GPUs, DDP"]) == (policy + reward) * 18
    assert state_bytes("7b", layouts["8 GPUs, FSDP"]) == (policy + reward) * 18 / 8
    assert state_bytes("7b", layouts["8 GPUs, FSDP, frozen offloaded"]) == (policy + reward) * 16 / 8
    # Llama-2-7B: 32 layers x (key + value) x 4096 x 2 bytes = 512 KiB per token
    assert kv_cache_bytes("7b", 1, 1) == 512 * 1024
    assert ppo_memory_table() in README.read_text()
