r"""The seam between the generic trainer and a training method.

Per batch the trainer calls, in order:

1. :meth:`Method.outer_step` -- bilevel methods (BOD) update their own parameters here, with their
   own optimiser (the "outer" level), before the recommender's step; a no-op otherwise;
2. :meth:`Method.loss` -- the recommender's objective on the batch (the "inner" level), including the
   L2 term; the trainer back-propagates it;
3. :meth:`Method.before_optimizer_step` -- called with the inner gradients in ``p.grad`` and before
   the recommender's optimiser steps: TIL's one-step look-ahead reuses those gradients here;
4. the trainer steps the recommender's optimiser;
5. :meth:`Method.after_step` -- bookkeeping (schedules, adaptive samplers).

``method.recommender_lr`` is set by the trainer before :meth:`Method.setup`.

A method also chooses the negative sampler (:meth:`Method.negative_sampler`), may add per-epoch
statistics to the history (:meth:`Method.epoch_stats`), and owns whatever state it needs to resume
exactly (:meth:`Method.state_dict`, which must include its optimisers).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..models.base import Recommender, TripletScores
from ..sampling import NegativeSampler, TripletBatch, TripletSampler, UniformNegatives
from ..registry import Registry
from ..config import resolve_config
from ..distributed import SINGLE, World
from ..utils import InteractionIndex

METHODS: Registry = Registry("method")


@dataclass
class StepContext:
    """What the trainer tells a method about the current step."""

    step: int
    """Global iteration count (mini-batches since the start of training)."""
    epoch: int
    lr: float
    """Learning rate of the recommender's optimiser."""
    l2: float
    """Weight of the L2 term on the embeddings of the batch."""
    sampler: TripletSampler
    world: World = SINGLE
    """The data-parallel ranks: methods average their own gradients with ``world.all_reduce_mean``."""


@dataclass
class MethodConfig:
    """A method without options."""


class Method(nn.Module):
    r"""Base class of the training methods; plain BPR is :class:`~graphdenoise.methods.BPR`.

    Args:
        config (MethodConfig, optional): The method's options; keyword arguments override fields.
    """

    Config = MethodConfig
    recommender_lr: float = 1e-3

    def __init__(self, config: Optional[MethodConfig] = None, **overrides):
        super().__init__()
        self.config = resolve_config(type(self), config, overrides)

    def setup(self, model: Recommender, data: HeteroData, sampler: TripletSampler) -> None:
        """Bind to the model and data before training (build parameters and optimisers here)."""

    def negative_sampler(self, data: HeteroData, train_index: InteractionIndex) -> NegativeSampler:
        """The negative sampler this method trains with (uniform by default)."""
        return UniformNegatives(train_index)

    def outer_step(self, model: Recommender, batch: TripletBatch, ctx: StepContext) -> Dict[str, float]:
        return {}

    def loss(self, model: Recommender, batch: TripletBatch, ctx: StepContext) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The objective of the recommender on ``batch`` (L2 included) and detached scalars to log."""
        raise NotImplementedError

    def before_optimizer_step(self, model: Recommender, batch: TripletBatch, ctx: StepContext) -> Dict[str, Tensor]:
        return {}

    def after_step(self, model: Recommender, batch: TripletBatch, ctx: StepContext) -> None:
        pass

    def epoch_stats(self) -> Dict[str, float]:
        """Statistics accumulated over the epoch (e.g. weight mean/std), reset after reading."""
        return {}

    def weights(self, model: Recommender, users: Tensor, pos_items: Tensor, neg_items: Tensor) -> Tensor:
        """The per-triplet weights this method would give (ones for unweighted methods)."""
        return torch.ones(users.shape, device=users.device)

    def extra_state(self) -> dict:
        """Non-parameter state to checkpoint (optimiser states, counters)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config))
        return f"{type(self).__name__}({fields})"


def l2_term(model: Recommender, batch: TripletBatch, ctx: StepContext, scores: Optional[TripletScores] = None) -> Tensor:
    """``ctx.l2`` times the model's L2 regulariser on the batch's embeddings (``scores``, the batch's
    :class:`TripletScores`, lets models whose representations are the embeddings skip a lookup)."""
    if ctx.l2 == 0:
        return torch.zeros((), device=batch.users.device)
    return ctx.l2 * model.regularization(batch.users, batch.pos_items, batch.neg_items, scores)
