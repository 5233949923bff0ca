"""Which prompts each process takes at each PPO step.

Epoch ``e`` visits the prompts in a seeded permutation (seed + e); step ``s`` takes the ``s``-th run of
``rollout_batch_size`` prompts of its epoch (a short tail is dropped), and process ``r`` of ``n`` takes
the ``r``-th ``1/n`` of it. So one process sees exactly the rows that ``n`` processes share, and a run
resumed at step ``s`` carries on with the prompts an uninterrupted run would take: no iterator state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PromptOrder:
    """The prompt schedule of a run over ``prompts`` prompts."""

    prompts: int
    rollout_batch_size: int
    seed: int
    rank: int = 0
    world_size: int = 1

    @property
    def steps_per_epoch(self) -> int:
        return self.prompts // self.rollout_batch_size

    def global_rows(self, step: int) -> list[int]:
        """Dataset indices of the whole rollout batch of ``step`` (0-based), over all processes."""
        epoch, batch = divmod(step, self.steps_per_epoch)
        order = torch.randperm(self.prompts, generator=torch.Generator().manual_seed(self.seed + epoch))
        start = batch * self.rollout_batch_size
        return order[start : start + self.rollout_batch_size].tolist()

    def rows(self, step: int) -> list[int]:
        """Dataset indices this process takes at ``step``."""
        rows = self.global_rows(step)
        share = len(rows) // self.world_size
        return rows[self.rank * share : (self.rank + 1) * share]
