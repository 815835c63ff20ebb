r"""Functional losses shared by the methods."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor


def bpr_terms(pos: Tensor, neg: Tensor) -> Tensor:
    r"""Per-triplet BPR loss :math:`-\ln\sigma(\hat y_{ui} - \hat y_{uj})` (Rendle et al., UAI 2009, Eq. 1 of TIL)."""
    if neg.dim() == pos.dim() + 1:
        pos = pos.unsqueeze(-1)
    return F.softplus(neg - pos)


def weighted_mean(terms: Tensor, weight: Optional[Tensor] = None) -> Tensor:
    """``mean(weight * terms)`` (plain mean without weights)."""
    if weight is None:
        return terms.mean()
    return (weight * terms).mean()


def weighted_bpr_loss(pos: Tensor, neg: Tensor, weight: Optional[Tensor] = None) -> Tensor:
    r""":math:`\frac1B\sum_k w_k\,\ell_{\mathrm{BPR}}(u_k, i_k, j_k)`."""
    return weighted_mean(bpr_terms(pos, neg), weight)


def bce_terms(logits: Tensor, labels: Tensor) -> Tensor:
    r"""Per-sample binary cross-entropy on logits."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
