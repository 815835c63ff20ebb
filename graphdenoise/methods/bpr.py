r"""Bayesian Personalized Ranking (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit
Feedback", UAI 2009): uniform negatives, every triplet weighted alike.

.. math::
    \mathcal L = \frac1B \sum_{(u,i,j)} -\ln\sigma(\hat y_{ui} - \hat y_{uj})
    + \lambda \frac{1}{2B}\sum (\|p_u\|^2 + \|q_i\|^2 + \|q_j\|^2)
"""
from __future__ import annotations

from .base import METHODS, Method, l2_term
from .losses import weighted_bpr_loss


@METHODS.register("bpr")
class BPR(Method):
    """Plain BPR: the control every comparison stands beside."""

    def loss(self, model, batch, ctx):
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        bpr = weighted_bpr_loss(out.pos, out.neg)
        return bpr + l2_term(model, batch, ctx, out), {"bpr": bpr.detach()}
