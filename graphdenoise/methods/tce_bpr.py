r"""T-CE on the pairwise BPR loss: Truncated BPR, after Wang, Feng, He, Nie and Chua, "Denoising
Implicit Feedback for Recommendation", WSDM 2021, https://arxiv.org/abs/2006.04153.

The paper defines the truncated loss on pointwise BCE (:mod:`~graphdenoise.methods.tce`); this is
the pairwise variant that later denoising studies run as the T-CE baseline on BPR backbones
(e.g. RecCFDenoise): at iteration :math:`t` the triplets with the largest BPR loss are left out,

.. math::
    \mathcal L = \frac{1}{|\mathcal K_t|} \sum_{(u,i,j) \in \mathcal K_t}
    -\ln\sigma(\hat y_{ui} - \hat y_{uj}), \qquad
    \varepsilon(t) = \min\!\left(\frac{t}{N}, 1\right) \varepsilon_{\max},

where :math:`\mathcal K_t` keeps ``int((1 - ε(t)) n)`` of the :math:`n` triplets (``B`` or ``B*L``),
:math:`t` counts iterations, plus the trainer's L2 term. Defaults as T-CE: ``drop_rate 0.2``,
``num_gradual 30000``, ``exponent 1``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..search_space import Float, Int, SearchSpace
from .base import METHODS, MethodConfig, l2_term
from .losses import bpr_terms
from .reweighting import masked_mean, truncation_mask
from .tce import Truncation
from ..config import check_fields


@dataclass
class TCEBPRConfig(MethodConfig):
    """Options of :class:`TCEBPR` (T-CE's defaults)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"drop_rate": Float(0.05, 0.3), "num_gradual": Int(100, 30000, log=True)}

    drop_rate: float = 0.2
    """:math:`\\varepsilon_{\\max} \\in [0, 1)`, the final fraction of triplets dropped."""
    num_gradual: int = 30000
    """Iterations (mini-batches, not epochs) over which the drop rate ramps up."""
    exponent: float = 1.0
    """Exponent of the schedule (the authors' ``--exponent``)."""

    def __post_init__(self):
        check_fields(self, drop_rate="[0, 1)", num_gradual=">= 0", exponent="> 0")


@METHODS.register("tce-bpr")
class TCEBPR(Truncation):
    r"""Truncated BPR (see the module docstring).

    Args:
        config (TCEBPRConfig, optional): ``drop_rate`` (default: 0.2), ``num_gradual``
            (default: 30000), ``exponent`` (default: 1.0).

    Shapes:
        - :meth:`weights`: like ``neg_items`` (``[B]`` or ``[B, L]``), 1 kept, 0 dropped.
    """

    Config = TCEBPRConfig

    def loss(self, model, batch, ctx):
        rate = self.drop_rate(ctx)
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        terms = bpr_terms(out.pos, out.neg)
        keep = truncation_mask(terms, rate)
        loss = masked_mean(terms, keep)
        self.stats.update(keep.float())
        return loss + l2_term(model, batch, ctx, out), {"bpr": loss.detach(), "drop_rate": torch.tensor(rate)}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        return truncation_mask(bpr_terms(out.pos, out.neg), self.schedule(self.step)).float()
