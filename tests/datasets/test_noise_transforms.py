"""Noise transforms: counts per user, labels, untouched evaluation edges, determinism."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_checks import assert_valid_layout, split_keys
from graphdenoise.datasets import (
    INTERACTS,
    AddNoisyNegatives,
    AddNoisyPositives,
    AddNoisyPosNeg,
    make_noise,
    make_synthetic,
)
from graphdenoise.datasets.split import round_half_up


@pytest.fixture(scope="module")
def clean():
    data = make_synthetic(num_users=300, num_items=200, seed=1)
    del data[INTERACTS].is_noise
    return data


def per_user(edges, num_users):
    return np.bincount(edges[0].numpy(), minlength=num_users)


def keys_of(edges, num_items):
    return edges[0].numpy() * num_items + edges[1].numpy()


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.5, 1.0])
def test_noisy_positives(clean, ratio):
    noisy = AddNoisyPositives(ratio, seed=0)(clean)
    assert_valid_layout(noisy)
    num_users, num_items = clean["user"].num_nodes, clean["item"].num_nodes
    store, before = noisy[INTERACTS], clean[INTERACTS]
    is_noise = store.is_noise
    assert is_noise.dtype == torch.bool and is_noise.shape == (store.edge_index.size(1),)
    expected = round_half_up(ratio * per_user(before.edge_index, num_users))
    assert np.array_equal(per_user(store.edge_index[:, is_noise], num_users), expected)
    # clean edges are exactly the old training edges, all labelled False
    assert np.array_equal(keys_of(store.edge_index[:, ~is_noise], num_items),
                          keys_of(before.edge_index, num_items))
    # new positives were positives in no split
    all_positives = np.concatenate([split_keys(clean, s) for s in ("train", "val", "test")])
    assert not np.isin(keys_of(store.edge_index[:, is_noise], num_items), all_positives).any()
    for split in ("val", "test"):
        assert np.array_equal(split_keys(noisy, split), split_keys(clean, split))
    assert "is_noise" not in clean[INTERACTS]  # input not modified


def test_noisy_positives_are_seeded(clean):
    a = AddNoisyPositives(0.3, seed=0)(clean)[INTERACTS].edge_index
    b = AddNoisyPositives(0.3, seed=0)(clean)[INTERACTS].edge_index
    c = AddNoisyPositives(0.3, seed=1)(clean)[INTERACTS].edge_index
    assert a.equal(b) and not a.equal(c)


def test_noisy_positives_saturated_user():
    from graphdenoise.datasets import from_interactions

    users = [0] * 8 + [1] * 2
    items = list(range(8)) + [0, 1]
    data = from_interactions(users, items, ratios=(1, 0, 0))
    noisy = AddNoisyPositives(1.0, seed=0)(data)[INTERACTS]
    noise = noisy.edge_index[:, noisy.is_noise]
    assert per_user(noise, 2).tolist() == [0, 2]  # user 0 has no unobserved item left
    assert set(noise[1].tolist()) <= set(range(2, 8))


def test_noisy_positives_fill_attributes(load_real):
    data = load_real("ml-100k")
    noisy = AddNoisyPositives(0.2, seed=0)(data)
    store = noisy[INTERACTS]
    assert torch.isnan(store.rating[store.is_noise]).all()
    assert (store.timestamp[store.is_noise] == -1).all()
    assert store.rating[~store.is_noise].equal(data[INTERACTS].rating)
    assert store.timestamp[~store.is_noise].equal(data[INTERACTS].timestamp)
    assert store.test_rating.equal(data[INTERACTS].test_rating)


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.9])
def test_noisy_negatives(clean, ratio):
    noisy = AddNoisyNegatives(ratio, seed=0)(clean)
    assert_valid_layout(noisy)
    num_users, num_items = clean["user"].num_nodes, clean["item"].num_nodes
    store = noisy[INTERACTS]
    n = per_user(clean[INTERACTS].edge_index, num_users)
    expected = np.minimum(round_half_up(ratio * n), np.maximum(n - 1, 0))
    assert np.array_equal(per_user(store.flipped_edge_index, num_users), expected)
    assert per_user(store.edge_index, num_users)[n > 0].min() >= 1
    kept = keys_of(store.edge_index, num_items)
    flipped = keys_of(store.flipped_edge_index, num_items)
    assert np.array_equal(np.sort(np.concatenate([kept, flipped])),
                          keys_of(clean[INTERACTS].edge_index, num_items))
    assert np.all(np.diff(flipped) > 0)
    for split in ("val", "test"):
        assert np.array_equal(split_keys(noisy, split), split_keys(clean, split))


def test_noisy_negatives_keep_attributes_aligned(load_real):
    data = load_real("lastfm")
    noisy = AddNoisyNegatives(0.2, seed=0)(data)[INTERACTS]
    before = data[INTERACTS]
    num_items = data["item"].num_nodes
    position = np.searchsorted(keys_of(before.edge_index, num_items),
                               keys_of(noisy.edge_index, num_items))
    assert noisy.weight.equal(before.weight[torch.from_numpy(position)])


def test_pos_neg(clean):
    noisy = AddNoisyPosNeg(0.2, seed=0)(clean)
    assert_valid_layout(noisy)
    store = noisy[INTERACTS]
    num_users, num_items = clean["user"].num_nodes, clean["item"].num_nodes
    n = per_user(clean[INTERACTS].edge_index, num_users)
    assert np.array_equal(per_user(store.edge_index[:, store.is_noise], num_users),
                          round_half_up(0.2 * n))
    assert np.array_equal(per_user(store.flipped_edge_index, num_users),
                          np.minimum(round_half_up(0.2 * n), np.maximum(n - 1, 0)))
    flipped = keys_of(store.flipped_edge_index, num_items)
    assert np.isin(flipped, keys_of(clean[INTERACTS].edge_index, num_items)).all()
    assert not np.isin(keys_of(store.edge_index, num_items), flipped).any()
    again = AddNoisyPosNeg(0.2, seed=0)(clean)
    assert again[INTERACTS].edge_index.equal(store.edge_index)


def test_repr_and_names():
    assert repr(AddNoisyPositives(0.2)) == "AddNoisyPositives(ratio=0.2, seed=0)"
    assert repr(AddNoisyNegatives(0.1, seed=3)) == "AddNoisyNegatives(ratio=0.1, seed=3)"
    assert repr(AddNoisyPosNeg(0.25, seed=1)) == "AddNoisyPosNeg(ratio=0.25, seed=1)"
    assert repr(make_noise("posneg", 0.25, seed=1)) == "AddNoisyPosNeg(ratio=0.25, seed=1)"
    with pytest.raises(ValueError, match="neg, pos, posneg"):
        make_noise("flip", 0.1)
    with pytest.raises(ValueError, match="ratio"):
        AddNoisyPositives(-0.1)
