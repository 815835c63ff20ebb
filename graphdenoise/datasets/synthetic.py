r"""An offline implicit-feedback generator with planted cluster structure (no download)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.interactions import Interactions, build_heterodata
from graphdenoise.datasets.graph import INTERACTS
from graphdenoise.datasets.noise import AddNoisyPositives
from graphdenoise.datasets.split import rank_within_user


def generate_interactions(
    num_users: int = 600,
    num_items: int = 400,
    num_clusters: int = 8,
    mean_positives: float = 25.0,
    in_cluster: float = 0.9,
    popularity_exponent: float = 0.8,
    seed: int = 0,
) -> Interactions:
    r"""Draws the clean interactions of :func:`make_synthetic` (see there)."""
    if num_clusters < 1 or num_clusters > num_items:
        raise ValueError(f"num_clusters must be in [1, num_items], got {num_clusters}")
    if not 0.0 <= in_cluster <= 1.0:
        raise ValueError(f"in_cluster must be in [0, 1], got {in_cluster}")
    rng = np.random.default_rng(seed)
    # items: balanced clusters, Zipf-like popularity within each cluster
    item_cluster = rng.permutation(np.arange(num_items) % num_clusters)
    order = np.argsort(item_cluster, kind="stable")  # items grouped by cluster
    cluster_size = np.bincount(item_cluster, minlength=num_clusters)
    cluster_start = np.concatenate(([0], np.cumsum(cluster_size)[:-1]))
    rank_in_cluster = np.arange(num_items) - cluster_start[item_cluster[order]]
    popularity = np.empty(num_items)
    popularity[order] = (rank_in_cluster + 1.0) ** -popularity_exponent
    cluster_mass = np.bincount(item_cluster, weights=popularity, minlength=num_clusters)
    within = popularity[order] / cluster_mass[item_cluster[order]]
    # each cluster's shares sum to 1, so cluster c covers [c, c + 1) of the running sum
    cumulative = np.cumsum(within) - within
    global_cumulative = np.cumsum(popularity[order]) / popularity.sum()

    # users: one or two interest clusters, log-normal activity
    primary = rng.integers(0, num_clusters, size=num_users)
    secondary = np.where(
        rng.random(num_users) < 0.5,
        (primary + rng.integers(1, max(num_clusters, 2), size=num_users)) % num_clusters,
        primary,
    )
    sigma = 0.5
    activity = rng.lognormal(np.log(mean_positives) - sigma**2 / 2, sigma, size=num_users)
    activity = np.clip(np.rint(activity), 5, max(5, num_items // 4)).astype(np.int64)

    # oversample draws, drop duplicate pairs, keep the first ``activity[u]`` per user
    draws = 4 * activity
    users = np.repeat(np.arange(num_users, dtype=np.int64), draws)
    inside = rng.random(users.shape[0]) < in_cluster
    cluster = np.where(rng.random(users.shape[0]) < 0.5, primary[users], secondary[users])
    uniform = rng.random(users.shape[0])
    position = np.where(
        inside,
        np.searchsorted(cumulative, cluster + uniform, side="right") - 1,
        np.searchsorted(global_cumulative, uniform, side="right"),
    )
    items = order[np.clip(position, 0, num_items - 1)]
    keys = users * num_items + items
    _, first = np.unique(keys, return_index=True)
    first.sort()
    users, items = users[first], items[first]
    rank = rank_within_user(users, np.arange(users.shape[0]), num_users)
    keep = rank < activity[users]
    return Interactions(
        users=users[keep], items=items[keep],
        user_ids=np.arange(num_users, dtype=np.int64),
        item_ids=np.arange(num_items, dtype=np.int64),
    )


def make_synthetic(
    num_users: int = 600,
    num_items: int = 400,
    num_clusters: int = 8,
    mean_positives: float = 25.0,
    in_cluster: float = 0.9,
    noise_ratio: float = 0.0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    popularity_exponent: float = 0.8,
    min_interactions: Optional[int] = None,
) -> HeteroData:
    r"""Implicit feedback with planted structure, in the shared layout.

    Items are spread evenly over ``num_clusters`` latent interest clusters, with Zipf-like
    popularity (exponent ``popularity_exponent``) inside each cluster. Every user has one or two
    interest clusters and a log-normal number of positives with mean about ``mean_positives``
    (at least 5). A positive lies in one of the user's clusters with probability ``in_cluster``,
    else anywhere (popularity-weighted). A matrix-factorisation model therefore clearly beats a
    popularity ranking. Interactions are split per user with ``ratios``; with ``noise_ratio > 0``
    :class:`~graphdenoise.datasets.noise.AddNoisyPositives` injects noisy training positives
    (``is_noise=True``). ``is_noise`` is always present (all :obj:`False` without noise).
    Everything is seeded by ``seed``.

    Args:
        num_users (int, optional): Users. (default: :obj:`600`)
        num_items (int, optional): Items. (default: :obj:`400`)
        num_clusters (int, optional): Interest clusters. (default: :obj:`8`)
        mean_positives (float, optional): Mean positives per user. (default: :obj:`25.0`)
        in_cluster (float, optional): Probability that a positive is inside the user's clusters.
            (default: :obj:`0.9`)
        noise_ratio (float, optional): Noisy training positives per clean one.
            (default: :obj:`0.0`)
        ratios (tuple of float, optional): ``(train, val, test)`` shares.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        seed (int, optional): Random seed. (default: :obj:`0`)
        popularity_exponent (float, optional): Zipf exponent of item popularity.
            (default: :obj:`0.8`)
        min_interactions (int, optional): k-core filter. (default: :obj:`None`)
    """
    interactions = generate_interactions(
        num_users, num_items, num_clusters, mean_positives, in_cluster, popularity_exponent, seed
    )
    data = build_heterodata(
        interactions, split="ratio", ratios=ratios, seed=seed, min_interactions=min_interactions
    )
    store = data[INTERACTS]
    store.is_noise = torch.zeros(store.edge_index.size(1), dtype=torch.bool)
    if noise_ratio > 0:
        data = AddNoisyPositives(noise_ratio, seed=seed)(data)
    return data


class Synthetic(InteractionDataset):
    r"""The generator :func:`make_synthetic` as a dataset (processed once, cached under ``root``;
    nothing is downloaded).

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        num_users (int, optional): Users. (default: :obj:`600`)
        num_items (int, optional): Items. (default: :obj:`400`)
        num_clusters (int, optional): Interest clusters. (default: :obj:`8`)
        mean_positives (float, optional): Mean positives per user. (default: :obj:`25.0`)
        in_cluster (float, optional): Share of positives inside the user's clusters.
            (default: :obj:`0.9`)
        noise_ratio (float, optional): Noisy training positives per clean one.
            (default: :obj:`0.0`)
        **kwargs (optional): ``split`` (``"ratio"``), ``ratios``, ``seed``, ``min_interactions``,
            ``transform``, ``pre_transform``, ``force_reload``, ``log`` of
            :class:`~graphdenoise.datasets.base.InteractionDataset` (``data_dir`` is ignored).
    """

    name = "synthetic"

    def __init__(self, root: Optional[str] = None, num_users: int = 600, num_items: int = 400,
                 num_clusters: int = 8, mean_positives: float = 25.0, in_cluster: float = 0.9,
                 noise_ratio: float = 0.0, **kwargs):
        self.generator_options = dict(
            num_users=int(num_users), num_items=int(num_items), num_clusters=int(num_clusters),
            mean_positives=float(mean_positives), in_cluster=float(in_cluster),
            noise_ratio=float(noise_ratio),
        )
        super().__init__(root, **kwargs)

    def options(self):
        o = self.generator_options
        return super().options() + [
            f"u{o['num_users']}", f"i{o['num_items']}", f"c{o['num_clusters']}",
            f"m{o['mean_positives']:g}", f"in{o['in_cluster']:g}", f"noise{o['noise_ratio']:g}",
        ]

    def build(self) -> HeteroData:
        return make_synthetic(
            ratios=self.ratios, seed=self.seed, min_interactions=self.min_interactions,
            **self.generator_options,
        )
