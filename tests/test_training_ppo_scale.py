"""PPO past one process: FSDP2 and DDP on 2 CPU processes (torchrun, gloo) take the same rollouts, advantages,
values and losses as one process on the same seed and data; checkpoints load with AutoModelForCausalLM and
resume (saved by FSDP on 2 processes; resumed by FSDP with the frozen models offloaded, and by one process);
micro-batching changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from training import ppo, sft
from training.ppo_batches import PromptOrder
from training.synthetic import write_prompts, write_sft

REPO = Path(__file__).resolve().parents[1]
STEPS = 3
ROLLOUT_FIELDS = ("responses", "logprobs", "values", "advantages", "returns", "scores")
TOLERANCE = {"atol": 2e-4, "rtol": 1e-4}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny SFT policy (it ends some responses with eos and not others, so lengths differ) and prompts."""
    root = tmp_path_factory.mktemp("ppo_scale")
    os.environ.setdefault("TULU_DATA_CACHE", str(root / "cache"))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    run = sft.main(
        [
            "--mix", str(write_sft(root / "sft_data", count=64)), "--model", "tiny",
            "--output_dir", str(root / "policy"), "--learning_rate", "3e-3", "--num_train_epochs", "6",
            "--effective_batch_size", "0", "--per_device_train_batch_size", "8", "--max_length", "128",
            "--save_strategy", "no", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    torch.set_num_threads(previous)
    return {"root": root, "policy": run.output_dir, "prompts": write_prompts(root / "prompts", count=16)}


def ppo_flags(setup: dict[str, Path], output_dir: Path, *extra: str) -> list[str]:
    """Three PPO steps of 8 prompts; the reward and value models start from the policy's weights (random
    one-output head), a large learning rate so that the weights move."""
    return [
        "--mix", str(setup["prompts"]), "--model", str(setup["policy"]), "--reward_model", str(setup["policy"]),
        "--rollout_batch_size", "8", "--max_steps", str(STEPS), "--max_response_length", "8",
        "--learning_rate", "1e-3", "--per_device_train_batch_size", "2", "--save_rollouts", "true",
        "--output_dir", str(output_dir), *extra,
    ]  # fmt: skip


def run_launched(flags: list[str], cache: Path, processes: int = 2) -> None:
    """``torchrun --standalone`` with ``processes`` CPU processes (gloo), or plain ``python -m`` for one,
    fault handlers on; fails the test on error."""
    env = {**os.environ, "TULU_DATA_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    command = [sys.executable, *(launcher if processes > 1 else []), "-m", "training.ppo", *flags]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def run_in_process(flags: list[str]) -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ppo.main(flags)
    finally:
        torch.set_num_threads(previous)


def rollouts(output_dir: Path) -> dict[tuple[int, int], dict[str, torch.Tensor]]:
    """Every saved rollout row, keyed by (step, prompt index), whichever process held it."""
    rows = {}
    for path in sorted((output_dir / "rollouts").glob("step-*-rank-*.pt")):
        step = int(path.name.split("-")[1])
        saved = torch.load(path)
        for position, index in enumerate(saved["indices"]):
            rows[(step, index)] = {name: saved[name][position] for name in ROLLOUT_FIELDS}
    return rows


def log(output_dir: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (output_dir / "ppo_log.jsonl").read_text().splitlines()]


def assert_same_rollouts(expected: dict, found: dict, steps: set[int]) -> None:
    chosen = {key: value for key, value in expected.items() if key[0] in steps}
    assert sorted(key for key in found if key[0] in steps) == sorted(chosen)
    for key, row in chosen.items():
        assert torch.equal(found[key]["responses"], row["responses"]), key
        for name in ROLLOUT_FIELDS[1:]:
            torch.testing.assert_close(found[key][name], row[name], **TOLERANCE, msg=f"{key} {name}")


def assert_same_losses(expected: list[dict], found: list[dict]) -> None:
    for want, got in zip(expected, found, strict=True):
        assert got["step"] == want["step"]
        for name in ("value_loss", "score", "kl", "learning_rate", "value_clipfrac", "policy_clipfrac"):
            assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-5), (want["step"], name)
        # The policy loss of one PPO epoch is -mean(advantage) at ratio 1: ~0 after whitening, so only
        # its size can be compared.
        assert got["policy_loss"] == pytest.approx(want["policy_loss"], abs=1e-5)


def assert_same_weights(expected: Path, found: Path) -> None:
    for name in ("model.safetensors", "value_model/model.safetensors"):
        want, got = load_file(expected / name), load_file(found / name)
        assert want.keys() == got.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], **TOLERANCE, msg=f"{name} {key}")


