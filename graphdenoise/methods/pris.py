r"""PRIS: Personalized Ranking with Importance Sampling, from Lian, Liu and Chen, WWW 2020,
https://doi.org/10.1145/3366423.3380187.

BPR averages its loss uniformly over negatives; PRIS weights them by a softmax over their scores, so
that informative (high-scoring) negatives dominate,
:math:`P(j \mid u, i) \propto \exp(-(\hat y_{ui} - \hat y_{uj})) \propto \exp(\hat y_{uj})`, and
estimates this with self-normalised importance sampling over :math:`L` candidates drawn from a
cheap proposal :math:`q(j \mid u)`:

.. math::
    \mathcal L = \frac1B \sum_{(u,i)} \sum_{l=1}^{L} w_l \bigl(-\ln\sigma(\hat y_{ui} - \hat y_{uj_l})\bigr),
    \qquad w_l = \frac{\exp(\hat y_{uj_l}/\tau - \ln q(j_l \mid u))}
    {\sum_{m=1}^{L} \exp(\hat y_{uj_m}/\tau - \ln q(j_m \mid u))}\ \text{(no gradient)}

plus the trainer's L2 term. :math:`\tau = 1` is the paper's form (the AdaSIR authors' PRIS(U)
exposes it as ``lambda_w``).

Proposals (``proposal``): ``'uniform'`` (PRIS(U)), ``'popularity'`` (:math:`q \propto (c_j+1)^\alpha`)
and ``'cluster'`` (default: item clusters by k-means over the current item representations, a
cluster picked by the user's softmax affinity to the centroids, then an item by within-cluster
popularity; see :mod:`graphdenoise.sampling.cluster` for our reading). Positives of the user are
rejected, so :math:`q` is the proposal before rejection, as the sampler's ``log_q`` reports it.

**Drawing L candidates.** PRIS needs ``[B, L]`` negatives with their ``log q``. Its
:meth:`~PRIS.sampling` spec asks for ``num_candidates`` negatives per positive from its proposal, so
the candidates come from the trainer's own seeded generator (exact resume, no wasted draw) and arrive
in ``batch.neg_items`` / ``batch.neg_log_q``. A trainer ``num_negatives`` other than 1 or
``num_candidates`` is an error.

Defaults (not verified against the paper's experimental section): ``num_candidates = 5``,
``num_clusters = 16``, ``temperature = 1``, re-clustering once per epoch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from ..sampling.cluster import ClusterPopularityNegatives
from ..sampling.negatives import UniformNegatives
from ..sampling.popularity import PopularityNegatives
from ..search_space import Float, SearchSpace
from .base import METHODS, Method, MethodConfig, SamplingSpec, l2_term
from .losses import weighted_bpr_loss
from .reweighting import WeightStats
from ..config import check_fields


def importance_weights(neg_scores: Tensor, log_q: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Self-normalised importance weights over the last dimension, detached:
    :math:`\operatorname{softmax}_l(\hat y_{uj_l}/\tau - \ln q(j_l \mid u))`."""
    return torch.softmax(neg_scores.detach() / temperature - log_q.to(neg_scores.device), dim=-1)


@dataclass
class PRISConfig(MethodConfig):
    """Options of :class:`PRIS`."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"temperature": Float(0.1, 10.0, log=True), "popularity_alpha": Float(0.0, 1.0)}

    num_candidates: int = 5
    """:math:`L`, negatives drawn per positive from the proposal."""
    proposal: str = "cluster"
    """``'uniform'``, ``'popularity'`` or ``'cluster'``."""
    temperature: float = 1.0
    """:math:`\\tau` of the importance weights (the paper: 1)."""
    popularity_alpha: float = 1.0
    """Exponent of the (within-cluster) popularity of the proposal."""
    num_clusters: int = 16
    """Item clusters of the ``'cluster'`` proposal."""
    refresh_every: Optional[int] = None
    """Steps between re-clusterings (None: once per epoch)."""

    def __post_init__(self):
        check_fields(self, num_candidates=">= 1", proposal=("uniform", "popularity", "cluster"),
                     temperature="> 0", popularity_alpha=">= 0", num_clusters=">= 1",
                     refresh_every=">= 1")


@METHODS.register("pris")
class PRIS(Method):
    r"""PRIS (see the module docstring).

    Args:
        config (PRISConfig, optional): ``num_candidates`` (default: 5), ``proposal``
            (default: ``'cluster'``), ``temperature`` (default: 1.0), ``popularity_alpha``
            (default: 1.0), ``num_clusters`` (default: 16), ``refresh_every`` (default: one epoch).

    Shapes:
        - :meth:`weights`: ``[B, L]``, summing to 1 over ``L``.
    """

    Config = PRISConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.proposal_sampler = None
        self.stats, self.ess, self.max_weight = WeightStats(), WeightStats(), WeightStats()

    def proposal(self, index):
        """The proposal :math:`q(j \\mid u)` over the training positives ``index``."""
        cfg = self.config
        if cfg.proposal == "uniform":
            return UniformNegatives(index)
        if cfg.proposal == "popularity":
            return PopularityNegatives(index, alpha=cfg.popularity_alpha, offset=1.0)
        # refresh_every=None: once per epoch (the trainer binds the proposal with the epoch's batches)
        return ClusterPopularityNegatives(index, num_clusters=cfg.num_clusters, alpha=cfg.popularity_alpha,
                                          offset=1.0, refresh_every=cfg.refresh_every)

    def sampling(self):
        return SamplingSpec(negatives=self.proposal, num_negatives=self.config.num_candidates)

    def setup(self, model, data, ctx):
        self.proposal_sampler = ctx.negatives  # read for log q(j | u) in weights()

    def _log_q(self, users: Tensor, neg_items: Tensor) -> Tensor:
        users = users.unsqueeze(-1).expand_as(neg_items) if neg_items.dim() > users.dim() else users
        return self.proposal_sampler.log_prob(users.cpu(), neg_items.cpu()).to(neg_items.device)

    def loss(self, model, batch, ctx):
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        log_q = batch.neg_log_q if batch.neg_log_q is not None else self._log_q(batch.users, batch.neg_items)
        neg = out.neg if out.neg.dim() == 2 else out.neg.unsqueeze(-1)
        weight = importance_weights(neg, log_q.view_as(neg), self.config.temperature)
        loss = weighted_bpr_loss(out.pos, neg, weight) * neg.size(-1)  # sum over l, mean over (u, i)
        self.stats.update(weight)
        self.ess.update(1.0 / weight.pow(2).sum(-1))
        self.max_weight.update(weight.max(-1).values)
        return loss + l2_term(model, batch, ctx, out), {"pris": loss.detach()}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        neg = out.neg if out.neg.dim() == 2 else out.neg.unsqueeze(-1)
        log_q = self._log_q(users, neg_items).view_as(neg)
        return importance_weights(neg, log_q, self.config.temperature)

    def epoch_stats(self):
        r"""Mean / std of the weights, of their effective sample size :math:`1/\sum_l w_l^2` and of
        the largest weight per positive."""
        return {**self.stats.read("weight"), **self.ess.read("ess"), **self.max_weight.read("max_weight")}
