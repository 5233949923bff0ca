"""PPO arithmetic against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import torch

from training.ppo_math import compute_rewards_with_kl, gae, masked_mean, policy_loss, value_loss, whiten


def close(actual: torch.Tensor, expected: list, tol: float = 1e-5) -> bool:
    return torch.allclose(actual, torch.tensor(expected, dtype=actual.dtype), atol=tol)


def test_masked_mean_ignores_padding() -> None:
    # (1 + 2 + 4) / 3 = 7/3; the masked 100 is ignored.
    values = torch.tensor([[1.0, 2.0], [4.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    assert math.isclose(masked_mean(values, mask).item(), 7 / 3, rel_tol=1e-6)


def test_rewards_are_kl_penalty_plus_score_on_last_token() -> None:
    scores = torch.tensor([1.0, 2.0])
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -3.0]])
    ref_logprobs = torch.tensor([[-1.5, -1.0, -0.5], [-2.0, -1.0, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    rewards, kl = compute_rewards_with_kl(scores, logprobs, ref_logprobs, mask, kl_coef=0.1)
    # kl = logprob - ref_logprob on real tokens:
    #   row 0: -1 - -1.5 = 0.5, -2 - -1 = -1.0, -0.5 - -0.5 = 0.0
    #   row 1: -1 - -2 = 1.0, -1 - -1 = 0.0, padding -> 0
    assert close(kl, [[0.5, -1.0, 0.0], [1.0, 0.0, 0.0]])
    # rewards = -0.1 * kl, plus the score on the last real token:
    #   row 0: [-0.05, 0.1, 0.0 + 1.0]; row 1 ends at index 1: [-0.1, 0.0 + 2.0, 0]
    assert close(rewards, [[-0.05, 0.1, 1.0], [-0.1, 2.0, 0.0]])


def test_gae_full_response() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    mask = torch.ones(1, 3)
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # t=2: delta = 1 + 1*0 - 0.7 = 0.3;    A2 = 0.3
    # t=1: delta = 0 + 1*0.7 - 0.6 = 0.1;  A1 = 0.1 + 1*0.5*0.3 = 0.25
    # t=0: delta = 0 + 1*0.6 - 0.5 = 0.1;  A0 = 0.1 + 1*0.5*0.25 = 0.225
    assert close(advantages, [[0.225, 0.25, 0.3]])
    # returns = A + V = [0.725, 0.85, 1.0]
    assert close(returns, [[0.725, 0.85, 1.0]])


def test_gae_stops_at_the_end_of_a_shorter_response() -> None:
    rewards = torch.tensor([[0.0, 1.0, 5.0]])  # the 5.0 is padding
    values = torch.tensor([[0.2, 0.4, 9.0]])  # the 9.0 is padding
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=1.0)
    # t=2 is padding: A2 = 0 (and V2 counts as 0)
    # t=1: delta = 1 + 0.9*0 - 0.4 = 0.6;    A1 = 0.6
    # t=0: delta = 0 + 0.9*0.4 - 0.2 = 0.16; A0 = 0.16 + 0.9*1.0*0.6 = 0.7
    assert close(advantages, [[0.7, 0.6, 0.0]])
    # returns = A + V = [0.9, 1.0, 0]
    assert close(returns, [[0.9, 1.0, 0.0]])


def test_whiten_uses_real_tokens_only() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 50.0, 60.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    # real values 1, 2, 3, 4: mean 2.5; variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25; std = 1.118034
    # (x - 2.5) / 1.118034 = -1.341641, -0.447214, 0.447214, 1.341641; padding -> 0
    assert close(whiten(values, mask), [[-1.341641, -0.447214, 0.447214], [1.341641, 0.0, 0.0]])
    # shift_mean=False adds the mean back: 1.158359, 2.052786, 2.947214, 3.841641
    assert close(
        whiten(values, mask, shift_mean=False), [[1.158359, 2.052786, 2.947214], [3.841641, 0.0, 0.0]]
    )


def test_policy_loss_clips_the_ratio() -> None:
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1, 5.0]]))  # ratios 1.5, 0.5, 1.1, 5.0 (the last is padding)
    advantages = torch.tensor([[1.0, 1.0, -2.0, 10.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, clip_fraction = policy_loss(new, old, advantages, mask, clip_range=0.2)
    # token 0: A=1,  ratio 1.5: unclipped -1.5, clipped -1*1.2 = -1.2 -> max -1.2 (clipped term wins)
    # token 1: A=1,  ratio 0.5: unclipped -0.5, clipped -1*0.8 = -0.8 -> max -0.5
    # token 2: A=-2, ratio 1.1: unclipped 2.2,  clipped 2.2 (inside the range) -> 2.2
    # loss = (-1.2 - 0.5 + 2.2) / 3 = 0.5 / 3; clipped on 1 of 3 tokens
    assert math.isclose(loss.item(), 0.5 / 3, rel_tol=1e-5)
    assert math.isclose(clip_fraction.item(), 1 / 3, rel_tol=1e-5)


def test_value_loss_clips_around_old_values() -> None:
    old = torch.zeros(1, 3)
    new = torch.tensor([[0.5, -0.1, 0.3]])
    returns = torch.tensor([[1.0, 0.0, -1.0]])
    mask = torch.ones(1, 3)
    loss, clip_fraction = value_loss(new, old, returns, mask, clip_range=0.2)
    # token 0: clipped V = 0.2;  (0.5 - 1)^2 = 0.25, (0.2 - 1)^2 = 0.64  -> 0.64 (clipped wins)
    # token 1: clipped V = -0.1; both (-0.1 - 0)^2 = 0.01                 -> 0.01
    # token 2: clipped V = 0.2;  (0.3 + 1)^2 = 1.69, (0.2 + 1)^2 = 1.44  -> 1.69
    # loss = 0.5 * (0.64 + 0.01 + 1.69) / 3 = 0.39; clipped on 1 of 3 tokens
    assert math.isclose(loss.item(), 0.39, rel_tol=1e-5)
    assert math.isclose(clip_fraction.item(), 1 / 3, rel_tol=1e-5)


def test_losses_have_gradients() -> None:
    new = torch.zeros(1, 2, requires_grad=True)
    loss, _ = policy_loss(new, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2), 0.2)
    loss.backward()
    # d/dx of -A * exp(x) at x=0 is -A, averaged over 2 tokens: [-0.5, 0.5]
    assert close(new.grad, [[-0.5, 0.5]])