@pytest.fixture(scope="module")
def single(setup: dict[str, Path]) -> Path:
    """The reference: one process."""
    out = setup["root"] / "single"
    run_in_process(ppo_flags(setup, out))
    return out


@pytest.fixture(scope="module")
def fsdp(setup: dict[str, Path]) -> Path:
    """FSDP2 on 2 processes, saving a checkpoint after step 2."""
    out = setup["root"] / "fsdp"
    run_launched(ppo_flags(setup, out, "--sharding", "fsdp", "--save_steps", "2"), setup["root"] / "cache")
    return out


def test_prompt_order_splits_one_batch_over_processes() -> None:
    one = PromptOrder(20, 8, seed=3)
    shares = [PromptOrder(20, 8, seed=3, rank=rank, world_size=2) for rank in range(2)]
    for step in range(5):  # 2 steps per epoch: epochs 0, 1 and 2
        assert shares[0].rows(step) + shares[1].rows(step) == one.rows(step)
    assert one.rows(0) != one.rows(2)  # a new permutation each epoch
    assert len(set(one.rows(0) + one.rows(1))) == 16


@pytest.mark.slow
def test_fsdp_matches_one_process(single: Path, fsdp: Path) -> None:
    expected = rollouts(single)
    assert len(expected) == STEPS * 8
    lengths = {len(row["responses"]) for row in expected.values()}
    assert len(lengths) > 1, lengths  # some responses end early: padding differs between batches
    assert_same_rollouts(expected, rollouts(fsdp), set(range(1, STEPS + 1)))
    assert_same_losses(log(single), log(fsdp))
    assert_same_weights(single, fsdp)


@pytest.mark.slow
def test_ddp_matches_one_process(setup: dict[str, Path], single: Path) -> None:
    out = setup["root"] / "ddp"
    run_launched(ppo_flags(setup, out, "--sharding", "ddp"), setup["root"] / "cache")
    assert_same_rollouts(rollouts(single), rollouts(out), set(range(1, STEPS + 1)))
    assert_same_losses(log(single), log(out))
    assert_same_weights(single, out)


@pytest.mark.slow
def test_fsdp_checkpoint_loads_and_resumes(setup: dict[str, Path], single: Path, fsdp: Path) -> None:
    checkpoint = fsdp / "checkpoint-2"
    policy = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert policy.num_parameters() == AutoModelForCausalLM.from_pretrained(setup["policy"]).num_parameters()
    assert (
        AutoModelForSequenceClassification.from_pretrained(checkpoint / "value_model").config.num_labels == 1
    )
    assert json.loads((checkpoint / "trainer_state.json").read_text()) == {"step": 2}
    out = setup["root"] / "resumed"
    flags = ppo_flags(setup, out, "--sharding", "fsdp", "--offload_frozen", "true",
                      "--resume_from_checkpoint", str(checkpoint))  # fmt: skip
    run_launched(flags, setup["root"] / "cache")
    # and across layouts: the FSDP checkpoint resumed by one process holding whole models
    across = setup["root"] / "resumed_on_one_process"
    run_launched(
        ppo_flags(setup, across, "--resume_from_checkpoint", str(checkpoint)), setup["root"] / "cache", 1
    )
    for resumed in (out, across):
        assert [entry["step"] for entry in log(resumed)] == [3]
        assert_same_rollouts(rollouts(single), rollouts(resumed), {3})
        assert_same_losses(log(single)[2:], log(resumed))
        assert_same_weights(single, resumed)


def test_micro_batching_changes_nothing(setup: dict[str, Path], single: Path) -> None:
    out = setup["root"] / "whole_batches"
    run_in_process(
        ppo_flags(setup, out, "--per_device_train_batch_size", "8", "--rollout_forward_batch_size", "0")
    )
    assert_same_rollouts(rollouts(single), rollouts(out), set(range(1, STEPS + 1)))
    assert_same_losses(log(single), log(out))
    assert_same_weights(single, out)


@pytest.mark.slow
def test_fsdp_on_one_process_with_the_frozen_models_offloaded(setup: dict[str, Path], single: Path) -> None:
    """``--sharding fsdp`` without a launcher makes a group of one; the frozen shards live in CPU memory."""
    out = setup["root"] / "fsdp_one_process"
    run_launched(
        ppo_flags(setup, out, "--sharding", "fsdp", "--offload_frozen", "true"), setup["root"] / "cache", 1
    )
    assert_same_rollouts(rollouts(single), rollouts(out), set(range(1, STEPS + 1)))
    assert_same_losses(log(single), log(out))
    assert_same_weights(single, out)
