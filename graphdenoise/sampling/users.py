r"""Batches of USERS with their whole training rows: how the authors of DeCA and of the RecSys'25
study train the auto-encoder CDAE (a step reads a batch of users' dense interaction rows).

One epoch visits every user that has training items once, in a seeded random order (users without
training items are skipped, as ``wangyu-ustc/DeCA`` ``train.py:232-235`` does). A batch holds the
users, every training cell of their rows (the positives, label 1, in row-major order: by batch row,
then item, like the authors' ``torch.where(batch_matrix == 1)``) and negative cells (label 0) drawn by
one of two schemes of the authors' code:

* ``'pooled'`` (DeCA, ``train.py:247-250,277-282``): ``num_negatives`` times as many cells as the batch
  has positives, drawn WITHOUT replacement among all the zero cells of the batch's rows pooled
  together (so a user's share of negatives is random);
* ``'per_user'`` (the study's CDAE, ``bachml/EvalDenoisingRec`` ``code/CDAE/main.py:301-316``, a
  port of ``hyNTU/UDT`` ``CDAE/main_CDAE.py:187-202``): per user, ``num_negatives`` times its number
  of positives uniform draws over ALL items, with replacement and no rejection; the loss covers the
  union of the positives and the draws, so a draw that hits a positive is that positive again and
  duplicates collapse -- the negative cells are the distinct draws that are not positives.

Everything is vectorised (no Python loop per user): rows come from the CSR index of the training
edges; the pooled scheme maps ranks among a batch's zero cells to items with
:meth:`~graphdenoise.utils.InteractionIndex.nth_absent`. The sampler's generators are checkpointed,
so a resumed run draws the same batches bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..datasets.graph import num_users_items, train_edges
from ..utils import EdgeLookup, InteractionIndex
from .triplets import RankBatching

USER_NEGATIVES = ("pooled", "per_user")


@dataclass
class UserBatch:
    r"""A batch of users and cells of their rows.

    ``users [B]`` are global user ids; a cell ``k`` is ``(rows[k], items[k])`` with ``rows`` the
    position in ``users``. The positives (``pos_rows``, ``pos_items``, their training-edge ids
    ``edge_ids``) are every training cell of the batch's rows; the negatives (``neg_rows``,
    ``neg_items``) are the drawn zero cells.
    """

    users: Tensor
    pos_rows: Tensor
    pos_items: Tensor
    edge_ids: Tensor
    neg_rows: Tensor
    neg_items: Tensor

    def to(self, device) -> "UserBatch":
        return UserBatch(*(t.to(device, non_blocking=True) for t in
                           (self.users, self.pos_rows, self.pos_items, self.edge_ids, self.neg_rows, self.neg_items)))

    def __len__(self) -> int:
        return self.users.numel()

    def cells(self):
        """``(rows, items, labels)`` of every cell, the positives (label 1) first."""
        labels = torch.zeros(self.pos_rows.numel() + self.neg_rows.numel(), device=self.users.device)
        labels[: self.pos_rows.numel()] = 1.0
        return torch.cat([self.pos_rows, self.neg_rows]), torch.cat([self.pos_items, self.neg_items]), labels

    @property
    def pos_users(self) -> Tensor:
        """The global user of each positive cell."""
        return self.users[self.pos_rows]

    @property
    def neg_users(self) -> Tensor:
        """The global user of each negative cell."""
        return self.users[self.neg_rows]


def sample_without_replacement(population: int, count: int, generator: torch.Generator) -> Tensor:
    r"""``count`` distinct integers of ``[0, population)``, uniformly (every ``count``-subset and order
    equally likely): sequential uniform draws with duplicates rejected, done in vectorised rounds
    (a round draws what is missing and keeps the first occurrence of each value), O(count log count)
    while ``count`` is a small share of ``population``; a ``randperm`` above half of it."""
    if not 0 <= count <= population:
        raise ValueError(f"cannot draw {count} distinct values out of {population}")
    if 2 * count > population:
        return torch.randperm(population, generator=generator)[:count]
    drawn = torch.empty(0, dtype=torch.long)
    while drawn.numel() < count:
        extra = torch.randint(population, (count - drawn.numel(),), generator=generator)
        drawn = _first_occurrences(torch.cat([drawn, extra]))
    return drawn


def _first_occurrences(values: Tensor) -> Tensor:
    """``values`` without repeats, each kept at its first position (order preserved)."""
    unique, inverse = torch.unique(values, return_inverse=True)
    first = torch.full((unique.numel(),), values.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(values.numel()), reduce="amin")
    return values[first.sort().values]


class UserBatchSampler(RankBatching):
    r"""Yields the epoch's users in batches, with their training rows and negative cells.

    Args:
        data (HeteroData): The dataset; its training edges are the rows.
        batch_size (int): Users per batch (the authors' CDAE ``batch_size`` counts users). (default: 2048)
        negatives (str): ``'pooled'`` (DeCA) or ``'per_user'`` (the study, UDT); see the module
            docstring. (default: ``'pooled'``)
        num_negatives (int): Negatives per positive (DeCA's ``NSR``; the study's ``num_ns``). (default: 1)
        seed (int): Seed of the sampler's generators. (default: 0)
        index (InteractionIndex, optional): A prebuilt index of the training edges.
        rank (int): This process's rank in data-parallel training. (default: 0)
        world_size (int): Number of ranks; each epoch's user order (the same on every rank) is dealt
            round-robin, every rank getting the same number of batches. (default: 1)
    """

    def __init__(self, data: HeteroData, batch_size: int = 2048, negatives: str = "pooled", num_negatives: int = 1,
                 seed: int = 0, index: Optional[InteractionIndex] = None, rank: int = 0, world_size: int = 1):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_negatives <= 0:
            raise ValueError(f"num_negatives must be positive, got {num_negatives}")
        if negatives not in USER_NEGATIVES:
            raise ValueError(f"negatives must be one of {USER_NEGATIVES}, got {negatives!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
        edges = train_edges(data)
        if edges.size(1) == 0:
            raise ValueError("the dataset has no training edges")
        self.num_users, self.num_items = num_users_items(data)
        self.index = index if index is not None else InteractionIndex(edges, self.num_users, self.num_items)
        self.edge_lookup = EdgeLookup(edges, self.num_items)
        self.active_users = torch.nonzero(self.index.counts > 0).view(-1)
        self.batch_size, self.negatives, self.num_negatives = batch_size, negatives, num_negatives
        self.rank, self.world_size = rank, world_size
        self.order_generator = torch.Generator().manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed + 1_000_003 * (rank + 1))
        self.negative_sampler = None  # the negatives are drawn here, by ``negatives``

    def __len__(self) -> int:
        return self.batches_for(self.active_users.numel())

    def epoch_shards(self) -> List[Tensor]:
        """This rank's batches of user ids for the next epoch (advances the shared order generator)."""
        order = self.active_users[torch.randperm(self.active_users.numel(), generator=self.order_generator)]
        if self.world_size == 1:
            return list(order.split(self.batch_size))
        return list(torch.tensor_split(order[self.rank::self.world_size], len(self)))

    def batch(self, users: Tensor) -> UserBatch:
        """The rows of ``users`` (each with training items) and fresh negative cells."""
        pos_rows, pos_items = self.index.gather_rows(users)
        edge_ids = self.edge_lookup(users[pos_rows], pos_items)[0]
        counts = self.index.counts[users]
        if self.negatives == "pooled":
            neg_rows, neg_items = self._pooled(users, counts, pos_rows.numel() * self.num_negatives)
        else:
            neg_rows, neg_items = self._per_user(users, counts)
        return UserBatch(users, pos_rows, pos_items, edge_ids, neg_rows, neg_items)

    def _pooled(self, users: Tensor, counts: Tensor, count: int):
        zeros = self.num_items - counts                      # zero cells per row
        total = int(zeros.sum())
        if count > total:
            raise ValueError(f"a user batch has {total} zero cells, fewer than the {count} negatives asked "
                             f"(num_negatives={self.num_negatives} times its positives): lower num_negatives")
        ranks = sample_without_replacement(total, count, self.generator).sort().values
        ends = torch.cumsum(zeros, 0)
        rows = torch.searchsorted(ends, ranks, right=True)
        local = ranks - (ends - zeros)[rows]
        return rows, self.index.nth_absent(users[rows], local)

    def _per_user(self, users: Tensor, counts: Tensor):
        draws = counts * self.num_negatives
        rows = torch.repeat_interleave(torch.arange(users.numel()), draws)
        items = torch.randint(self.num_items, (rows.numel(),), generator=self.generator)
        keys = torch.unique(rows * self.num_items + items)    # duplicates collapse (sorted: row-major)
        rows, items = keys // self.num_items, keys % self.num_items
        fresh = ~self.index.contains(users[rows], items)      # a draw on a positive IS that positive
        return rows[fresh], items[fresh]

    def __iter__(self) -> Iterator[UserBatch]:
        for users in self.epoch_shards():
            yield self.batch(users)

    def random_batch(self, size: Optional[int] = None, edge_ids: Optional[Tensor] = None, holdout: bool = False):
        raise ValueError("user batches draw no extra triplet batches (a method that asks for them trains on triplets)")

    def state_dict(self) -> dict:
        return {"order_generator": self.order_generator.get_state(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.order_generator.set_state(state["order_generator"])
        self.generator.set_state(state["generator"])
