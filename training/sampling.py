"""Sampling whose draws depend on the row, not on how rows are batched, padded or spread over processes.

Each prompt gets a 62-bit key (from the run's seed, the PPO step and the prompt's index in the dataset).
The token sampled at response position ``t`` is ``argmax(logits / temperature + gumbel(key, t, token))``
(the Gumbel-max trick: an exact sample from ``softmax(logits / temperature)``), with the Gumbel noise a
fixed function of ``(key, t, token)`` computed on the device by an integer hash. So the same prompt with
the same weights gets the same response on one process or eight, in a batch of 4 or of 64; that is what
lets the tests compare the sharded loop with the single-process one, and what makes a resumed run
repeat the rollouts of an uninterrupted one.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

MASK62 = (1 << 62) - 1
_MULTIPLIERS = (0x9E3779B97F4A7C15 & MASK62, 0xBF58476D1CE4E5B9 & MASK62, 0x94D049BB133111EB & MASK62)


def mix(values: torch.Tensor) -> torch.Tensor:
    """An integer hash of int64 tensors (xor-shift and multiply rounds, kept to 62 bits)."""
    for multiplier in _MULTIPLIERS:
        values = values & MASK62
        values = (values ^ (values >> 29)) * multiplier  # int64 products wrap: still a fixed function
    return values & MASK62


def mix_int(*parts: int) -> int:
    """A 62-bit key from several integers (the seed, the step, a prompt's index)."""
    key = torch.tensor(0, dtype=torch.long)
    for part in parts:
        key = mix(key + (int(part) & MASK62))
    return int(key)


def uniform(keys: torch.Tensor, position: int, vocab_size: int) -> torch.Tensor:
    """``[rows, vocab]`` uniforms in (0, 1), a fixed function of each row's key, the position and the token."""
    row = mix(keys.unsqueeze(1) + ((position * _MULTIPLIERS[0]) & MASK62))  # < 2**63: no int64 overflow
    tokens = torch.arange(vocab_size, device=keys.device, dtype=torch.long).unsqueeze(0)
    bits = mix(row + tokens * _MULTIPLIERS[1]) >> 9  # 53 bits
    return (bits.double() + 0.5) / float(1 << 53)


def gumbel(keys: torch.Tensor, position: int, vocab_size: int) -> torch.Tensor:
    """Standard Gumbel noise, ``-log(-log(u))``."""
    return -torch.log(-torch.log(uniform(keys, position, vocab_size)))


class KeyedGumbelSampling(LogitsProcessor):
    """Turns greedy decoding into sampling at ``temperature`` with per-row keyed noise."""

    def __init__(self, keys: torch.Tensor, temperature: float, prompt_width: int) -> None:
        self.keys = keys
        self.temperature = temperature
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        position = input_ids.shape[1] - self.prompt_width
        noise = gumbel(self.keys.to(scores.device), position, scores.shape[-1])
        return (scores.double() / self.temperature + noise).float()


def row_keys(seed: int, step: int, indices: list[int]) -> torch.Tensor:
    """One key per prompt, from the seed, the PPO step and the prompt's index in the dataset."""
    return torch.tensor([mix_int(seed, step, index) for index in indices], dtype=torch.long)
