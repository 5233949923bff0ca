"""What a PPO run holds per GPU, computed: the README's "PPO at scale" table (``python -m training.ppo_memory``).

Four models: policy and value model trained (16 bytes per parameter: fp32 weights and gradients, AdamW
moments), reference and reward model frozen in bf16 (2 bytes), as ``training.precision`` describes.
``--sharding fsdp`` divides all four by the number of GPUs; ``--offload_frozen`` moves the frozen shards
to CPU memory. On top, the larger of two phases (they do not overlap):

- generation: the KV cache of the per-device rollout batch (bf16, prompt + response = 2,048 tokens) and
  the policy's bf16 weights used for decoding: a whole copy under DDP (autocast's cast), one layer at a
  time under FSDP (two counted, for prefetch);
- update: with ``--activation_checkpointing``, each decoder layer's bf16 input for one micro-batch
  (``--per_device_train_batch_size`` 8 x 2,048 tokens) in the policy and in the value model, plus the
  policy's fp32 logits and log-softmax over the 1,024 response positions of the micro-batch.

Llama-2 shapes (1B = TinyLlama-1.1B), Tulu 2.5 settings (64 prompts per step, 1,024-token prompts and
responses). Computed, not measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from .precision import GIB, GPU_MEMORY_GIB, SHAPES, TRAINED_BYTES, model_sizes

FROZEN_BYTES = 2
ROLLOUT_BATCH = 64
PROMPT_TOKENS = 1024
RESPONSE_TOKENS = 1024
MICRO_BATCH = 8
VOCAB = 32000


@dataclass(frozen=True)
class Layout:
    name: str
    gpus: int
    sharded: bool
    offload_frozen: bool = False


LAYOUTS = (
    Layout("1 GPU", 1, sharded=False),
    Layout("1 GPU, frozen offloaded", 1, sharded=True, offload_frozen=True),
    Layout("8 GPUs, DDP", 8, sharded=False),
    Layout("8 GPUs, FSDP", 8, sharded=True),
    Layout("8 GPUs, FSDP, frozen offloaded", 8, sharded=True, offload_frozen=True),
)


def state_bytes(size: str, layout: Layout) -> float:
    """Weights, gradients and optimizer state of the four models on one GPU."""
    policy, reward = model_sizes(size)
    shards = layout.gpus if layout.sharded else 1
    trained = (policy + reward) * sum(TRAINED_BYTES.values()) / shards
    frozen = 0.0 if layout.offload_frozen else (policy + reward) * FROZEN_BYTES / shards
    return trained + frozen


def kv_cache_bytes(size: str, rows: int, tokens: int) -> float:
    """bf16 keys and values of ``rows`` sequences of ``tokens`` tokens."""
    shape = SHAPES[size]
    head_dim = shape["hidden_size"] // shape["num_attention_heads"]
    return rows * tokens * shape["num_hidden_layers"] * 2 * shape["num_key_value_heads"] * head_dim * 2


def generation_bytes(size: str, layout: Layout) -> float:
    """KV cache of the per-device rollout batch plus the bf16 policy weights decoding reads."""
    policy, _ = model_sizes(size)
    layers = SHAPES[size]["num_hidden_layers"]
    weights = policy * FROZEN_BYTES * (2 / layers if layout.sharded else 1)
    rows = ROLLOUT_BATCH // layout.gpus
    return kv_cache_bytes(size, rows, PROMPT_TOKENS + RESPONSE_TOKENS) + weights


def update_bytes(size: str) -> float:
    """Checkpointed layer inputs of one micro-batch in policy and value model, plus fp32 logits."""
    shape = SHAPES[size]
    tokens = MICRO_BATCH * (PROMPT_TOKENS + RESPONSE_TOKENS)
    checkpoints = 2 * tokens * shape["hidden_size"] * shape["num_hidden_layers"] * 2
    logits = 2 * MICRO_BATCH * RESPONSE_TOKENS * VOCAB * 4  # logits and log-softmax in fp32
    return checkpoints + logits


def peak_bytes(size: str, layout: Layout) -> tuple[float, float, float]:
    """``(state, generation, update)`` bytes per GPU."""
    return state_bytes(size, layout), generation_bytes(size, layout), update_bytes(size)


def ppo_memory_table(sizes: tuple[str, ...] = ("1b", "7b", "13b")) -> str:
    """The README table: GiB per GPU, and whether the peak fits an 80 GB GPU with 10% headroom."""
    lines = [
        "| model | layout | model state | generation | update | peak | fits 80 GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for layout in LAYOUTS:
            state, generation, update = (value / GIB for value in peak_bytes(size, layout))
            peak = state + max(generation, update)
            fits = "yes" if peak <= 0.9 * GPU_MEMORY_GIB else "no"
            lines.append(
                f"| {size} | {layout.name} | {state:.1f} | {generation:.1f} | {update:.1f} | {peak:.1f} | {fits} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(ppo_memory_table())
