"""Assertions shared by the dataset tests."""
from __future__ import annotations

import numpy as np

from graphdenoise.datasets.graph import INTERACTS, SPLITS, split_key
from graphdenoise.datasets.split import in_sorted


def split_keys(data, split: str) -> np.ndarray:
    """Sorted keys ``user * num_items + item`` of one split."""
    edges = data[INTERACTS][split_key(split)].numpy()
    return np.sort(edges[0] * int(data["item"].num_nodes) + edges[1])


def assert_valid_layout(data) -> None:
    """The invariants of docs/data-schema.md."""
    store = data[INTERACTS]
    num_users, num_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
    assert data["user"].raw_id.shape == (num_users,)
    assert data["item"].raw_id.shape == (num_items,)
    keys = {}
    for split in SPLITS:
        edges = store[split_key(split)]
        assert edges.dtype.is_floating_point is False and edges.size(0) == 2
        if edges.numel():
            assert int(edges[0].min()) >= 0 and int(edges[0].max()) < num_users
            assert int(edges[1].min()) >= 0 and int(edges[1].max()) < num_items
        k = edges[0].numpy() * num_items + edges[1].numpy()
        assert np.all(np.diff(k) > 0), f"{split} edges must be unique and sorted"
        keys[split] = k
    assert not in_sorted(keys["val"], keys["train"]).any()
    assert not in_sorted(keys["test"], keys["train"]).any()
    assert not in_sorted(keys["test"], keys["val"]).any()
    rev = data["item", "rev_interacts", "user"].edge_index
    assert rev.equal(store.edge_index.flip(0))
