"""Synthetic: seeded, planted structure that MF learns, noise labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_checks import assert_valid_layout, split_keys
from graphdenoise.datasets import INTERACTS, Synthetic, describe, make_synthetic
from graphdenoise.datasets.split import round_half_up


def test_deterministic_under_seed():
    a, b, c = make_synthetic(seed=0), make_synthetic(seed=0), make_synthetic(seed=1)
    assert_valid_layout(a)
    for split in ("train", "val", "test"):
        assert np.array_equal(split_keys(a, split), split_keys(b, split))
    assert not np.array_equal(split_keys(a, "train"), split_keys(c, "train"))


def test_default_size_and_activity():
    data = make_synthetic()
    stats = describe(data)
    assert (stats["users"], stats["items"]) == (600, 400)
    assert 20 <= stats["interactions"] / 600 <= 30
    degree = torch.bincount(data[INTERACTS].edge_index[0], minlength=600)
    assert int(degree.min()) >= 1 and float(degree.float().std()) > 5  # varied activity
    assert int(data[INTERACTS].is_noise.sum()) == 0


def recall_at_20(data, scores):
    store = data[INTERACTS]
    num_users, num_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
    scores = scores.clone()
    scores[store.edge_index[0], store.edge_index[1]] = -float("inf")
    scores[store.val_edge_label_index[0], store.val_edge_label_index[1]] = -float("inf")
    truth = torch.zeros(num_users, num_items, dtype=torch.bool)
    truth[store.test_edge_label_index[0], store.test_edge_label_index[1]] = True
    hits = truth.gather(1, scores.topk(20, dim=1).indices).sum(1).float()
    count = truth.sum(1).float()
    return float((hits[count > 0] / count[count > 0]).mean())


def test_matrix_factorisation_beats_popularity():
    data = make_synthetic()
    store = data[INTERACTS]
    matrix = torch.zeros(600, 400)
    matrix[store.edge_index[0], store.edge_index[1]] = 1.0
    # PureSVD of rank 16; its item factors by subspace iteration (cheap next to a full SVD)
    factors = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    for _ in range(8):
        factors, _ = torch.linalg.qr(matrix.T @ (matrix @ factors))
    mf = (matrix @ factors) @ factors.T
    popularity = matrix.sum(0).expand(600, 400)
    mf_recall, pop_recall = recall_at_20(data, mf), recall_at_20(data, popularity)
    assert mf_recall > 2 * pop_recall and mf_recall > 0.3


def test_noise_ratio_labels_train_edges_only():
    clean, noisy = make_synthetic(seed=2), make_synthetic(seed=2, noise_ratio=0.2)
    store = noisy[INTERACTS]
    clean_count = torch.bincount(clean[INTERACTS].edge_index[0], minlength=600).numpy()
    noise_count = torch.bincount(store.edge_index[0][store.is_noise], minlength=600).numpy()
    assert np.array_equal(noise_count, round_half_up(0.2 * clean_count))
    assert np.array_equal(split_keys(clean, "train"),
                          np.sort(store.edge_index[0][~store.is_noise].numpy() * 400
                                  + store.edge_index[1][~store.is_noise].numpy()))
    for split in ("val", "test"):
        assert np.array_equal(split_keys(clean, split), split_keys(noisy, split))


def test_dataset_wrapper(tmp_path):
    dataset = Synthetic(root=str(tmp_path), noise_ratio=0.1, seed=3, log=False)
    assert "noise0.1" in dataset.processed_file_names[0]
    data = dataset[0]
    direct = make_synthetic(noise_ratio=0.1, seed=3)
    assert data[INTERACTS].edge_index.equal(direct[INTERACTS].edge_index)
    assert data[INTERACTS].is_noise.equal(direct[INTERACTS].is_noise)
    assert repr(dataset).startswith("Synthetic(ratio")


def test_bad_options():
    with pytest.raises(ValueError, match="num_clusters"):
        make_synthetic(num_clusters=0)
