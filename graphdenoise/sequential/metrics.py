r"""CTR-style metrics of the ATJT paper: AUC, HR@k and NDCG@k (k = 5), vectorised.

Candidate protocol: each validation / test target is scored together with ``K`` sampled items the
user never interacted with (:attr:`SequenceDataConfig.eval_negatives`, 99 by default as in SASRec).

* **AUC** is the standard (pooled) ROC AUC over every candidate of the split: the targets are the
  positives, all sampled candidates the negatives; ties count one half (Mann-Whitney U).
* **HR@k / NDCG@k** rank the target among its own ``1 + K`` candidates. The rank counts the
  negatives scored ``>=`` the target (ties are resolved against the target, so a constant scorer
  gets 0, not 1); ``NDCG@k = 1 / log2(rank + 2)`` if ``rank < k``.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import Tensor

from ..metrics.auc import roc_auc


def candidate_metrics(scores: Tensor, ks: Sequence[int] = (5,)) -> Dict[str, float]:
    r"""AUC, HR@k and NDCG@k from ``scores [S, 1 + K]`` whose column 0 is the target."""
    if scores.dim() != 2 or scores.size(1) < 2:
        raise ValueError(f"scores must be [S, 1 + K] with K >= 1, got {tuple(scores.shape)}")
    labels = torch.zeros_like(scores, dtype=torch.bool)
    labels[:, 0] = True
    out = {"auc": roc_auc(scores, labels)}
    rank = (scores[:, 1:] >= scores[:, :1]).sum(1)
    for k in ks:
        hit = rank < k
        out[f"hr@{k}"] = float(hit.double().mean())
        out[f"ndcg@{k}"] = float((hit.double() / torch.log2(rank.double() + 2)).mean())
    return out
