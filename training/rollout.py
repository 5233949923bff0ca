"""PPO rollouts: sampling responses, and the four scoring forwards (policy, value, reference, reward).

The scoring forwards run in row micro-batches (``--rollout_forward_batch_size``): each micro-batch keeps
only what PPO needs (response log-probabilities, values, the last-token score), so the ``[batch, tokens,
vocab]`` logits of the whole rollout batch never exist at once. Rows keep the whole batch's padding, so
a row's numbers do not depend on which micro-batch it is in.

Precision: the trained policy and value model keep fp32 weights (the optimizer's master copy) and run
under the accelerator's autocast, generation included; autocast casts each fp32 weight to bf16 once per
``autocast`` block and reuses the cast, so a whole ``generate`` call decodes with bf16 weights and a
bf16 KV cache. The frozen reference and reward models are held in bf16 outright (see
``training.precision``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LogitsProcessorList, PreTrainedModel

from .sampling import MASK62, KeyedGumbelSampling

Autocast = Callable[[], AbstractContextManager]


def token_scores(
    model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
) -> torch.Tensor:
    """A sequence classifier's one-output head applied at every position: ``[batch, tokens]``."""
    backbone = model.base_model
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    head = getattr(model, "score", None) or model.classifier
    return head(hidden).squeeze(-1).float()


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def response_logprobs(logits: torch.Tensor, responses: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probabilities of the response tokens under ``logits / temperature``, from logits over the
    positions that predict them (``[batch, response_tokens, vocab]``)."""
    log_softmax = F.log_softmax(logits.float() / temperature, dim=-1)
    return torch.gather(log_softmax, 2, responses.unsqueeze(-1)).squeeze(-1)


def left_pad(sequences: list[list[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists into ``(input_ids, attention_mask)``."""
    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            input_ids[row, width - len(sequence) :] = torch.tensor(sequence)
            attention_mask[row, width - len(sequence) :] = 1
    return input_ids, attention_mask


def truncate_after_eos(
    responses: torch.Tensor, eos_token_id: int, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut each response after its first eos: returns ``(responses, mask, ends_with_eos)``; padding after
    the end is set to the pad id and masked out."""
    is_eos = responses == eos_token_id
    ends_with_eos = is_eos.any(dim=1)
    first_eos = torch.where(
        ends_with_eos,
        is_eos.float().argmax(dim=1),
        torch.full_like(ends_with_eos, responses.shape[1] - 1, dtype=torch.long),
    )
    index = torch.arange(responses.shape[1], device=responses.device).unsqueeze(0)
    mask = (index <= first_eos.unsqueeze(1)).long()
    return responses.masked_fill(mask == 0, pad_token_id), mask, ends_with_eos


@torch.no_grad()
def sample_responses(
    model: PreTrainedModel,
    tokenizer: Any,
    prompt_ids: list[list[int]],
    max_new_tokens: int,
    temperature: float,
    keys: torch.Tensor | None = None,
    synced: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample one response per prompt: ``(queries, query_mask, responses, response_mask, ends_with_eos)``.

    ``keys`` (one per prompt, see ``training.sampling``) fix each row's draws; without them they are taken
    from torch's generator. ``synced``: every process keeps decoding until all are done (sharded weights
    are gathered collectively at each step, so no process may stop early).
    """
    device = next(model.parameters()).device
    queries, query_mask = left_pad(prompt_ids, tokenizer.pad_token_id)
    queries, query_mask = queries.to(device), query_mask.to(device)
    if keys is None:
        keys = torch.randint(0, MASK62, (len(prompt_ids),), dtype=torch.long)
    sampler = KeyedGumbelSampling(keys.to(device), temperature, queries.shape[1])
    generated = model.generate(
        input_ids=queries,
        attention_mask=query_mask,
        do_sample=False,  # greedy over keyed-noised logits: a sample at ``temperature``
        logits_processor=LogitsProcessorList([sampler]),
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        synced_gpus=synced,
    )
    responses, response_mask, ends_with_eos = truncate_after_eos(
        generated[:, queries.shape[1] :], tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    return queries, query_mask, responses, response_mask, ends_with_eos


@contextmanager
def stopwatch(times: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``times[name]`` (after the GPU has finished its queued work)."""
    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    synchronize()
    start = time.perf_counter()
    yield
    synchronize()
    times[name] = times.get(name, 0.0) + time.perf_counter() - start


def row_chunks(rows: int, size: int) -> list[slice]:
    """Consecutive row slices of at most ``size`` rows (``size <= 0``: one slice with every row)."""
    size = rows if size <= 0 else size
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


@dataclass
class Scored:
    """What the rollout keeps from the four forwards, per response token (``scores``: per row)."""

    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor


@dataclass
class ScoringModels:
    """The four rollout forwards: ``policy_and_value(ids, mask, positions) -> (logits, values)``."""

    policy_and_value: nn.Module
    ref_policy: PreTrainedModel
    reward_model: PreTrainedModel


def _score_rows(
    models: ScoringModels,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    context: int,
    temperature: float,
    autocast: Autocast,
) -> Scored:
    """The four forwards over one micro-batch, reduced at once to per-token numbers."""
    input_ids, attention_mask, position_ids, responses, response_mask = batch
    predicting = slice(context - 1, input_ids.shape[1] - 1)  # positions whose outputs predict the responses
    with autocast():
        logits, all_values = models.policy_and_value(input_ids, attention_mask, position_ids)
        logprobs = response_logprobs(logits[:, predicting], responses, temperature)
        del logits
        ref_logits = models.ref_policy(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).logits
        ref_logprobs = response_logprobs(ref_logits[:, predicting], responses, temperature)
        del ref_logits
        reward_per_token = token_scores(models.reward_model, input_ids, attention_mask, position_ids)
    last_token = context + response_mask.sum(dim=1) - 1
    scores = reward_per_token[torch.arange(len(last_token), device=last_token.device), last_token]
    return Scored(logprobs, ref_logprobs, all_values[:, predicting].float(), scores)


@torch.no_grad()
def score_rollout(
    models: ScoringModels,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    responses: torch.Tensor,
    response_mask: torch.Tensor,
    temperature: float,
    micro_batch_size: int = 0,
    autocast: Autocast | None = None,
) -> Scored:
    """Policy and reference log-probabilities of the responses, values, and last-token reward scores,
    computed ``micro_batch_size`` rows at a time (0: all rows in one forward each)."""
    autocast = autocast or _no_autocast
    context = input_ids.shape[1] - responses.shape[1]
    position_ids = positions(attention_mask)
    tensors = (input_ids, attention_mask, position_ids, responses, response_mask)
    parts = [
        _score_rows(models, tuple(t[rows] for t in tensors), context, temperature, autocast)
        for rows in row_chunks(input_ids.shape[0], micro_batch_size)
    ]
    return Scored(*(torch.cat([getattr(p, name) for p in parts]) for name in Scored.__dataclass_fields__))


@contextmanager
def _no_autocast() -> Iterator[None]:
    yield
