"""Fixtures of the sequential tests: a tiny clustered-sequence graph and real MovieLens-100K."""
from __future__ import annotations

import pytest
import torch

from graphdenoise.datasets.graph import make_heterodata


def clustered_sequences(num_users: int = 40, num_items: int = 60, length: int = 14, num_clusters: int = 4,
                        seed: int = 0, ties: bool = True):
    r"""Each user interacts with ``length`` distinct items of one cluster (items ``i`` with
    ``i % num_clusters == cluster``) at increasing timestamps (with some equal timestamps when
    ``ties``); the edges are spread over train/val/test at RANDOM, as a graph split would, so the
    sequential view must pool and re-split them by time."""
    gen = torch.Generator().manual_seed(seed)
    per_cluster = num_items // num_clusters
    users, items, times = [], [], []
    for u in range(num_users):
        cluster = u % num_clusters
        chosen = torch.randperm(per_cluster, generator=gen)[:length] * num_clusters + cluster
        steps = torch.randint(0 if ties else 1, 3, (length,), generator=gen)
        t = 1000 + torch.cumsum(steps, 0)
        users.append(torch.full((length,), u))
        items.append(chosen)
        times.append(t)
    users, items, times = torch.cat(users), torch.cat(items), torch.cat(times)
    which = torch.randint(0, 10, (users.numel(),), generator=gen)
    split = torch.where(which < 8, 0, torch.where(which < 9, 1, 2))
    edges, attrs = {}, {}
    for code, name in enumerate(("train", "val", "test")):
        m = split == code
        edges[name] = torch.stack([users[m], items[m]])
        attrs[name] = {"timestamp": times[m], "rating": torch.ones(int(m.sum()))}
    return make_heterodata(num_users, num_items, edges, attrs)


@pytest.fixture
def toy_graph():
    return clustered_sequences()


@pytest.fixture(scope="session")
def ml100k(shared_data_dir, tmp_path_factory):
    """MovieLens-100K with EVERY rating as an interaction (the ATJT paper's preprocessing), processed
    under a pytest temporary folder (the shared folder is only read)."""
    from graphdenoise.datasets import MovieLens100K

    if not (shared_data_dir / "ml-100k" / "u.data").is_file():
        pytest.skip("ml-100k/u.data is not in the shared data folder")
    root = tmp_path_factory.mktemp("ml-100k")
    return MovieLens100K(root=str(root), data_dir=str(shared_data_dir), rating_threshold=None, log=False)[0]
