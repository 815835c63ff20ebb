r"""T-CE, the Truncated Cross-Entropy loss of Wang, Feng, He, Nie and Chua, "Denoising Implicit
Feedback for Recommendation", WSDM 2021, https://arxiv.org/abs/2006.04153.

Pointwise binary cross-entropy over the batch's positives (label 1) and sampled negatives (label 0);
noisy positives tend to keep a large loss, so at iteration :math:`t` the largest-loss positives are
left out:

.. math::
    \mathcal L_{\mathrm{T\text{-}CE}} = \frac{1}{|\mathcal K_t|} \sum_{k \in \mathcal K_t}
    \ell_{\mathrm{BCE}}(y_k, \hat y_k), \qquad
    \varepsilon(t) = \min\!\left(\frac{t}{N}, 1\right) \varepsilon_{\max}

where :math:`\mathcal K_t` keeps ``int((1 - ε(t)) n)`` of the :math:`n` samples, dropping positives
by descending loss, and :math:`t` is the global ITERATION count (``StepContext.step``), as in the
authors' code, not epochs. Plus the trainer's L2 term.

``drop_scope`` (where the sources differ):

* ``'batch'`` (default, the authors' ``T_CE/loss.py``): :math:`n` counts the WHOLE batch, negatives
  included; negatives are never dropped while positives remain, so with one negative per positive a
  drop rate of 0.2 removes up to 40% of the positives;
* ``'positives'`` (the paper's per-interaction reading): ``ε(t)`` of the positives are dropped;
  the mean runs over the kept positives and all negatives.

Defaults are the authors' argparse defaults (``drop_rate 0.2``, ``num_gradual 30000``,
``exponent 1``); their per-run settings were 0.1 (GMF) / 0.2 (NeuMF) with 30,000 iterations.

On CDAE, ``batches='auto'`` or ``'users'`` trains as the RecSys'25 study does there
(``bachml/EvalDenoisingRec`` ``code/CDAE/main.py:292-325``): batches of users with their whole
training rows, per user as many uniform draws over all items as positives (collapsed into the
positives' cells, :class:`~graphdenoise.sampling.UserBatchSampler` ``'per_user'``), the truncation
over the batch's flattened cells; with ``drop_rate=0`` this is the study's CDAE ERM, the control of
DeCA and UDT on CDAE. The default stays ``'triplets'`` (the T-CE authors never trained CDAE).

Reference: ``WenjieWWJ/DenoisingRec`` @ 451779a, ``T_CE/loss.py``, ``T_CE/main.py``. Deviations: the
schedule ramps over ``num_gradual`` steps instead of ``num_gradual - 1`` (see
:class:`~graphdenoise.methods.reweighting.LinearDropRate`); model selection uses the trainer's
validation ranking metric, not the validation loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..search_space import Float, Int, SearchSpace
from .base import BATCHES, METHODS, Method, MethodConfig, l2_term
from .losses import bce_terms
from .reweighting import (LinearDropRate, StudyRows, WeightStats, batch_logits, masked_mean, pointwise_logits,
                          truncation_mask)
from ..config import check_fields


@dataclass
class TCEConfig(MethodConfig):
    """Options of :class:`TCE` (the authors' defaults)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"drop_rate": Float(0.05, 0.3), "num_gradual": Int(100, 30000, log=True)}

    drop_rate: float = 0.2
    """:math:`\\varepsilon_{\\max} \\in [0, 1)`, the final drop rate."""
    num_gradual: int = 30000
    """Iterations (mini-batches, not epochs) over which the drop rate ramps up."""
    exponent: float = 1.0
    """Exponent of the schedule (the authors' ``--exponent``)."""
    drop_scope: str = "batch"
    """``'batch'`` (authors' code: the fraction counts negatives too) or ``'positives'``."""
    batches: str = "triplets"
    """``'triplets'`` (default: the T-CE authors' protocol, every backbone), ``'auto'`` (users' rows on
    CDAE as the RecSys'25 study trains ERM / T-CE / R-CE there, ``code/CDAE/main.py:292-325``,
    triplets elsewhere) or ``'users'`` (CDAE only)."""

    def __post_init__(self):
        check_fields(self, drop_rate="[0, 1)", num_gradual=">= 0", exponent="> 0",
                     drop_scope=("batch", "positives"), batches=BATCHES)


def pointwise_keep_mask(pos, neg, drop_rate: float, drop_scope: str):
    """``(terms, keep)`` of T-CE over a triplet batch (positives first, see ``pointwise_logits``)."""
    return keep_mask(*pointwise_logits(pos, neg), drop_rate, drop_scope)


def keep_mask(logits, labels, drop_rate: float, drop_scope: str):
    """``(terms, keep)`` of T-CE over pointwise samples (a triplet batch's or a user batch's cells)."""
    terms = bce_terms(logits, labels)
    scope = "batch" if drop_scope == "batch" else "candidates"
    return terms, truncation_mask(terms, drop_rate, labels > 0.5, scope)


class Truncation(Method):
    """What T-CE and its BPR variant share: the drop-rate schedule over ITERATIONS (``ctx.step``) and
    the kept-fraction statistics."""

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.schedule = LinearDropRate(self.config.drop_rate, self.config.num_gradual, self.config.exponent)
        self.step = 0
        self.stats = WeightStats()

    def drop_rate(self, ctx) -> float:
        """:math:`\\varepsilon(t)` at the step of ``ctx`` (remembered for :meth:`weights`)."""
        self.step = ctx.step
        return self.schedule(ctx.step)

    def epoch_stats(self):
        return self.stats.read("weight")


@METHODS.register("tce")
class TCE(StudyRows, Truncation):
    r"""T-CE (see the module docstring).

    Args:
        config (TCEConfig, optional): ``drop_rate`` (default: 0.2), ``num_gradual``
            (default: 30000), ``exponent`` (default: 1.0), ``drop_scope`` (default: ``'batch'``).

    Shapes:
        - :meth:`weights`: ``[B]``, 1 for a kept positive, 0 for a dropped one.
    """

    Config = TCEConfig

    def loss(self, model, batch, ctx):
        rate = self.drop_rate(ctx)
        logits, labels, num_pos, out = batch_logits(model, batch)
        terms, keep = keep_mask(logits, labels, rate, self.config.drop_scope)
        loss = masked_mean(terms, keep)
        kept_pos = keep[:num_pos]
        self.stats.update(kept_pos.float())
        return loss + l2_term(model, batch, ctx, out), {"tce": loss.detach(), "drop_rate": torch.tensor(rate)}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        _, keep = pointwise_keep_mask(out.pos, out.neg, self.schedule(self.step), self.config.drop_scope)
        return keep[: out.pos.numel()].float().view(users.shape)

    def epoch_stats(self):
        stats = super().epoch_stats()
        if stats:
            stats["dropped_positives"] = 1.0 - stats["weight_mean"]
        return stats
