"""ROC-AUC (Mann-Whitney U with average ranks for ties), shared by the noise diagnostics and the
sequential metrics."""
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
