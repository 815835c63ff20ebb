r"""The sequence task's side of the method seam (:mod:`graphdenoise.methods.base`).

A sequence method is a :class:`~graphdenoise.methods.base.MethodBase` like the graph methods: the
same ``setup(model, data, ctx)``, ``loss(model, batch, ctx) -> (loss, logs)``, declared
:meth:`~graphdenoise.methods.base.MethodBase.optimizers` (zeroed, stepped and checkpointed by the
trainer), ``after_step`` and ``epoch_stats``. What the sequence task adds is the *plan*: per epoch the
trainer draws the training samples (real next items plus fresh negatives) and asks the method for a
list of rounds, each a list of steps. A step names the samples of the recommender's batch and of the
method's auxiliary batches (ATJT's noise-recognition batches, in ``ctx.aux``). For each round the
trainer calls :meth:`SequenceMethod.begin_round`. So plain BCE and ATJT's joint loss
:math:`\mathcal{L}_R + \alpha\,\mathcal{L}_D` run through the one training loop of both tasks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..methods.base import MethodBase, MethodConfig, SetupContext, StepContext
from ..registry import Registry
from .data import SampleBatch, Samples, SequenceData
from .models.base import SequenceModel


@dataclass
class Step:
    """Sample indices (into the epoch's :class:`Samples`) of one optimisation step."""

    rec: Tensor
    """The recommender's batch."""
    aux: List[Tensor] = field(default_factory=list)
    """The method's auxiliary batches (ATJT: the noise recognition model's ``N - 1`` batches)."""


@dataclass
class Round:
    """A pass over part of the epoch's samples (ATJT: one group trains the recommender)."""

    index: int
    steps: List[Step]


SEQUENCE_METHODS: Registry = Registry("sequence method")

SequenceMethodConfig = MethodConfig


class SequenceMethod(MethodBase):
    r"""Base class of the sequential training methods; plain pointwise BCE is :class:`BCE`.

    Args:
        config (MethodConfig, optional): The method's options; keyword arguments override fields.
    """

    def setup(self, model: SequenceModel, data: SequenceData, ctx: SetupContext) -> None:
        """Bind to the model and data before training (build auxiliary models here)."""

    def plan(self, samples: Samples, batch_size: int, generator: torch.Generator) -> List[Round]:
        """One round over every sample in shuffled batches by default."""
        batches = shuffled_batches(torch.arange(len(samples)), batch_size, generator, samples.position)
        return [Round(0, [Step(b) for b in batches])]

    def begin_round(self, index: int) -> None:
        pass

    def loss(self, model: SequenceModel, batch: SampleBatch, ctx: StepContext) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The objective of the step (auxiliary batches in ``ctx.aux``) and detached scalars to log."""
        raise NotImplementedError


@SEQUENCE_METHODS.register("bce")
class BCE(SequenceMethod):
    r"""Plain pointwise binary cross-entropy on the CTR samples (the control of every table).

    .. math::
        \mathcal{L} = -\frac{1}{|b|}\sum_{s \in b} y_s \log \sigma(f_s) + (1 - y_s)\log(1 - \sigma(f_s))
    """

    def loss(self, model, batch, ctx):
        loss = F.binary_cross_entropy_with_logits(model.score(batch), batch.label)
        return loss, {"loss_rec": loss.detach()}


def shuffled_batches(index: Tensor, batch_size: int, generator: torch.Generator,
                     groups: Optional[Tensor] = None) -> List[Tensor]:
    """``index`` in a random order, cut into batches of ``batch_size`` (the last may be smaller).
    With ``groups`` (a non-negative id per entry of ``index``, e.g. the samples' target positions) the
    groups are shuffled and the entries of a group stay adjacent, so a real next item and its
    negatives share a batch and their history is encoded once (:attr:`SampleBatch.shared`), as
    SASRec scores a position's positive and negative from one encoding."""
    if groups is None:
        return list(index[torch.randperm(index.numel(), generator=generator)].split(batch_size))
    rank = torch.randperm(int(groups.max()) + 1, generator=generator)[groups] if groups.numel() else groups
    return list(index[torch.argsort(rank, stable=True)].split(batch_size))
