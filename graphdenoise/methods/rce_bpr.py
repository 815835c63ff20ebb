r"""R-CE on the pairwise BPR loss: Reweighted BPR, after Wang, Feng, He, Nie and Chua, "Denoising
Implicit Feedback for Recommendation", WSDM 2021, https://arxiv.org/abs/2006.04153.

The paper defines the reweighted loss on pointwise BCE (:mod:`~graphdenoise.methods.rce`); this is
the pairwise variant run as the R-CE baseline on BPR backbones: each triplet's BPR loss is weighted
by the model's detached confidence in the pair's order,

.. math::
    \mathcal L = \frac1n \sum_{(u,i,j)} \omega_{uij}\, \bigl(-\ln\sigma(\hat y_{ui} - \hat y_{uj})\bigr),
    \qquad \omega_{uij} = \sigma(\hat y_{ui} - \hat y_{uj})^{\beta}\ \text{(no gradient)},

plus the trainer's L2 term. Default :math:`\beta = 0.2` (R-CE's default).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..search_space import Float, SearchSpace
from .base import METHODS, Method, MethodConfig, l2_term
from .losses import weighted_bpr_loss
from .reweighting import WeightStats, bpr_confidence_weights
from ..config import check_fields


@dataclass
class RCEBPRConfig(MethodConfig):
    """Options of :class:`RCEBPR` (R-CE's default)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"beta": Float(0.05, 1.0, log=True)}

    beta: float = 0.2
    """:math:`\\beta \\ge 0`; 0 is plain BPR."""

    def __post_init__(self):
        check_fields(self, beta=">= 0")


@METHODS.register("rce-bpr")
class RCEBPR(Method):
    r"""Reweighted BPR (see the module docstring).

    Args:
        config (RCEBPRConfig, optional): ``beta`` (default: 0.2).

    Shapes:
        - :meth:`weights`: like ``neg_items`` (``[B]`` or ``[B, L]``).
    """

    Config = RCEBPRConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.stats = WeightStats()

    def loss(self, model, batch, ctx):
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        weight = bpr_confidence_weights(out.pos, out.neg, self.config.beta)
        loss = weighted_bpr_loss(out.pos, out.neg, weight)
        self.stats.update(weight)
        return loss + l2_term(model, batch, ctx, out), {"bpr": loss.detach()}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        return bpr_confidence_weights(out.pos, out.neg, self.config.beta)

    def epoch_stats(self):
        return self.stats.read("weight")
