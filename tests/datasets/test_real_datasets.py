"""Exact counts and layout of the four real datasets (raw files from the shared data folder)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dataset_checks import assert_valid_layout, split_keys
from graphdenoise.datasets import INTERACTS, describe, format_stats
from graphdenoise.datasets.split import per_user_split_counts, round_half_up


def test_gowalla_given_split_counts(load_real):
    data = load_real("gowalla")
    assert_valid_layout(data)
    stats = describe(data)
    assert (stats["users"], stats["items"]) == (29_858, 40_981)
    assert (stats["train"], stats["val"], stats["test"]) == (719_081, 91_047, 217_242)
    assert stats["interactions"] == 1_027_370
    assert data["user"].raw_id.equal(torch.arange(29_858))
    assert data["item"].raw_id.equal(torch.arange(40_981))
    assert data.num_duplicates_collapsed == 0
    table = format_stats({"Gowalla": stats})
    assert "29,858" in table and "1,027,370" in table and "0.084%" in table


def test_gowalla_given_split_is_the_raw_files(load_real, shared_data_dir):
    data = load_real("gowalla")
    with open(shared_data_dir / "gowalla" / "valid.txt") as handle:
        first = [int(token) for token in handle.readline().split()]
    store = data[INTERACTS]
    user, items = first[0], sorted(first[1:])
    val = store.val_edge_label_index
    assert val[1][val[0] == user].tolist() == items


def test_gowalla_ratio_split_pools_everything(load_real):
    data = load_real("gowalla", split="ratio")
    assert_valid_layout(data)
    stats = describe(data)
    assert stats["interactions"] == 1_027_370
    assert (stats["users"], stats["items"]) == (29_858, 40_981)
    users = np.concatenate([data[INTERACTS][k][0].numpy() for k in
                            ("edge_index", "val_edge_label_index", "test_edge_label_index")])
    counts = np.bincount(users, minlength=29_858)
    n_train, n_val, n_test = per_user_split_counts(counts, (0.8, 0.1, 0.1))
    assert stats["train"] == n_train.sum() and stats["val"] == n_val.sum()
    assert stats["test"] == n_test.sum()


def test_amazon_cd_counts(load_real):
    data = load_real("amazon-cd")
    assert_valid_layout(data)
    stats = describe(data)
    assert (stats["users"], stats["items"]) == (22_947, 18_395)
    assert stats["interactions"] == 422_301
    assert stats["test"] == 93_522  # upstream test.pkl
    assert stats["train"] + stats["val"] == 328_779  # upstream train.pkl
    # validation carved out of upstream train: round_half_up(n / 9) per user, >= 1 left
    assert (stats["train"], stats["val"]) == (292_264, 36_515)
    train_users = np.concatenate([data[INTERACTS].edge_index[0].numpy(),
                                  data[INTERACTS].val_edge_label_index[0].numpy()])
    upstream_train = np.bincount(train_users, minlength=22_947)
    expected_val = np.minimum(round_half_up(upstream_train / 9), upstream_train - 1)
    val_per_user = np.bincount(data[INTERACTS].val_edge_label_index[0].numpy(), minlength=22_947)
    assert np.array_equal(val_per_user, expected_val)


def test_lastfm_counts_and_weights(load_real, shared_data_dir):
    data = load_real("lastfm")
    assert_valid_layout(data)
    stats = describe(data)
    assert (stats["users"], stats["items"], stats["interactions"]) == (1_892, 17_632, 92_834)
    assert (stats["train"], stats["val"], stats["test"]) == (74_274, 9_280, 9_280)
    store = data[INTERACTS]
    raw = pd.read_csv(shared_data_dir / "lastfm" / "user_artists.dat", sep="\t", header=None)
    total = store.weight.sum() + store.val_weight.sum() + store.test_weight.sum()
    assert float(total) == pytest.approx(float(raw[2].sum()), rel=1e-6)
    # the weight stays attached to its pair
    user, item = int(store.edge_index[0, 0]), int(store.edge_index[1, 0])
    raw_user, raw_item = int(data["user"].raw_id[user]), int(data["item"].raw_id[item])
    row = raw[(raw[0] == raw_user) & (raw[1] == raw_item)]
    assert float(store.weight[0]) == float(row[2].iloc[0])


def test_movielens_counts_and_attributes(load_real):
    data = load_real("ml-100k")
    assert_valid_layout(data)
    stats = describe(data)
    assert (stats["users"], stats["items"]) == (943, 1_682)  # movies without a positive count too
    assert stats["interactions"] == 55_375  # ratings >= 4
    assert (stats["train"], stats["val"], stats["test"]) == (44_205, 5_585, 5_585)
    store = data[INTERACTS]
    for prefix, edges in (("", store.edge_index), ("val_", store.val_edge_label_index),
                          ("test_", store.test_edge_label_index)):
        rating, timestamp = store[f"{prefix}rating"], store[f"{prefix}timestamp"]
        assert rating.shape == timestamp.shape == (edges.size(1),)
        assert rating.dtype == torch.float32 and timestamp.dtype == torch.long
        assert bool((rating >= 4).all()) and bool((timestamp > 8e8).all())


def test_movielens_all_ratings(load_real):
    data = load_real("ml-100k", rating_threshold=None)
    stats = describe(data)
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1_682, 100_000)
    assert set(torch.unique(data[INTERACTS].rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_k_core_leaves_no_node_under_threshold(load_real):
    full = load_real("ml-100k")
    data = load_real("ml-100k", min_interactions=10)
    assert_valid_layout(data)
    store = data[INTERACTS]
    edges = torch.cat([store.edge_index, store.val_edge_label_index,
                       store.test_edge_label_index], dim=1).numpy()
    user_degree = np.bincount(edges[0], minlength=int(data["user"].num_nodes))
    item_degree = np.bincount(edges[1], minlength=int(data["item"].num_nodes))
    assert user_degree.min() >= 10 and item_degree.min() >= 10
    assert data["item"].num_nodes < full["item"].num_nodes
    # raw ids still point at the right raw movies: the filtered pairs are a subset of the full ones
    raw_pairs = (data["user"].raw_id[edges[0]] * 10_000 + data["item"].raw_id[edges[1]]).numpy()
    full_store = full[INTERACTS]
    full_edges = torch.cat([full_store.edge_index, full_store.val_edge_label_index,
                            full_store.test_edge_label_index], dim=1)
    full_pairs = (full["user"].raw_id[full_edges[0]] * 10_000
                  + full["item"].raw_id[full_edges[1]]).numpy()
    assert np.isin(raw_pairs, full_pairs).all()


def test_ratio_split_is_deterministic_and_seeded(load_real):
    first = load_real("lastfm", seed=0)
    second = load_real("lastfm", seed=1)
    assert not np.array_equal(split_keys(first, "test"), split_keys(second, "test"))
    # the same counts per user: the split sizes depend on ratios only
    assert describe(first) == describe(second)
