r"""R-CE, the Reweighted Cross-Entropy loss of Wang, Feng, He, Nie and Chua, "Denoising Implicit
Feedback for Recommendation", WSDM 2021, https://arxiv.org/abs/2006.04153.

Pointwise binary cross-entropy over the batch's positives (label 1) and sampled negatives (label 0),
each sample weighted by a detached confidence weight, so that hard positives (likely noise) weigh less:

.. math::
    \mathcal L_{\mathrm{R\text{-}CE}} = \frac1n \sum_k \omega_k\, \ell_{\mathrm{BCE}}(y_k, \hat y_k),
    \qquad \omega_k = \begin{cases} \sigma(\hat y_k)^{\beta} & y_k = 1 \\
    (1 - \sigma(\hat y_k))^{\beta} & y_k = 0 \end{cases}

plus the trainer's L2 term. The paper states the weight on positive interactions only
(:math:`\omega(u,i) = \hat y_{ui}^{\beta}`); the authors' code applies the symmetric form to the
negatives as well. ``reweight_negatives=True`` (default) reproduces the code, ``False`` the paper's
statement (negatives weighted 1).

Default :math:`\beta = 0.2` (the authors' argparse default; their runs used 0.2-0.3).

On CDAE, ``batches='auto'`` or ``'users'`` trains as the RecSys'25 study does there
(``code/CDAE/main.py:292-325``, ``code/CDAE/loss.py``): batches of users' whole rows with per-user
uniform draws, the weights over the batch's flattened cells (see :class:`~graphdenoise.methods.TCE`);
the default stays ``'triplets'``.

Reference: ``WenjieWWJ/DenoisingRec`` @ 451779a, ``R_CE/loss.py``. Deviation: model selection on the
trainer's validation ranking metric instead of the validation loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..search_space import Float, SearchSpace
from .base import BATCHES, METHODS, Method, MethodConfig, l2_term
from .losses import bce_terms
from .reweighting import StudyRows, WeightStats, batch_logits, rce_weights
from ..config import check_fields


@dataclass
class RCEConfig(MethodConfig):
    """Options of :class:`RCE` (the authors' defaults)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"beta": Float(0.05, 1.0, log=True)}

    beta: float = 0.2
    """:math:`\\beta \\ge 0` (the authors' ``--alpha``); 0 is plain BCE."""
    reweight_negatives: bool = True
    """Weight negatives by :math:`(1-\\sigma(\\hat y))^\\beta` as the authors' code does."""
    batches: str = "triplets"
    """``'triplets'`` (default: the T-CE authors' protocol, every backbone), ``'auto'`` (users' rows on
    CDAE as the RecSys'25 study trains ERM / T-CE / R-CE there, ``code/CDAE/main.py:292-325``,
    triplets elsewhere) or ``'users'`` (CDAE only)."""

    def __post_init__(self):
        check_fields(self, beta=">= 0", batches=BATCHES)


@METHODS.register("rce")
class RCE(StudyRows, Method):
    r"""R-CE (see the module docstring).

    Args:
        config (RCEConfig, optional): ``beta`` (default: 0.2), ``reweight_negatives``
            (default: :obj:`True`).

    Shapes:
        - :meth:`weights`: ``[B]``, the positives' :math:`\sigma(\hat y_{ui})^\beta`.
    """

    Config = RCEConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.stats = WeightStats()

    def loss(self, model, batch, ctx):
        logits, labels, num_pos, out = batch_logits(model, batch)
        weight = rce_weights(logits, labels, self.config.beta, self.config.reweight_negatives)
        loss = (weight * bce_terms(logits, labels)).mean()
        self.stats.update(weight[:num_pos])
        return loss + l2_term(model, batch, ctx, out), {"rce": loss.detach()}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        return rce_weights(out.pos, torch.ones_like(out.pos), self.config.beta).view(users.shape)

    def epoch_stats(self):
        return self.stats.read("weight")
