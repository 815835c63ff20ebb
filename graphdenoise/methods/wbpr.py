r"""WBPR: BPR with popularity-sampled negatives, from Gantner, Drumond, Freudenthaler and
Schmidt-Thieme, "Personalized Ranking for Non-Uniformly Sampled Items", JMLR W&CP 18 (KDD Cup 2011),
2012, http://proceedings.mlr.press/v18/gantner12a.html.

The criterion weights each negative by its popularity; like the authors (MyMediaLite
``WeightedBPRMF``) we realise the weight by SAMPLING :math:`j` in proportion to it, never a training
positive of :math:`u`, and keep the plain BPR loss:

.. math::
    \mathcal L = \frac1B \sum_{(u,i,j)} -\ln\sigma(\hat y_{ui} - \hat y_{uj}) + \text{L2}, \qquad
    j \sim q(j) \propto c_j^{\alpha},\ j \notin \mathcal I_u^+

with :math:`c_j` the training degree of item :math:`j` (:class:`~graphdenoise.sampling.PopularityNegatives`).
Default :math:`\alpha = 1` (the paper; RecBole's ``alpha`` generalises it). The paper's per-user
weight :math:`w_u` is realised, as in MyMediaLite, by the trainer's interaction-uniform edge order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..sampling.popularity import PopularityNegatives
from ..search_space import Float, SearchSpace
from .base import METHODS, MethodConfig, SamplingSpec
from .bpr import BPR
from ..config import check_fields


@dataclass
class WBPRConfig(MethodConfig):
    """Options of :class:`WBPR`."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"alpha": Float(0.0, 1.0)}

    alpha: float = 1.0
    """Exponent on item popularity (1: the paper; 0: uniform)."""

    def __post_init__(self):
        check_fields(self, alpha=">= 0")


@METHODS.register("wbpr")
class WBPR(BPR):
    r"""BPR with negatives drawn in proportion to ``popularity ** alpha`` (see the module docstring).

    Args:
        config (WBPRConfig, optional): ``alpha`` (default: 1.0).
    """

    Config = WBPRConfig

    def sampling(self):
        return SamplingSpec(negatives=lambda index: PopularityNegatives(index, alpha=self.config.alpha))
