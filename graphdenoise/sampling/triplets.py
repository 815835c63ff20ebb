r"""Triplet sampling over the edges of the training graph.

One epoch visits every training edge :math:`(u, i)` once, in a seeded random order, and pairs it with
negatives from a :class:`~graphdenoise.sampling.NegativeSampler` (uniform by default). Batches are
built by slicing a permutation of the edge ids: no Python loop per triplet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..datasets.graph import num_users_items, train_edges
from ..utils import InteractionIndex
from .negatives import NegativeSampler, UniformNegatives


@dataclass
class TripletBatch:
    """A batch of ``(u, i, j)`` triplets; ``edge_ids`` index the training edges of ``(u, i)``."""

    users: Tensor
    pos_items: Tensor
    neg_items: Tensor
    edge_ids: Tensor
    neg_log_q: Optional[Tensor] = None

    def to(self, device) -> "TripletBatch":
        return TripletBatch(*(None if t is None else t.to(device, non_blocking=True) for t in
                              (self.users, self.pos_items, self.neg_items, self.edge_ids, self.neg_log_q)))

    def __len__(self) -> int:
        return self.users.numel()


class RankBatching:
    """Batch counting shared by the samplers: a global ``batch_size`` split over ``world_size`` ranks,
    and as many batches per epoch as the largest rank's shard needs (every rank steps equally often)."""

    batch_size: int
    world_size: int

    @property
    def rank_batch_size(self) -> int:
        return -(-self.batch_size // self.world_size)

    def batches_for(self, count: int) -> int:
        """Batches per epoch for ``count`` units (edges or users) shared by the ranks."""
        largest_shard = -(-count // self.world_size)
        return -(-largest_shard // self.rank_batch_size)


class TripletSampler(RankBatching):
    r"""Yields the epoch's triplets in batches.

    Args:
        data (HeteroData): The dataset; its training edges are the positives.
        batch_size (int): Triplets per batch (the TIL paper uses 5000). (default: 5000)
        negative_sampler (NegativeSampler, optional): Draws the negatives. (default: uniform with
            rejection of training positives)
        num_negatives (int): Negatives per positive. (default: 1)
        seed (int): Seed of the sampler's own generator. (default: 0)
        edge_ids (Tensor, optional): Restrict the epoch to these training edges (e.g. a shard).
        index (InteractionIndex, optional): A prebuilt index of the training edges.
        rank (int): This process's rank in data-parallel training. (default: 0)
        world_size (int): Number of ranks; each epoch's permutation (the same on every rank) is
            dealt round-robin, and every rank gets the same number of batches of about
            ``batch_size / world_size`` triplets, so the ranks together cover every edge once.
            (default: 1)
        holdout_fraction (float): Share of the training edges set aside from the epoch (drawn with
            the shared order generator, so every rank holds out the same edges) for
            ``random_batch(..., holdout=True)``. (default: 0)
        draw_negatives (bool): ``False``: batches carry no negatives (``neg_items`` ``[B, 0]``, for a
            method that draws its own). (default: True)
    """

    def __init__(self, data: HeteroData, batch_size: int = 5000, negative_sampler: Optional[NegativeSampler] = None,
                 num_negatives: int = 1, seed: int = 0, edge_ids: Optional[Tensor] = None,
                 index: Optional[InteractionIndex] = None, rank: int = 0, world_size: int = 1,
                 holdout_fraction: float = 0.0, draw_negatives: bool = True):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_negatives <= 0:
            raise ValueError(f"num_negatives must be positive, got {num_negatives}")
        self.edge_index = train_edges(data)
        if self.edge_index.size(1) == 0:
            raise ValueError("the dataset has no training edges")
        self.num_users, self.num_items = num_users_items(data)
        self.index = index if index is not None else InteractionIndex(self.edge_index, self.num_users, self.num_items)
        self.negative_sampler = negative_sampler or UniformNegatives(self.index)
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.draw_negatives = draw_negatives
        self.edge_ids = edge_ids if edge_ids is not None else torch.arange(self.edge_index.size(1))
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
        self.rank, self.world_size = rank, world_size
        # the epoch order is shared by all ranks; negatives and random batches are per rank
        self.order_generator = torch.Generator().manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed + 1_000_003 * (rank + 1))
        self.holdout_ids: Optional[Tensor] = None
        if holdout_fraction:
            self._hold_out(holdout_fraction)

    def _hold_out(self, fraction: float) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"holdout_fraction must lie in [0, 1), got {fraction}")
        order = self.edge_ids[torch.randperm(self.edge_ids.numel(), generator=self.order_generator)]
        cut = max(1, int(round(fraction * order.numel())))
        self.holdout_ids = order[:cut].sort().values
        self.edge_ids = order[cut:].sort().values

    def __len__(self) -> int:
        return self.batches_for(self.edge_ids.numel())

    def batch(self, edge_ids: Tensor) -> TripletBatch:
        """The triplets of the given training edges, with fresh negatives."""
        users, pos = self.edge_index[0, edge_ids], self.edge_index[1, edge_ids]
        if not self.draw_negatives:
            return TripletBatch(users, pos, users.new_empty(users.numel(), 0), edge_ids, None)
        neg, log_q = self.negative_sampler.sample(users, self.generator, self.num_negatives)
        return TripletBatch(users, pos, neg, edge_ids, log_q)

    def random_batch(self, size: Optional[int] = None, edge_ids: Optional[Tensor] = None,
                     holdout: bool = False) -> TripletBatch:
        """A batch of ``size`` edges drawn uniformly (with replacement) from ``edge_ids`` (default: the
        epoch's edges; the held-out ones with ``holdout``)."""
        if holdout and self.holdout_ids is None:
            raise ValueError("random_batch(holdout=True) needs a sampler built with holdout_fraction > 0")
        pool = self.holdout_ids if holdout else (self.edge_ids if edge_ids is None else edge_ids)
        pick = torch.randint(pool.numel(), (size or self.batch_size,), generator=self.generator)
        return self.batch(pool[pick])

    def epoch_shards(self) -> list:
        """This rank's batches of edge ids for the next epoch (advances the shared order generator)."""
        order = self.edge_ids[torch.randperm(self.edge_ids.numel(), generator=self.order_generator)]
        if self.world_size == 1:
            return list(order.split(self.batch_size))
        return list(torch.tensor_split(order[self.rank::self.world_size], len(self)))

    def __iter__(self) -> Iterator[TripletBatch]:
        for edge_ids in self.epoch_shards():
            yield self.batch(edge_ids)

    def state_dict(self) -> dict:
        return {"order_generator": self.order_generator.get_state(), "generator": self.generator.get_state(),
                "negative_sampler": self.negative_sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.order_generator.set_state(state["order_generator"])
        self.generator.set_state(state["generator"])
        self.negative_sampler.load_state_dict(state["negative_sampler"])
