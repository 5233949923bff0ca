"""How weights, gradients, optimizer state and compute are held in training (see README, "Precision")."""

from __future__ import annotations

import torch


def frozen_dtype(bf16: bool) -> torch.dtype:
    """Frozen models (DPO's and PPO's reference, PPO's reward model) are held in bf16 under ``--bf16``:
    they have no optimizer, so an fp32 copy would only double their memory and the per-forward casts."""
    return torch.bfloat16 if bf16 else torch.float32
