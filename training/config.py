"""Command-line configs: trl's SFTConfig / DPOConfig / RewardConfig with the Tulu recipes as defaults.

Every field of trl's configs (and of transformers' TrainingArguments) is a flag; the fields below add
the data and model selection, and the recipe defaults from the Tulu 2 / 2.5 papers.

Batch size: ``--effective_batch_size N`` (per-device batch x gradient accumulation x processes) sets
``gradient_accumulation_steps`` from the number of processes ``accelerate launch`` starts
(``WORLD_SIZE``). Its defaults are the recipes' 128 (SFT), 32 (DPO) and 512 (RM). Pass 0 to set
``--gradient_accumulation_steps`` yourself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import DPOConfig, RewardConfig, SFTConfig


@dataclass
class TuluArguments:
    """Data, model and batch-size fields shared by the SFT, DPO and reward-model entry points."""

    mix: str | None = field(
        default=None,
        metadata={
            "help": "Required. A catalog dataset or mixture name (built with tulu_data), a local dataset folder, "
            "or a Hub dataset id (owner/name)."
        },
    )
    sources: str = field(
        default="hub",
        metadata={
            "help": "Where tulu_data reads upstream data for catalog names: 'hub', a mirror folder, or "
            "'samples' (the bundled few rows per source, for smoke runs)."
        },
    )
    builds_dir: str = field(default="builds", metadata={"help": "Folder where tulu_data writes builds."})
    split: str = field(default="train", metadata={"help": "Split to train on."})
    max_train_samples: int | None = field(
        default=None,
        metadata={
            "help": "Train on a seeded random sample of at most this many rows (never the first rows)."
        },
    )
    model: str | None = field(
        default=None,
        metadata={
            "help": "Required. A Hub model id or local checkpoint, or 'tiny' for a small random Llama with a "
            "tokenizer trained on the mixture (CPU smoke runs)."
        },
    )
    effective_batch_size: int = field(
        default=0,
        metadata={
            "help": "Global batch size = per_device_train_batch_size x gradient_accumulation_steps x processes; "
            "sets gradient_accumulation_steps. 0: use --gradient_accumulation_steps as given."
        },
    )
    pretokenize: bool = field(
        default=True,
        metadata={
            "help": "Tokenize with the Tulu one-pass encoder and cache by fingerprint ($TULU_DATA_CACHE). "
            "False: hand raw rows to trl, which tokenizes with the chat template."
        },
    )

    def _apply_tulu_defaults(self, task: str) -> None:
        """Check required fields, derive output_dir, bf16 and gradient accumulation."""
        if not self.mix:
            raise ValueError("--mix is required (a catalog name, a local dataset folder or a Hub dataset id)")
        if not self.model:
            raise ValueError("--model is required (a Hub id, a local checkpoint, or 'tiny')")
        if self.output_dir is None:
            self.output_dir = str(Path("runs") / f"{task}-{Path(self.mix).name}")
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not self.fp16
        # Both names set here: transformers < 5.23 only reads gradient_checkpointing.
        self.activation_checkpointing = self.gradient_checkpointing = resolve_activation_checkpointing(
            self.activation_checkpointing, self.gradient_checkpointing
        )
        if not torch.accelerator.is_available():
            # Without this, torchrun/accelerate on a CPU-only machine would run N unrelated copies.
            self.use_cpu = True
            self.dataloader_pin_memory = False  # nothing to pin for
        if self.effective_batch_size:
            self.gradient_accumulation_steps = accumulation_steps(
                self.effective_batch_size, self.per_device_train_batch_size, world_size()
            )


def activation_checkpointing_field() -> bool | None:
    """Activation checkpointing, on by default (trl's choice); resolved by ``resolve_activation_checkpointing``."""
    return field(
        default=None,
        metadata={"help": "Recompute activations in the backward pass to save memory (slower). Default: on."},
    )


def resolve_activation_checkpointing(activation: bool | None, gradient: bool | None) -> bool:
    """The new name wins, then the deprecated alias, then on (trl's default).

    Resolved before transformers sees the fields: only transformers >= 5.23 maps
    ``activation_checkpointing`` onto ``gradient_checkpointing``; older releases (the floor is 4.46) read
    ``gradient_checkpointing`` alone, so leaving it ``None`` silently turned checkpointing off there.
    """
    if activation is not None:
        return activation
    if gradient is not None:
        return gradient
    return True


def bf16_field() -> bool | None:
    """bf16 decided at start-up: on when CUDA supports it, unless a flag says otherwise."""
    return field(default=None, metadata={"help": "bf16 mixed precision (default: on when CUDA has bf16)."})


def padding_free_field() -> bool | None:
    """Padding-free batches, on by default where attention keeps the sequences apart (``training.packing``).

    SFT uses trl's collator (it needs --pretokenize); DPO flattens the chosen and rejected rows of each
    forward itself. The help is one literal so that the fast `--help` can read it without importing.
    """
    return field(
        default=None,
        metadata={
            "help": "Batches without padding: the rows of a batch end to end with per-sequence positions. "
            "Default: on where the attention implementation keeps sequences apart (flash attention, or "
            "transformers' block-diagonal mask for sdpa/eager), else padded with a warning; true: refuse "
            "where it is not exact. Off by default for single-sequence batches (nothing to remove)."
        },
    )


def gradient_checkpointing_alias_field() -> bool | None:
    """The old flag name, still accepted (`--gradient_checkpointing` alone means true)."""
    return field(
        default=None,
        metadata={"help": "Deprecated alias of --activation_checkpointing.", "nargs": "?", "const": True},
    )


def world_size() -> int:
    """Number of training processes (set by ``accelerate launch``/``torchrun``; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def accumulation_steps(effective_batch_size: int, per_device_batch_size: int, processes: int) -> int:
    """Gradient accumulation steps giving ``effective_batch_size``; it must divide evenly."""
    per_step = per_device_batch_size * processes
    if effective_batch_size % per_step:
        raise ValueError(
            f"effective batch size {effective_batch_size} is not a multiple of per-device batch "
            f"{per_device_batch_size} x {processes} processes"
        )
    return effective_batch_size // per_step


@dataclass
class TuluSFTConfig(SFTConfig, TuluArguments):
    """SFT with the Tulu 2 recipe: lr 2e-5, 2 epochs, warmup 3%, linear decay, no weight decay,
    effective batch 128, max length 8192, bf16 where CUDA has it."""

    output_dir: str | None = field(
        default=None, metadata={"help": "Where checkpoints go (default runs/sft-MIX)."}
    )
    learning_rate: float = field(
        default=2e-5, metadata={"help": "Peak learning rate (Tulu 2: 2e-5; 1e-5 at 70B)."}
    )
    num_train_epochs: float = field(default=2.0, metadata={"help": "Epochs (Tulu 2: 2)."})
    warmup_steps: float = field(
        default=0.03, metadata={"help": "Warmup: steps, or a ratio of all steps if < 1."}
    )
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Learning-rate schedule."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay (Tulu 2: 0)."})
    max_length: int | None = field(default=8192, metadata={"help": "Max tokens per row (Tulu 2: 8192)."})
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Rows per device per step."})
    effective_batch_size: int = field(
        default=128,
        metadata={
            "help": "Global batch (per-device x accumulation x processes); Tulu 2: 128. 0: use "
            "--gradient_accumulation_steps."
        },
    )
    bf16: bool | None = bf16_field()
    activation_checkpointing: bool | None = activation_checkpointing_field()
    gradient_checkpointing: bool | None = gradient_checkpointing_alias_field()
    padding_free: bool | None = padding_free_field()
    assistant_only_loss: bool = field(
        default=True,
        metadata={
            "help": "Loss on assistant content + eos only (the Tulu rule). With --pretokenize the encoder "
            "applies it; otherwise trl applies it through the template's generation markers."
        },
    )

    def __post_init__(self) -> None:
        self._apply_tulu_defaults("sft")
        super().__post_init__()


@dataclass
class TuluDPOConfig(DPOConfig, TuluArguments):
    """DPO with the Tulu 2 / 2.5 recipe: beta 0.1, lr 5e-7, warmup 10%, linear decay, 3 epochs,
    effective batch 32."""

    output_dir: str | None = field(
        default=None, metadata={"help": "Where checkpoints go (default runs/dpo-MIX)."}
    )
    ref_model: str | None = field(
        default=None, metadata={"help": "Reference model (default: the starting --model, frozen)."}
    )
    beta: float = field(default=0.1, metadata={"help": "DPO beta (Tulu: 0.1)."})
    learning_rate: float = field(default=5e-7, metadata={"help": "Peak learning rate (Tulu: 5e-7)."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Epochs (Tulu: 3)."})
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Warmup: steps, or a ratio of all steps if < 1."}
    )
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Learning-rate schedule."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay."})
    max_length: int | None = field(
        default=2048,
        metadata={"help": "Max tokens of prompt + reply (our choice; the collator keeps the start)."},
    )
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Pairs per device per step."})
    effective_batch_size: int = field(
        default=32,
        metadata={
            "help": "Global batch (per-device x accumulation x processes); Tulu: 32. 0: use "
            "--gradient_accumulation_steps."
        },
    )
    bf16: bool | None = bf16_field()
    activation_checkpointing: bool | None = activation_checkpointing_field()
    gradient_checkpointing: bool | None = gradient_checkpointing_alias_field()
    padding_free: bool | None = padding_free_field()

    def __post_init__(self) -> None:
        self._apply_tulu_defaults("dpo")
        super().__post_init__()


@dataclass
class TuluRewardConfig(RewardConfig, TuluArguments):
    """Reward-model training with the Tulu 2.5 recipe: lr 1e-5, 1 epoch, warmup 3%, linear decay,
    effective batch 512."""

    output_dir: str | None = field(
        default=None, metadata={"help": "Where checkpoints go (default runs/rm-MIX)."}
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (Tulu 2.5: 1e-5)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs (Tulu 2.5: 1)."})
    warmup_steps: float = field(
        default=0.03, metadata={"help": "Warmup: steps, or a ratio of all steps if < 1."}
    )
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Learning-rate schedule."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay."})
    max_length: int | None = field(
        default=2048,
        metadata={"help": "Pairs with a longer chosen or rejected sequence are dropped (our choice)."},
    )
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Pairs per device per step."})
    effective_batch_size: int = field(
        default=512,
        metadata={
            "help": "Global batch (per-device x accumulation x processes); Tulu 2.5: 512. 0: use "
            "--gradient_accumulation_steps."
        },
    )
    bf16: bool | None = bf16_field()
    activation_checkpointing: bool | None = activation_checkpointing_field()
    gradient_checkpointing: bool | None = gradient_checkpointing_alias_field()

    def __post_init__(self) -> None:
        self._apply_tulu_defaults("rm")
        super().__post_init__()
