"""Per-user ratio split, validation carving and k-core filtering."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_checks import assert_valid_layout, split_keys
from graphdenoise.datasets import INTERACTS, from_interactions
from graphdenoise.datasets.split import (
    TEST,
    TRAIN,
    VAL,
    carve_validation,
    check_ratios,
    k_core_mask,
    per_user_split_counts,
    ratio_split,
    round_half_up,
)


def random_interactions(num_users=300, num_items=200, seed=0):
    rng = np.random.default_rng(seed)
    degree = rng.integers(1, 40, size=num_users)
    users = np.repeat(np.arange(num_users), degree)
    items = rng.integers(0, num_items, size=users.shape[0])
    keys = np.unique(users * num_items + items)
    return keys // num_items, keys % num_items


def test_round_half_up():
    assert round_half_up(np.array([0.5, 1.5, 2.5, 0.49, 3.4999999999])).tolist() == [1, 2, 3, 0, 4]
    assert round_half_up(0.35 * 10) == 4  # 3.4999999999999996 in floating point


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.7, 0.0, 0.3), (1, 0, 0)])
def test_per_user_counts_follow_ratios(ratios):
    users, items = random_interactions()
    labels = ratio_split(users, items, 300, 200, ratios, seed=0)
    counts = np.bincount(users, minlength=300)
    n_train, n_val, n_test = per_user_split_counts(counts, ratios)
    assert np.array_equal(np.bincount(users[labels == TRAIN], minlength=300), n_train)
    assert np.array_equal(np.bincount(users[labels == VAL], minlength=300), n_val)
    assert np.array_equal(np.bincount(users[labels == TEST], minlength=300), n_test)
    assert n_train.min() >= 1
    # within rounding of the ratio for users where the cap does not bind
    free = counts >= 3
    assert np.all(np.abs(n_test[free] - ratios[2] * counts[free]) <= 0.5 + 1e-9)
    assert np.all(np.abs(n_val[free] - ratios[1] * counts[free]) <= 0.5 + 1e-9)


def test_split_counts_small_users():
    n_train, n_val, n_test = per_user_split_counts(np.array([0, 1, 2, 5, 10, 15]), (0.8, 0.1, 0.1))
    assert n_train.tolist() == [0, 1, 2, 3, 8, 11]
    assert n_val.tolist() == [0, 0, 0, 1, 1, 2]
    assert n_test.tolist() == [0, 0, 0, 1, 1, 2]
    n_train, n_val, n_test = per_user_split_counts(np.array([2, 3]), (0.2, 0.4, 0.4))
    assert n_train.tolist() == [1, 1] and n_test.tolist() == [1, 1] and n_val.tolist() == [0, 1]


def test_split_is_seeded_and_order_independent():
    users, items = random_interactions()
    a = ratio_split(users, items, 300, 200, seed=3)
    b = ratio_split(users, items, 300, 200, seed=3)
    c = ratio_split(users, items, 300, 200, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    perm = np.random.default_rng(1).permutation(users.shape[0])
    shuffled = ratio_split(users[perm], items[perm], 300, 200, seed=3)
    assert np.array_equal(shuffled, a[perm])


def test_split_has_no_leakage_and_train_for_every_evaluated_user():
    users, items = random_interactions()
    data = from_interactions(users, items, seed=0)
    assert_valid_layout(data)
    train, val, test = (split_keys(data, s) for s in ("train", "val", "test"))
    assert train.size + val.size + test.size == users.shape[0]
    store = data[INTERACTS]
    has_train = torch.zeros(data["user"].num_nodes, dtype=torch.bool)
    has_train[store.edge_index[0]] = True
    assert bool(has_train[store.val_edge_label_index[0]].all())
    assert bool(has_train[store.test_edge_label_index[0]].all())


def test_same_pipeline_as_the_loader(load_real, shared_data_dir):
    loaded = load_real("ml-100k", seed=5)
    built = from_interactions(
        shared_data_dir / "ml-100k" / "u.data", columns=("user", "item", "rating", "timestamp"),
        rating_threshold=4, seed=5,
    )
    again = from_interactions(
        shared_data_dir / "ml-100k" / "u.data", columns=("user", "item", "rating", "timestamp"),
        rating_threshold=4, seed=5,
    )
    for split in ("train", "val", "test"):
        assert np.array_equal(split_keys(loaded, split), split_keys(built, split))
        assert np.array_equal(split_keys(built, split), split_keys(again, split))


def test_carve_validation_keeps_a_training_item():
    users = np.array([0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    items = np.arange(users.shape[0])
    labels = np.zeros(users.shape[0], dtype=np.int8)
    labels[-1] = TEST
    carved = carve_validation(users, items, labels, 3, 13, fraction=0.5, seed=0)
    assert carved[-1] == TEST
    per_user_val = np.bincount(users[carved == VAL], minlength=3)
    assert per_user_val.tolist() == [0, 1, 5]  # n=1 keeps it; n=2 -> 1; n=9 -> round(4.5) = 5


def naive_k_core(users, items, k):
    pairs = set(zip(users.tolist(), items.tolist()))
    while True:
        user_degree, item_degree = {}, {}
        for u, i in pairs:
            user_degree[u] = user_degree.get(u, 0) + 1
            item_degree[i] = item_degree.get(i, 0) + 1
        kept = {(u, i) for u, i in pairs if user_degree[u] >= k and item_degree[i] >= k}
        if kept == pairs:
            return kept
        pairs = kept


@pytest.mark.parametrize("k", [2, 5, 10])
def test_k_core_matches_naive_iteration(k):
    users, items = random_interactions(num_users=120, num_items=150, seed=k)
    mask = k_core_mask(users, items, 120, 150, k)
    assert set(zip(users[mask].tolist(), items[mask].tolist())) == naive_k_core(users, items, k)


def test_k_core_in_from_interactions_drops_nodes():
    users, items = random_interactions(num_users=120, num_items=150, seed=7)
    data = from_interactions(users, items, min_interactions=8)
    store = data[INTERACTS]
    edges = torch.cat(
        [store.edge_index, store.val_edge_label_index, store.test_edge_label_index], dim=1
    )
    assert int(torch.bincount(edges[0]).min()) >= 8 and int(torch.bincount(edges[1]).min()) >= 8
    assert bool((torch.bincount(edges[0], minlength=data["user"].num_nodes) > 0).all())
    assert bool((torch.bincount(edges[1], minlength=data["item"].num_nodes) > 0).all())
    original = set(zip(users.tolist(), items.tolist()))
    raw = zip(data["user"].raw_id[edges[0]].tolist(), data["item"].raw_id[edges[1]].tolist())
    assert set(raw) <= original


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (0.9, -0.1, 0.2)])
def test_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratio"):
        check_ratios(ratios)
