r"""Item clustering for TIL's Multi-Interest strategy (Wu et al., CIKM 2022, Section 4.3).

* :func:`~graphdenoise.utils.kmeans` -- vectorised Lloyd iterations (k-means++ seeding), used once to
  initialise the learnable centres of TIL-MI and every few iterations by the TIL-MIK ablation;
* :func:`soft_assignment` -- Student's t soft assignment :math:`Q` (Eq. 7), and its arg-max
  :func:`hard_assignment` (the cluster ids);
* :func:`target_distribution` -- the sharpened target :math:`T` (Eq. 8);
* :func:`clustering_loss` -- :math:`\mathrm{KL}(T \| Q)` (Eq. 9), averaged over the items given.

Reference: DEC (Xie et al., ICML 2016), which Eq. 7-9 follow.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _student_t_logits(q: Tensor, centres: Tensor, tau: float) -> Tensor:
    r"""Unnormalised log of Eq. 7, :math:`-\frac{\tau+1}{2}\log(1 + \|q_i - \Phi_k\|^2/\tau)`."""
    # squared distances by one matmul (cheaper than cdist's forward and backward)
    dist2 = (q.pow(2).sum(1, keepdim=True) - 2 * q @ centres.t() + centres.pow(2).sum(1)).clamp_(min=0)
    return -(tau + 1) / 2 * torch.log1p(dist2 / tau)


def soft_assignment(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 7: :math:`Q_{ik} \propto (1 + \|q_i - \Phi_k\|^2/\tau)^{-(\tau+1)/2}`; rows sum to 1."""
    return torch.softmax(_student_t_logits(q, centres, tau), dim=1)


def hard_assignment(q: Tensor, centres: Tensor) -> Tensor:
    r""":math:`\arg\max_k Q_{ik}`, which is the nearest centre (Eq. 7 decreases with the distance):
    one matmul and an ``argmin``, without the assignment itself."""
    return (centres.pow(2).sum(1) - 2 * q @ centres.t()).argmin(1)


def target_distribution(assign: Tensor) -> Tensor:
    r"""Eq. 8: :math:`T_{ik} = (Q_{ik}^2 / f_k) / \sum_j Q_{ij}^2 / f_j` with :math:`f_k = \sum_i Q_{ik}`."""
    weight = assign.pow(2) / assign.sum(0, keepdim=True).clamp(min=1e-12)
    return weight / weight.sum(1, keepdim=True)


def clustering_loss(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 9: :math:`\mathrm{KL}(T\|Q)` with the target :math:`T` held fixed (as in DEC), mean over rows.

    Computed in log space (:math:`\log T_{ik} = 2\log Q_{ik} - \log f_k - \mathrm{lse}_j(\cdot)`): no
    clamping, and the backward runs through ``log_softmax`` alone (T is a constant)."""
    log_q = torch.log_softmax(_student_t_logits(q, centres, tau), dim=1)
    with torch.no_grad():
        log_weight = 2 * log_q - torch.logsumexp(log_q, dim=0, keepdim=True)
        log_t = log_weight - torch.logsumexp(log_weight, dim=1, keepdim=True)
        target = log_t.exp()
    return (target * (log_t - log_q)).sum(1).mean()
