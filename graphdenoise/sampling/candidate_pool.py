r"""Negatives from a small per-user candidate pool, refreshed every few epochs: the sampler of the TIL
authors' code (``haolun-wu/TIL``, ``main_MF.py:60-71`` ``neg_item_pre_sampling``, drawn at :228 and
every ``sample_every = 10`` epochs at :370-373; ``helper/sampler.py:16-32`` picks one pool entry per
triplet uniformly)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..utils import InteractionIndex
from .negatives import NegativeSampler, UniformNegatives


class CandidatePoolNegatives(NegativeSampler):
    r"""Each user's negatives are drawn uniformly from a pool of ``pool_size`` candidates, themselves
    drawn uniformly with replacement from the user's non-positives
    (``negsamp_vectorized_bsearch_preverif``, ``helper/sampler.py:5-13``); the pools are redrawn after
    every ``refresh_epochs`` epochs. The pools are drawn with the sampler's generator at the first
    batch after a refresh point and are part of the checkpoint (exact resume).

    Args:
        train_index (InteractionIndex): The training positives.
        pool_size (int): Candidates per user. (default: :obj:`500`)
        refresh_epochs (int): Epochs between redraws of the pools. (default: :obj:`10`)
    """

    def __init__(self, train_index: InteractionIndex, pool_size: int = 500, refresh_epochs: int = 10):
        super().__init__(train_index, reject_positives=False)
        if pool_size < 1 or refresh_epochs < 1:
            raise ValueError(f"pool_size and refresh_epochs must be >= 1, got {pool_size}, {refresh_epochs}")
        self.pool_size, self.refresh_epochs = pool_size, refresh_epochs
        self.batches_per_epoch = 1
        self.pool: Optional[Tensor] = None

    def bind(self, model, batches_per_epoch: Optional[int] = None) -> None:
        self.batches_per_epoch = max(1, batches_per_epoch or 1)

    def update(self, model, step: int) -> None:
        if (step + 1) % (self.refresh_epochs * self.batches_per_epoch) == 0:
            self.pool = None  # redrawn at the next batch

    def draw_pool(self, generator: torch.Generator) -> Tensor:
        """``[num_users, pool_size]`` non-positives of every user (int32), uniform with replacement."""
        users = torch.arange(self.index.num_users)
        items, _ = UniformNegatives(self.index).sample(users, generator, self.pool_size)
        return items.to(torch.int32)

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        if self.pool is None:
            self.pool = self.draw_pool(generator)
        pick = torch.randint(self.pool_size, users.shape, generator=generator)
        return self.pool[users.cpu(), pick].long().to(users.device)

    def log_prob(self, users: Tensor, items: Tensor) -> Tensor:
        """Unknown per item (it depends on the drawn pool): zeros."""
        return torch.zeros(items.shape, dtype=torch.float)

    def state_dict(self) -> dict:
        return {"pool": self.pool}

    def load_state_dict(self, state: dict) -> None:
        self.pool = state["pool"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_size={self.pool_size}, refresh_epochs={self.refresh_epochs})"
