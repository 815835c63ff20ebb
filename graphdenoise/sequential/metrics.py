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


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    r"""ROC AUC of ``scores`` against binary ``labels`` (average ranks for ties), vectorised."""
    scores = scores.reshape(-1).double()
    labels = labels.reshape(-1).bool()
    num_pos = int(labels.sum())
    num_neg = labels.numel() - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    sorted_scores, order = torch.sort(scores)
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    average_rank = ends - (counts.double() - 1) / 2            # 1-based average rank of each tie group
    ranks = torch.empty_like(scores)
    ranks[order] = average_rank[inverse]
    rank_sum = ranks[labels].sum()
    return float((rank_sum - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


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
