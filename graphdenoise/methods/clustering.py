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
from torch.autograd.function import once_differentiable


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
    # ``min`` returns the first minimum like ``argmin`` does, and ran 1.5x faster on [41k, 60]
    return (centres.pow(2).sum(1) - 2 * q @ centres.t()).min(1).indices


def target_distribution(assign: Tensor) -> Tensor:
    r"""Eq. 8: :math:`T_{ik} = (Q_{ik}^2 / f_k) / \sum_j Q_{ij}^2 / f_j` with :math:`f_k = \sum_i Q_{ik}`."""
    weight = assign.pow(2) / assign.sum(0, keepdim=True).clamp(min=1e-12)
    return weight / weight.sum(1, keepdim=True)


def clustering_loss(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 9: :math:`\mathrm{KL}(T\|Q)` with the target :math:`T` held fixed (as in DEC), mean over rows.

    Laid out ``[K, n]`` (every reduction over the clusters runs across contiguous items: on ``[n, K]``
    with K = 60, torch's per-row reductions ran 5-30x slower), normalised directly rather than through
    ``log_softmax`` (Eq. 7's kernel is a power of the distance, so :math:`Q` needs no ``exp`` and, at
    the default :math:`\tau = 1`, no ``pow``: a reciprocal), with the gradient in closed form
    (:class:`_ClusteringKL`; tested equal to autograd through the plain formula)."""
    return _ClusteringKL.apply(q, centres, tau)


class _ClusteringKL(torch.autograd.Function):
    r""":math:`\mathrm{KL}(T\|Q)` and its gradient, in few passes over ``[K, n]``.

    With :math:`a = \frac{\tau+1}2`, :math:`v_{ik} = 1/(1 + D_{ik}/\tau)` for the squared distances
    :math:`D_{ik} = \|q_i\|^2 - 2 q_i\cdot\Phi_k + \|\Phi_k\|^2` (clamped at 0): :math:`Q_{ik} = w_{ik} / S_i`
    with :math:`w = v^a` (divided by the item's largest :math:`v` first when :math:`a \ne 1`, against
    underflow), :math:`S_i = \sum_k w_{ik}`; :math:`f_k = \sum_i Q_{ik}`, :math:`T_{ik} = (Q_{ik}^2/f_k)/Z_i`,
    :math:`Z_i = \sum_k Q_{ik}^2/f_k`, and :math:`n\,\mathrm{KL} = \sum_{ik} T_{ik}\log(T_{ik}/Q_{ik})` with
    :math:`T/Q = Q/(fZ)` (the log of a ratio near 1: summing the logs of :math:`w, S, f, Z` separately
    cancelled float32 digits). Backward:
    ``log_softmax``'s :math:`G = (Q\sum_k T - T)/n` (:math:`T` constant; :math:`\sum_k T_{ik} = 1`)
    times :math:`\partial\,\mathrm{logit}/\partial D = -\frac{a}{\tau} v`, i.e. :math:`E = \frac{a}{\tau n}(T - Q)\,v`
    (zero where the distance was clamped), then :math:`\partial L/\partial q_i = 2\sum_k E_{ik}(q_i - \Phi_k)`,
    :math:`\partial L/\partial\Phi_k = 2\sum_i E_{ik}(\Phi_k - q_i)`."""

    @staticmethod
    def forward(ctx, q: Tensor, centres: Tensor, tau: float) -> Tensor:
        power = (tau + 1) / 2
        # τ + D = τ + |Φ_k|^2 - 2 Φ_k·q_i + |q_i|^2, [K, n]
        shifted = torch.addmm(centres.pow(2).sum(1, keepdim=True).add_(tau), centres, q.t(), alpha=-2)
        shifted.add_(q.pow(2).sum(1))
        clamped = None  # the distances below 0 (rounding): clamped, and their gradient is zero
        if q.device.type != "cpu" or float(shifted.amin()) < tau:
            clamped = shifted < tau
            shifted.clamp_(min=tau)
        inverse = shifted.reciprocal_()  # v / τ
        if tau != 1:
            inverse.mul_(tau)
        weight = inverse if power == 1 else (inverse / inverse.amax(0)).pow_(power)
        assign = weight / weight.sum(0)  # Q
        size = assign.sum(1).clamp_(min=torch.finfo(q.dtype).tiny)  # f
        ratio = assign * size.reciprocal().unsqueeze(1)  # Q / f, then T / Q = Q / (f Z)
        target = ratio * assign
        norm = target.sum(0)  # Z
        target.div_(norm)
        kl = ratio.div_(norm).log_().mul_(target).sum() / q.size(0)
        ctx.save_for_backward(q, centres, target, assign, inverse, clamped)
        ctx.scale = power / (tau * q.size(0))
        return kl

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        q, centres, target, assign, inverse, clamped = ctx.saved_tensors
        dist_grad = torch.sub(target, assign).mul_(inverse)  # E up to the factor below
        if clamped is not None:
            dist_grad.masked_fill_(clamped, 0.0)
        factor = grad * (2 * ctx.scale)
        grad_q = torch.addmm(q * dist_grad.sum(0).unsqueeze(1), dist_grad.t(), centres, alpha=-1).mul_(factor)
        grad_centres = torch.addmm(centres * dist_grad.sum(1).unsqueeze(1), dist_grad, q, alpha=-1).mul_(factor)
        return grad_q, grad_centres, None
