"""How weights, gradients, optimizer state and compute are held in training, and what that costs in memory.

The decision (README, "Precision and memory"):

- Trained models (SFT/DPO policy, reward model, PPO policy and value model) keep fp32 weights, fp32
  gradients and fp32 AdamW moments, and compute under bf16 autocast (``--bf16``, on where CUDA has
  bf16): 16 bytes per parameter before sharding. bf16 weights with a bf16 optimizer would halve that,
  but AdamW updates at the Tulu learning rates (5e-7 to 2e-5) are mostly below bf16's resolution
  relative to the weights, so they would be lost; fp32 master weights keep them.
- Frozen models (DPO's and PPO's reference, PPO's reward model) are held in bf16 (``frozen_dtype``):
  2 bytes per parameter and no per-forward cast.
- PPO generation runs under autocast too; autocast casts each fp32 policy weight to bf16 once per
  generate call (its weight cache), i.e. a transient bf16 copy of the policy (2 bytes per parameter).

``python -m training.precision`` prints the model-state memory table of the README, computed from
parameter counts (Llama-2 shapes; 1B is the TinyLlama-1.1B shape) and the shipped accelerate configs.
"""

from __future__ import annotations

import functools

import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

GIB = 1024**3
GPU_MEMORY_GIB = 80
# Llama-2 shapes (7B, 13B) and TinyLlama-1.1B's (a Llama-2-vocabulary 1B), all with the 32,000-token vocabulary.
SHAPES: dict[str, dict[str, int]] = {
    "1b": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
           "num_attention_heads": 32, "num_key_value_heads": 4},
    "7b": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 32},
    "13b": {"hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
            "num_attention_heads": 40, "num_key_value_heads": 40},
}  # fmt: skip
TRAINED_BYTES = {"weights": 4, "gradients": 4, "optimizer": 8}  # fp32 master, fp32 grads, AdamW m and v
FROZEN_BYTES = 2  # bf16
LAYOUTS = ("1 GPU", "8 GPUs, DDP", "8 GPUs, ZeRO-2", "8 GPUs, ZeRO-3 / FSDP")
TASKS = ("SFT", "DPO", "RM", "PPO")


def frozen_dtype(bf16: bool) -> torch.dtype:
    """Frozen models are held in bf16 under ``--bf16``: they have no optimizer, so an fp32 copy would only
    double their memory and the per-forward casts."""
    return torch.bfloat16 if bf16 else torch.float32


def llama_config(size: str, vocab_size: int = 32000, **overrides: int) -> LlamaConfig:
    """A Llama config of one of the ``SHAPES``."""
    return LlamaConfig(
        **SHAPES[size], vocab_size=vocab_size, max_position_embeddings=8192, tie_word_embeddings=False,
        **overrides,
    )  # fmt: skip


def parameter_count(config: LlamaConfig, reward_head: bool = False) -> int:
    """Exact parameter count of the causal LM (or one-output reward model), built on the meta device."""
    with torch.device("meta"):
        if reward_head:
            settings = {k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}
            model = LlamaForSequenceClassification(LlamaConfig(**settings, num_labels=1))
        else:
            model = LlamaForCausalLM(config)
    return sum(p.numel() for p in model.parameters())


@functools.cache
def model_sizes(size: str) -> tuple[int, int]:
    """Parameters of the causal LM and of the reward model of ``size`` (computed once)."""
    config = llama_config(size)
    return parameter_count(config), parameter_count(config, reward_head=True)


def trained_bytes(params: int, layout: str, gpus: int = 8) -> float:
    """Per-GPU bytes of one trained model's weights, gradients and optimizer state under ``layout``.

    ZeRO-2 under bf16 keeps bf16 weights replicated and shards bf16 gradients and the fp32 master weights
    and moments; ZeRO-3 and FSDP shard all of it (16 bytes per parameter over the GPUs).
    """
    if layout in ("1 GPU", "8 GPUs, DDP"):
        return params * sum(TRAINED_BYTES.values())
    if layout == "8 GPUs, ZeRO-2":
        return params * (2 + (2 + 4 + 8) / gpus)
    return params * sum(TRAINED_BYTES.values()) / gpus


def frozen_bytes(params: int, layout: str, gpus: int = 8) -> float:
    """Per-GPU bytes of a frozen bf16 model (sharded only by ZeRO-3 / FSDP)."""
    return params * FROZEN_BYTES / (gpus if layout == "8 GPUs, ZeRO-3 / FSDP" else 1)


def task_state_bytes(task: str, size: str, layout: str) -> float | None:
    """Per-GPU model-state bytes of ``task`` at ``size``; None where the layout is not supported (PPO runs
    on one process, DDP or its own FSDP2 sharding, ``--sharding fsdp``; not ZeRO-2)."""
    policy, reward = model_sizes(size)
    if task == "SFT":
        return trained_bytes(policy, layout)
    if task == "DPO":
        return trained_bytes(policy, layout) + frozen_bytes(policy, layout)
    if task == "RM":
        return trained_bytes(reward, layout)
    if layout == "8 GPUs, ZeRO-2":
        return None
    trained = trained_bytes(policy, layout) + trained_bytes(reward, layout)  # policy, value model
    frozen = frozen_bytes(policy, layout) + frozen_bytes(reward, layout)  # reference, reward model
    if layout == "8 GPUs, ZeRO-3 / FSDP":  # generation gathers one layer at a time (two, with prefetch)
        return trained + frozen + FROZEN_BYTES * policy * 2 / SHAPES[size]["num_hidden_layers"]
    return trained + frozen + FROZEN_BYTES * policy  # + the policy's bf16 cast while generating


def checkpointed_activation_bytes(size: str, tokens: int) -> float:
    """Activations kept with checkpointing: each decoder layer's bf16 input, per token (the working set
    of the one layer being recomputed, and the logits, come on top)."""
    shape = SHAPES[size]
    return tokens * shape["hidden_size"] * shape["num_hidden_layers"] * 2


def memory_table(sizes: tuple[str, ...] = ("1b", "7b", "13b")) -> str:
    """The README's table: model state per GPU in GiB, and whether it fits an 80 GB GPU with the layer
    inputs of 8,192 tokens checkpointed and 10% left for the allocator and one layer's working set."""
    header = "| model | params | task | " + " | ".join(LAYOUTS) + " |"
    lines = [header, "|" + "---|" * (3 + len(LAYOUTS))]
    for size in sizes:
        params = model_sizes(size)[0]
        activations = checkpointed_activation_bytes(size, 8192)
        for task in TASKS:
            cells = []
            for layout in LAYOUTS:
                state = task_state_bytes(task, size, layout)
                if state is None:
                    cells.append("n/a")
                    continue
                fits = (state + activations) / GIB <= 0.9 * GPU_MEMORY_GIB
                cells.append(f"{state / GIB:.1f}" + ("" if fits else " ✗"))
            lines.append(f"| {size} | {params / 1e9:.2f}B | {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(memory_table())
