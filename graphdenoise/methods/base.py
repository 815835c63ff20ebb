r"""The seam between the generic trainer and a training method (both tasks: interaction graphs and
sequences).

A method is **declarative** about everything that is not its objective. It never touches the
sampler, the trainer or the backbone's gradient machinery; it says what it needs and the trainer
builds, steps and checkpoints it:

* :meth:`Method.sampling` -- a :class:`SamplingSpec`: the negative proposal, negatives per positive,
  a share of the training edges held out of the epoch for an outer objective, and whether a batch is
  triplets or (on an auto-encoder such as CDAE) users with their whole training rows;
* :meth:`Method.setup` -- bind to the model and data (build parameters and optimisers here); the
  :class:`SetupContext` gives the recommender's learning rate, the number of negatives, the number
  of batches per epoch, the epoch budget and the proposal the trainer built from the spec;
* :meth:`Method.optimizers` / :meth:`Method.outer_optimizers` -- the method's own optimisers. The
  trainer zeroes, steps and checkpoints them: the first with the recommender's optimiser at every
  step, the second after each of the method's outer losses;
* :meth:`Method.epoch_stats` -- per-epoch statistics for the history.

Per batch the trainer calls, in order:

1. :meth:`Method.outer_losses` -- bilevel methods (BOD) yield outer losses here; for each, the
   trainer back-propagates it into the parameters of :meth:`outer_optimizers` only and steps them;
2. :meth:`Method.loss` -- the recommender's objective on the batch (L2 included:
   :func:`l2_term`) and detached scalars to log; the trainer zeroes every gradient and
   back-propagates it;
3. :meth:`Method.after_backward` -- with the recommender's gradients in ``p.grad`` and before any
   optimiser steps (TIL's one-step look-ahead reads them here and writes its own parameters'
   gradients);
4. the trainer steps :meth:`optimizers` and the recommender's optimiser;
5. :meth:`Method.after_step` -- bookkeeping (schedules, cluster refreshes).

``loss(model, batch, ctx) -> (loss, logs)`` is the one call every method implements. A plain
``autograd`` call anywhere in a method (``torch.autograd.grad``, ``create_graph=True``,
forward-mode) sees ordinary dense gradients: the backbones' row-sparse gradient accumulation is
switched on only inside the trainer's own backward of the loss.

``docs/writing-a-method.md`` walks through a complete method (BSL) written on this seam.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..config import resolve_config
from ..distributed import SINGLE, World
from ..models.base import Recommender, TripletScores
from ..registry import Registry
from ..sampling import NegativeSampler, TripletBatch, UniformNegatives
from ..sampling.users import USER_NEGATIVES
from ..utils import InteractionIndex

METHODS: Registry = Registry("method")

BATCHES = ("triplets", "users", "auto")
"""The values of :attr:`SamplingSpec.batches`."""

Proposal = Callable[[InteractionIndex], NegativeSampler]
"""Builds a negative sampler from the index of the training positives."""


@dataclass
class SamplingSpec:
    """What a method needs from triplet sampling; the trainer turns it into its sampler."""

    negatives: Optional[Proposal] = None
    """Factory of the negative proposal (None: uniform over the user's non-positives)."""
    num_negatives: Optional[int] = None
    """Negatives per positive the method requires (None: the trainer's ``num_negatives``). A trainer
    setting other than 1 (its default) or this value is an error."""
    holdout_fraction: float = 0.0
    """Share of the training edges set aside from the epoch, drawn on by
    :meth:`StepContext.random_batch` with ``holdout=True`` (an outer objective's data)."""
    batches: str = "triplets"
    """What a batch is: ``'triplets'`` (a :class:`~graphdenoise.sampling.TripletBatch` of training
    edges with negatives), ``'users'`` (a :class:`~graphdenoise.sampling.UserBatch`: users with their
    whole training rows and negative cells, the auto-encoder protocol of the DeCA and RecSys'25 CDAE
    code; only on a backbone whose :attr:`~graphdenoise.models.base.Recommender.user_row_batches`
    is True, and the trainer's ``batch_size`` then counts users) or ``'auto'`` (users on such a
    backbone, triplets elsewhere)."""
    draw_negatives: bool = True
    """False: the trainer's triplet batches carry no negatives (``neg_items`` is ``[B, 0]``) for a method
    that draws its own triplets (PLD's uniform users), so that no draw is paid twice; the proposal is
    still built and handed to the method (:attr:`SetupContext.negatives`)."""
    user_negatives: str = "pooled"
    """Negative cells of a user batch: ``'pooled'`` (DeCA) or ``'per_user'`` (the study, UDT); see
    :mod:`graphdenoise.sampling.users`."""

    def __post_init__(self):
        if self.num_negatives is not None and self.num_negatives < 1:
            raise ValueError(f"SamplingSpec.num_negatives must be >= 1, got {self.num_negatives}")
        if not 0 <= self.holdout_fraction < 1:
            raise ValueError(f"SamplingSpec.holdout_fraction must lie in [0, 1), got {self.holdout_fraction}")
        if self.batches not in BATCHES:
            raise ValueError(f"SamplingSpec.batches must be one of {BATCHES}, got {self.batches!r}")
        if self.user_negatives not in USER_NEGATIVES:
            raise ValueError(f"SamplingSpec.user_negatives must be one of {USER_NEGATIVES}, got {self.user_negatives!r}")

    def resolve_batches(self, model: Recommender, method: str) -> str:
        """``'triplets'`` or ``'users'`` for ``model`` (a clear error where ``'users'`` cannot apply)."""
        rows = bool(getattr(model, "user_row_batches", False))
        if self.batches == "triplets" or (self.batches == "auto" and not rows):
            return "triplets"
        if not rows:
            raise ValueError(f"{method} with batches='users' needs a backbone trained on users' rows (cdae); "
                             f"{type(model).__name__} trains on triplets: use batches='triplets' or 'auto'")
        if self.negatives is not None or self.holdout_fraction or not self.draw_negatives:
            raise ValueError(f"{method}: user batches draw their own negative cells ({self.user_negatives!r}) and "
                             "hold nothing out; a negative proposal, holdout_fraction or draw_negatives=False needs "
                             "batches='triplets'")
        return "users"

    def build_negatives(self, index: InteractionIndex) -> NegativeSampler:
        return UniformNegatives(index) if self.negatives is None else self.negatives(index)

    def resolve_num_negatives(self, requested: int, method: str) -> int:
        """The negatives per positive of a run whose trainer asks for ``requested``."""
        if self.num_negatives is None:
            return requested
        if requested not in (1, self.num_negatives):
            raise ValueError(f"{method} trains with {self.num_negatives} negative(s) per positive; the trainer's "
                             f"num_negatives={requested} conflicts (leave it at 1)")
        return self.num_negatives


@dataclass
class SetupContext:
    """What the trainer tells a method before training (:meth:`Method.setup`)."""

    lr: float = 1e-3
    """Learning rate of the recommender's optimiser."""
    num_negatives: int = 1
    """Negatives per positive of every batch."""
    batches_per_epoch: int = 1
    epochs: Optional[int] = None
    """The trainer's epoch budget (``TrainerConfig.epochs``); :obj:`None` where unknown (a model
    restored for inference). Methods whose schedule spans the run (DCF's :math:`\\lambda`) read it."""
    negatives: Optional[NegativeSampler] = None
    """The proposal built from :attr:`SamplingSpec.negatives` (read-only for the method: e.g. its
    ``log_prob``)."""
    world: World = SINGLE
    seed: int = 0
    """Seed of the run (for the method's own generators)."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batches: str = "triplets"
    """What the trainer's batches are, :attr:`SamplingSpec.batches` resolved for the backbone:
    ``'triplets'`` or ``'users'``."""


class BatchSource:
    """Extra batches a method may draw during a step (TIL's outer objective); the trainer provides it."""

    def random_batch(self, size: int, holdout: bool = False) -> TripletBatch:
        raise NotImplementedError(f"{type(self).__name__} draws no extra batches")


@dataclass
class StepContext:
    """What the trainer tells a method about the current step."""

    step: int
    """Global iteration count (mini-batches since the start of training)."""
    epoch: int
    lr: float
    """Learning rate of the recommender's optimiser."""
    l2: float = 0.0
    """Weight of the L2 term on the embeddings of the batch."""
    batches_per_epoch: int = 1
    world: World = SINGLE
    """The data-parallel ranks (the trainer averages the declared optimisers' gradients itself)."""
    source: BatchSource = field(default_factory=BatchSource)
    aux: List = field(default_factory=list)
    """Auxiliary batches of the step (sequence methods that plan them, e.g. ATJT)."""

    def random_batch(self, size: int, holdout: bool = False) -> TripletBatch:
        """``size`` training triplets drawn uniformly with replacement, on the batch's device; from the
        held-out edges of :attr:`SamplingSpec.holdout_fraction` when ``holdout``."""
        return self.source.random_batch(size, holdout)


@dataclass
class MethodConfig:
    """A method without options."""


class MethodBase(nn.Module):
    r"""What the graph and the sequence methods share: a typed config, declared optimisers, the
    per-step hooks and per-epoch statistics.

    Args:
        config (MethodConfig, optional): The method's options; keyword arguments override fields.
    """

    Config = MethodConfig

    def __init__(self, config: Optional[MethodConfig] = None, **overrides):
        super().__init__()
        self.config = resolve_config(type(self), config, overrides)

    def optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        """The method's optimisers stepped with the recommender's, by name (zeroed, stepped and
        checkpointed by the trainer)."""
        return {}

    def outer_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        """The method's optimisers stepped after each of its :meth:`outer_losses` (checkpointed too)."""
        return {}

    def outer_losses(self, model, batch, ctx: StepContext) -> Iterator[Tensor]:
        """Outer objectives to minimise, one optimiser step each, before the recommender's step."""
        return iter(())

    def loss(self, model, batch, ctx: StepContext) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The objective of the recommender on ``batch`` (L2 included) and detached scalars to log."""
        raise NotImplementedError

    def after_backward(self, model, batch, ctx: StepContext) -> Dict[str, Tensor]:
        """Runs with the recommender's gradients in ``p.grad``, before any optimiser steps."""
        return {}

    def after_step(self, model, batch, ctx: StepContext) -> None:
        """Bookkeeping after the optimiser steps."""

    def lr_scale(self) -> float:
        """The factor on the recommender's learning rate for the step being taken (read after
        :meth:`loss`; e.g. SGDL's Phase I at a fifth of it as its authors' code trains). (default: 1)"""
        return 1.0

    def may_stop(self) -> bool:
        """Whether early stopping may end the run at this evaluation (read after each evaluation).
        ``False`` while the method is still in a phase that comes before its own training (SGDL's
        Phase I, the authors' TIL-MI warm-up): those evaluations still take part in model selection,
        but the trainer's patience counts only from the first evaluation at which this is ``True``,
        so a run is never stopped before the method has trained as itself. (default: ``True``)"""
        return True

    def may_select(self) -> bool:
        """Whether this evaluation may be selected as the reported state (read after each evaluation;
        e.g. ``False`` in SGDL's Phase I with ``phase_two_selection``, its authors' rule). A run with no
        selectable evaluation reports its last state. (default: ``True``)"""
        return True

    def epoch_stats(self) -> Dict[str, float]:
        """Statistics accumulated over the epoch (e.g. weight mean/std), reset after reading."""
        return {}

    def extra_state(self) -> dict:
        """Non-parameter state an exact resume needs beyond the declared optimisers (generators...)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config))
        return f"{type(self).__name__}({fields})"


class Method(MethodBase):
    r"""Base class of the methods of the interaction-graph task; plain BPR is
    :class:`~graphdenoise.methods.BPR`. See the module docstring for the protocol.

    Args:
        config (MethodConfig, optional): The method's options; keyword arguments override fields.
    """

    def sampling(self) -> SamplingSpec:
        """What this method needs from sampling (uniform negatives by default)."""
        return SamplingSpec()

    def setup(self, model: Recommender, data, ctx: SetupContext) -> None:
        """Bind to the model and data before training (build parameters and optimisers here)."""

    def loss(self, model: Recommender, batch: TripletBatch, ctx: StepContext) -> Tuple[Tensor, Dict[str, Tensor]]:
        raise NotImplementedError

    def weights(self, model: Recommender, users: Tensor, pos_items: Tensor, neg_items: Tensor) -> Tensor:
        """The per-triplet weights this method would give (ones for unweighted methods)."""
        return torch.ones(users.shape, device=users.device)


def setup_for_inference(method: Method, model: Recommender, data) -> None:
    """:meth:`Method.setup` outside training (restoring a saved result): the proposal of the method's
    spec and the model's device, no sampler."""
    spec = method.sampling()
    device = next(model.parameters()).device
    negatives = spec.build_negatives(model.train_index)
    method.setup(model, data, SetupContext(num_negatives=spec.num_negatives or 1, negatives=negatives, device=device,
                                           batches=spec.resolve_batches(model, type(method).__name__)))
    negatives.bind(model)  # a model-aware proposal (PRIS's clusters) reads the restored model


def l2_term(model: Recommender, batch: TripletBatch, ctx: StepContext, scores: Optional[TripletScores] = None) -> Tensor:
    """``ctx.l2`` times the model's L2 regulariser on the batch's embeddings (``scores``, the batch's
    :class:`TripletScores`, lets models whose representations are the embeddings skip a lookup)."""
    if ctx.l2 == 0:
        return torch.zeros((), device=batch.users.device)
    return ctx.l2 * model.regularization(batch.users, batch.pos_items, batch.neg_items, scores)
