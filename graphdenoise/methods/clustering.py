r"""Item clustering for TIL's Multi-Interest strategy (Wu et al., CIKM 2022, Section 4.3).

* :func:`~graphdenoise.utils.kmeans` -- vectorised Lloyd iterations (k-means++ seeding), used once to
  initialise the learnable centres of TIL-MI and every few iterations by the TIL-MIK ablation;
* :func:`soft_assignment` -- Student's t soft assignment :math:`Q` (Eq. 7);
* :func:`target_distribution` -- the sharpened target :math:`T` (Eq. 8);
* :func:`clustering_loss` -- :math:`\mathrm{KL}(T \| Q)` (Eq. 9), averaged over the items given.

Reference: DEC (Xie et al., ICML 2016), which Eq. 7-9 follow.
"""
from __future__ import annotations

import torch
from torch import Tensor


def soft_assignment(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 7: :math:`Q_{ik} \propto (1 + \|q_i - \Phi_k\|^2/\tau)^{-(\tau+1)/2}`; rows sum to 1."""
    # squared distances by one matmul (cheaper than cdist's forward and backward)
    dist2 = (q.pow(2).sum(1, keepdim=True) - 2 * q @ centres.t() + centres.pow(2).sum(1)).clamp_(min=0)
    logits = -(tau + 1) / 2 * torch.log1p(dist2 / tau)
    return torch.softmax(logits, dim=1)


def target_distribution(assign: Tensor) -> Tensor:
    r"""Eq. 8: :math:`T_{ik} = (Q_{ik}^2 / f_k) / \sum_j Q_{ij}^2 / f_j` with :math:`f_k = \sum_i Q_{ik}`."""
    weight = assign.pow(2) / assign.sum(0, keepdim=True).clamp(min=1e-12)
    return weight / weight.sum(1, keepdim=True)


def clustering_loss(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 9: :math:`\mathrm{KL}(T\|Q)` with the target :math:`T` held fixed (as in DEC), mean over rows."""
    assign = soft_assignment(q, centres, tau)
    target = target_distribution(assign).detach()
    return (target * (target.clamp(min=1e-12).log() - assign.clamp(min=1e-12).log())).sum(1).mean()
