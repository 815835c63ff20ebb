r"""Item clustering for TIL's Multi-Interest strategy (Wu et al., CIKM 2022, Section 4.3).

* :func:`kmeans` -- vectorised Lloyd iterations (k-means++ seeding), used once to initialise the
  learnable centres of TIL-MI and every few iterations by the TIL-MIK ablation;
* :func:`soft_assignment` -- Student's t soft assignment :math:`Q` (Eq. 7);
* :func:`target_distribution` -- the sharpened target :math:`T` (Eq. 8);
* :func:`clustering_loss` -- :math:`\mathrm{KL}(T \| Q)` (Eq. 9), averaged over the items given.

Reference: DEC (Xie et al., ICML 2016), which Eq. 7-9 follow.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def kmeans(x: Tensor, num_clusters: int, num_iters: int = 25, init: Optional[Tensor] = None,
           generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Cluster centres ``[K, d]`` of the rows of ``x`` by Lloyd's algorithm.

    Args:
        x (Tensor): Points ``[N, d]``.
        num_clusters (int): ``K`` (at most ``N``).
        num_iters (int): Lloyd iterations. (default: 25)
        init (Tensor, optional): Starting centres (warm start); k-means++ seeding otherwise.
        generator (torch.Generator, optional): Randomness of the seeding.
    """
    x = x.detach()
    n = x.size(0)
    if not 0 < num_clusters <= n:
        raise ValueError(f"num_clusters must lie in [1, {n}] (the number of points), got {num_clusters}")
    centres = init.detach().clone() if init is not None else _kmeans_pp(x, num_clusters, generator)
    for _ in range(num_iters):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=num_clusters).unsqueeze(1)
        empty = counts.view(-1) == 0
        centres = torch.where(empty.unsqueeze(1), centres, sums / counts.clamp(min=1))
    return centres


def _kmeans_pp(x: Tensor, k: int, generator: Optional[torch.Generator]) -> Tensor:
    gen_device = generator.device if generator is not None else "cpu"
    first = torch.randint(x.size(0), (1,), generator=generator, device=gen_device).to(x.device)
    centres = [x[first].view(-1)]
    dist = torch.cdist(x, centres[0].unsqueeze(0)).view(-1).pow(2)
    for _ in range(1, k):  # k seeding rounds, each vectorised over all points
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1.0 / dist.numel())
        pick = torch.multinomial(probs.to(gen_device), 1, generator=generator).to(x.device)
        centres.append(x[pick].view(-1))
        dist = torch.minimum(dist, torch.cdist(x, x[pick].view(1, -1)).view(-1).pow(2))
    return torch.stack(centres)


def soft_assignment(q: Tensor, centres: Tensor, tau: float = 1.0) -> Tensor:
    r"""Eq. 7: :math:`Q_{ik} \propto (1 + \|q_i - \Phi_k\|^2/\tau)^{-(\tau+1)/2}`; rows sum to 1."""
    dist2 = torch.cdist(q, centres).pow(2)
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
