"""PPO checkpoints: the policy and value model in the Hugging Face format, plus what resuming needs.

A checkpoint folder holds the policy (``AutoModelForCausalLM.from_pretrained(folder)``), its tokenizer,
the value model in ``value_model/``, and ``training_state.pt``: the optimizer and scheduler state (whole,
keyed by parameter name, so a run saved with FSDP on 8 processes resumes with DDP on 2 and back) and the
step. Weights are gathered whole onto the first process and written by it alone (``get_model_state_dict``
with ``full_state_dict``), whether the models are sharded (FSDP2), replicated (DDP) or on one process.
``--resume_from_checkpoint FOLDER`` loads the policy and value weights, the optimizer, the scheduler and
the step; the reference and reward models still come from ``--model``/``--ref_model`` and
``--reward_model``. The prompt order and the sampling depend only on the seed and the step
(``training.ppo_batches``, ``training.sampling``), so a resumed run takes the rollouts an uninterrupted
one would. On several nodes the folder must be on storage every node reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

TRAINING_STATE = "training_state.pt"


def _options(**flags: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **flags)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole state dict, on CPU, on the first process (an empty dict elsewhere when distributed)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(cpu_offload=True))


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The whole optimizer state keyed by parameter name, on CPU, on the first process."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def save_models(folder: Path, policy: nn.Module, value_model: nn.Module, tokenizer: Any, main: bool) -> None:
    """Write the policy to ``folder`` and the value model to ``folder/value_model`` (HF format)."""
    states = (full_model_state(policy), full_model_state(value_model))  # collective: every process
    if not main:
        return
    for model, state, target in (
        (policy, states[0], folder),
        (value_model, states[1], folder / "value_model"),
    ):
        model.save_pretrained(target, state_dict=state)
        tokenizer.save_pretrained(target)


def save_training_state(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, step: int, main: bool
) -> None:
    """Write the optimizer and scheduler state and the step to ``folder/training_state.pt``."""
    optimizer_state = full_optimizer_state(model, optimizer)  # collective: every process
    if main:
        state = {"optimizer": optimizer_state, "scheduler": scheduler.state_dict(), "step": step}
        torch.save(state, folder / TRAINING_STATE)
        (folder / "trainer_state.json").write_text(json.dumps({"step": step}) + "\n")


def load_training_state(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> int:
    """Restore the optimizer and scheduler from ``folder`` on every process; returns the step."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    path = Path(folder) / TRAINING_STATE
    if not path.is_file():
        raise FileNotFoundError(f"--resume_from_checkpoint {folder}: no {TRAINING_STATE} there")
    state = torch.load(path, map_location="cpu", weights_only=False)
    set_optimizer_state_dict(model, optimizer, optim_state_dict=state["optimizer"], options=_options())
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])


def write_rollout(folder: Path, step: int, indices: list[int], batch: Any, accelerator: Any) -> Path:
    """Write this process's rows of a rollout (``--save_rollouts``), each cut to its response length:
    ``folder/step-S-rank-R.pt`` with the prompt indices, responses, log-probabilities, values,
    advantages, returns and scores."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = batch.mask.sum(dim=1).long().tolist()
    rows = {
        name: [getattr(batch, name)[row, :length].cpu() for row, length in enumerate(lengths)]
        for name in ("responses", "logprobs", "values", "advantages", "returns")
    }
    rows.update(indices=list(indices), scores=batch.scores.cpu())
    path = folder / f"step-{step}-rank-{accelerator.process_index}.pt"
    torch.save(rows, path)
    return path
