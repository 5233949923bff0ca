"""PPO's settings, which are also its command line (``python -m training.ppo --help``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import accumulation_steps, world_size
from .ppo_sharding import SHARDINGS

ENGINES = ("native", "verl")


@dataclass
class PPOConfig:
    """PPO settings; defaults follow the Tulu 2.5 recipe where it states them."""

    mix: str | None = field(
        default=None,
        metadata={
            "help": "Required. Prompts: ultrafeedback_prompts, any prompt dataset, or preference/SFT data "
            "(their prompt turns). A catalog name, a local folder or a Hub dataset id."
        },
    )
    sources: str = field(
        default="hub",
        metadata={
            "help": "Where tulu_data reads upstream data: 'hub', a mirror folder, or 'samples' (smoke runs)."
        },
    )
    builds_dir: str = field(default="builds", metadata={"help": "Folder where tulu_data writes builds."})
    split: str = field(default="train", metadata={"help": "Split to take prompts from."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use a seeded random sample of at most this many prompts."}
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Required. The policy's starting point: an SFT checkpoint, or 'tiny'."},
    )
    reward_model: str | None = field(
        default=None,
        metadata={
            "help": "Required. A reward model checkpoint (e.g. from training.rm), frozen; or 'tiny' (random, "
            "smoke runs only)."
        },
    )
    value_model: str | None = field(
        default=None, metadata={"help": "Value model checkpoint (default: initialised from --reward_model)."}
    )
    ref_model: str | None = field(
        default=None, metadata={"help": "Reference policy (default: --model), frozen."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where the policy is saved (default runs/ppo-MIX)."}
    )
    seed: int = field(default=42, metadata={"help": "Random seed (sampling, shuffling, tiny models)."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate (Tulu 2.5: 1e-6)."})
    lr_scheduler_type: str = field(
        default="linear", metadata={"help": "Schedule, no warmup (our choice: the recipe is silent)."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    kl_coef: float = field(
        default=0.05,
        metadata={"help": "Per-token KL penalty coefficient (Tulu 2.5: 0.05; 0.0325 with larger RMs)."},
    )
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (Tulu 2.5: 0.7)."})
    gamma: float = field(default=1.0, metadata={"help": "GAE discount (Tulu 2.5: 1.0)."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda (Tulu 2.5: 0.95)."})
    cliprange: float = field(default=0.2, metadata={"help": "Policy ratio clip (Tulu 2.5: 0.2)."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value clip (Tulu 2.5: 0.2)."})
    vf_coef: float = field(default=0.1, metadata={"help": "Value loss coefficient (Tulu 2.5: 0.1)."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Whiten advantages (rewards are not)."})
    max_response_length: int = field(
        default=1024, metadata={"help": "Max new tokens per response (Tulu 2.5: 1024)."}
    )
    max_prompt_length: int = field(default=1024, metadata={"help": "Prompts longer than this are dropped."})
    missing_eos_penalty: float = field(
        default=10.0, metadata={"help": "Subtracted from the score of a response without eos."}
    )
    num_ppo_epochs: int = field(default=1, metadata={"help": "PPO epochs per rollout batch (Tulu 2.5: 1)."})
    rollout_batch_size: int = field(
        default=64,
        metadata={"help": "Prompts per PPO step over all processes, one rollout each (our choice)."},
    )
    num_mini_batches: int = field(
        default=1, metadata={"help": "Optimizer steps per rollout batch and epoch."}
    )
    per_device_train_batch_size: int = field(
        default=8, metadata={"help": "Update micro-batch (gradients accumulate)."}
    )
    rollout_forward_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Rows per scoring forward of a rollout (policy, value, reference, reward); 0: the whole "
            "per-device rollout batch at once. Default: --per_device_train_batch_size."
        },
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the prompts."})
    max_steps: int = field(default=-1, metadata={"help": "PPO steps; overrides num_train_epochs if > 0."})
    logging_steps: int = field(default=1, metadata={"help": "Log every this many PPO steps."})
    save_steps: int = field(
        default=0, metadata={"help": "Also save a checkpoint every this many steps (0: none)."}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 mixed precision (default: on when CUDA has bf16)."}
    )
    use_cpu: bool | None = field(
        default=None,
        metadata={"help": "Run on CPU (default: when no accelerator is present)."},
    )
    activation_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in the update."}
    )
    sharding: str = field(
        default="ddp", metadata={"help": "ddp (whole copies) or fsdp (FSDP2 shards; README)."}
    )
    offload_frozen: bool = field(
        default=False, metadata={"help": "fsdp: reference and reward shards in CPU memory."}
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "Carry on from OUTPUT_DIR/checkpoint-N."}
    )
    save_rollouts: bool = field(
        default=False, metadata={"help": "Write per-row rollouts to OUTPUT_DIR/rollouts/."}
    )
    engine: str = field(default="native", metadata={"help": "native (this loop) or verl (with --export)."})
    export: str | None = field(
        default=None, metadata={"help": "--engine verl: write its run to this folder."}
    )

    def __post_init__(self) -> None:
        for required in ("mix", "model", "reward_model"):
            if not getattr(self, required):
                raise ValueError(f"--{required} is required")
        if self.sharding not in SHARDINGS:
            raise ValueError(f"--sharding {self.sharding}: choose one of {', '.join(SHARDINGS)}")
        if self.engine not in ENGINES:
            raise ValueError(f"--engine {self.engine}: choose one of {', '.join(ENGINES)}")
        if (self.engine == "verl") != (self.export is not None):
            raise ValueError(
                "--engine verl and --export DIR go together (verl runs are exported, not trained here)"
            )
        if self.output_dir is None:
            self.output_dir = str(Path("runs") / f"ppo-{Path(self.mix).name}")
        if self.use_cpu is None:
            self.use_cpu = not torch.accelerator.is_available()
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not self.use_cpu
        if self.rollout_forward_batch_size is None:
            self.rollout_forward_batch_size = self.per_device_train_batch_size
        self.per_device_rollout_batch_size = accumulation_steps(self.rollout_batch_size, 1, world_size())
        if self.per_device_rollout_batch_size % self.num_mini_batches:
            raise ValueError("the per-device rollout batch must split evenly into --num_mini_batches")
