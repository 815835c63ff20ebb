r"""Diagnostics of learned weights: do they find the noise?

:func:`noise_detection_auc` scores every training edge with one seeded uniform negative, asks the
method for its triplet weights and reports the ROC-AUC of the weights at ranking clean triplets
above noisy ones (``is_noise`` on the training edges: injected by a noise transform, or natural,
the low-rated interactions of ``ml-100k-natural``, ``modcloth`` or
:class:`~graphdenoise.datasets.NaturalNoiseSplit`), beside a detector that needs no weights at all: the trained model's own score margin
:math:`\hat y_{ui} - \hat y_{uj}`.

:func:`rating_pair_weights` is the TIL paper's case study (Fig. 4): the mean learned weight of
triplets by the ratings the user gave to the positive and the negative item.
"""
from __future__ import annotations

from typing import Dict

import torch

from ..datasets.graph import INTERACTS, num_users_items, train_edges
from ..sampling import TripletSampler
from .auc import roc_auc


@torch.no_grad()
def noise_detection_auc(method, model, data, seed: int = 0, batch_size: int = 20000) -> Dict[str, float]:
    r"""AUC of ``method``'s weights and of the score margin at telling clean from noisy (``is_noise``) triplets.

    Returns ``{"weight_auc", "margin_auc", "clean_weight_mean", "noisy_weight_mean"}``; AUC > 0.5
    means clean triplets get the higher value.
    """
    store = data[INTERACTS]
    if "is_noise" not in store or not bool(store.is_noise.any()):
        raise ValueError("the training edges carry no noise label (is_noise): inject noise (AddNoisyPositives) or "
                         "use natural noise (ml-100k-natural, modcloth, NaturalNoiseSplit)")
    model.eval()
    device = next(model.parameters()).device
    sampler = TripletSampler(data, batch_size=batch_size, seed=seed, index=None)
    weights, margins = [], []
    for start in range(0, train_edges(data).size(1), batch_size):
        batch = sampler.batch(torch.arange(start, min(start + batch_size, train_edges(data).size(1)))).to(device)
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        margins.append((out.pos - out.neg).cpu())
        weights.append(method.weights(model, batch.users, batch.pos_items, batch.neg_items).detach().cpu())
    weight, margin, clean = torch.cat(weights), torch.cat(margins), ~store.is_noise.bool()
    return {"weight_auc": roc_auc(weight, clean), "margin_auc": roc_auc(margin, clean),
            "clean_weight_mean": float(weight[clean].mean()), "noisy_weight_mean": float(weight[~clean].mean())}


def rated_pair_triplets(data, seed: int = 0):
    r"""Triplets of rated pairs: for every training edge ``(u, i)`` of a user with at least two, one other
    training item ``j`` of ``u`` drawn uniformly (seeded). Returns ``(users, pos, neg, rating_pos, rating_neg)``."""
    store = data[INTERACTS]
    if "rating" not in store:
        raise ValueError("rated-pair triplets need a 'rating' attribute on the training edges")
    edges, rating = train_edges(data), store.rating.float()
    num_users, _ = num_users_items(data)
    counts = torch.bincount(edges[0], minlength=num_users)
    start = torch.cumsum(counts, 0) - counts
    keep = counts[edges[0]] > 1
    users, pos, r_pos = edges[0][keep], edges[1][keep], rating[keep]
    gen = torch.Generator().manual_seed(seed)
    # another edge of the same user (edges are sorted by user): offset drawn among the other n-1
    own = torch.arange(edges.size(1))[keep] - start[users]
    other = (torch.rand(users.numel(), generator=gen) * (counts[users] - 1)).long()
    other = other + (other >= own).long()
    j_edge = start[users] + other
    return users, pos, edges[1][j_edge], r_pos, rating[j_edge]


@torch.no_grad()
def rating_pair_weights(method, model, data, generator_seed: int = 0) -> Dict[str, float]:
    r"""TIL Fig. 4: mean weight of triplets whose positive was rated 4-5 and negative 1-3 by the user,
    against all other triplets of rated pairs (:func:`rated_pair_triplets`).

    Needs a ``rating`` attribute on the training edges (e.g. MovieLens-100K loaded with
    ``rating_threshold=1``).
    """
    users, pos, neg, r_pos, r_neg = rated_pair_triplets(data, generator_seed)
    device = next(model.parameters()).device
    model.eval()
    weight = method.weights(model, users.to(device), pos.to(device), neg.to(device)).detach().cpu()
    target = (r_pos >= 4) & (r_neg <= 3)
    return {"high_low_mean": float(weight[target].mean()) if target.any() else float("nan"),
            "other_mean": float(weight[~target].mean()), "num_high_low": int(target.sum()),
            "num_other": int((~target).sum())}
