"""The PPO arithmetic, as small pure functions over ``[batch, response_tokens]`` tensors.

``mask`` marks real response tokens (1) versus padding after the end of a response (0); a response's
real tokens come first. Means are taken over real tokens of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over positions where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def compute_rewards_with_kl(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: ``-kl_coef * (logprob - ref_logprob)`` on every token, plus the sequence score
    on the last real token. Returns ``(rewards, kl)``, both zero on padding."""
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last_index = (mask.sum(dim=1).long() - 1).clamp(min=0)
    has_tokens = mask.sum(dim=1) > 0
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last_index] += torch.where(has_tokens, scores, torch.zeros_like(scores))
    return rewards, kl


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each response; returns ``(advantages, returns)``.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``, with the
    value after the last real token taken as 0. ``returns = advantages + values``.
    """
    rewards = rewards * mask
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    length = rewards.shape[1]
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        running = running * mask[:, t]
        advantages[:, t] = running
    returns = advantages + values
    return advantages, returns


def whiten(
    values: torch.Tensor,
    mask: torch.Tensor,
    shift_mean: bool = True,
    eps: float = 1e-8,
    sum_all: Callable[[torch.Tensor], torch.Tensor] = lambda total: total,
) -> torch.Tensor:
    """Scale to unit variance over real tokens (population variance); also centre unless ``shift_mean`` is
    False. Padding stays 0. ``sum_all`` turns a local sum into the sum over all processes, so the mean and
    variance are those of the whole batch when it is spread over processes."""
    count = sum_all(mask.sum()).clamp(min=1)
    mean = sum_all((values * mask).sum()) / count
    variance = sum_all((((values - mean) ** 2) * mask).sum()) / count
    whitened = (values - mean) * torch.rsqrt(variance + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate: mean of ``max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))``.

    Returns ``(loss, clip_fraction)``; the fraction is the share of tokens where the clipped term won.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clip_fraction = masked_mean((clipped > unclipped).float(), mask)
    return loss, clip_fraction


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss: ``0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))``.

    Returns ``(loss, clip_fraction)``.
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    clip_fraction = masked_mean((clipped_error > unclipped_error).float(), mask)
    return loss, clip_fraction
