"""The natural-noise data: the DeCA authors' published splits and the NaturalNoiseSplit transform."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dataset_checks import split_keys
from graphdenoise.datasets import INTERACTS, NaturalNoiseSplit, describe, format_stats, load_dataset
from graphdenoise.datasets.graph import make_heterodata
from graphdenoise.datasets.split import in_sorted


def read_raw(shared_data_dir, name: str, file: str) -> pd.DataFrame:
    return pd.read_csv(shared_data_dir / "natural-noise" / name / f"{name}.{file}", sep="\t", header=None,
                       names=["user", "item", "rating"])


def raw_keys(data, frame: pd.DataFrame, sort: bool = True) -> np.ndarray:
    """Node keys ``user * num_items + item`` of raw (user, item) rows, through the loader's raw-id maps."""
    users = np.searchsorted(data["user"].raw_id.numpy(), frame.user.to_numpy())
    items = np.searchsorted(data["item"].raw_id.numpy(), frame.item.to_numpy())
    keys = users * int(data["item"].num_nodes) + items
    return np.sort(keys) if sort else keys


PUBLISHED = {
    # name: {split: (file, rows)}; "val" of ModCloth is derived (rating-5 rows of valid.rating)
    "ml-100k": {"train": ("train.rating", 79_619), "val": ("valid.rating", 1_707),
                "val_noisy": ("valid.noisy", 9_901), "test": ("test.negative", 3_594),
                "test_noisy": ("test.noisy", 20_293)},
    "modcloth": {"train": ("train.rating", 79_914), "val_noisy": ("valid.rating", 9_990),
                 "test": ("test.negative", 5_433), "test_noisy": ("test.noisy", 9_989)},
}


@pytest.mark.parametrize("name", ["ml-100k", "modcloth"])
def test_loader_splits_are_the_published_files(load_real, shared_data_dir, name):
    data = load_real("ml-100k-natural" if name == "ml-100k" else name)
    for split, (file, rows) in PUBLISHED[name].items():
        frame = read_raw(shared_data_dir, name, file)
        assert len(frame) == rows, (name, file)
        assert np.array_equal(split_keys(data, split), raw_keys(data, frame)), (name, split)
    store = data[INTERACTS]
    # ratings travel with their edges, and is_noise is exactly "rated below 5"
    train = read_raw(shared_data_dir, name, "train.rating")
    order = np.argsort(raw_keys(data, train, sort=False))
    assert torch.equal(store.rating, torch.tensor(train.rating.to_numpy()[order], dtype=torch.float))
    assert torch.equal(store.is_noise, store.rating < 5)
    assert bool((store.val_rating == 5).all()) and bool((store.test_rating == 5).all())
    assert int((store.val_noisy_rating == 5).sum()) == store.val_edge_label_index.size(1)


def test_ml100k_natural_counts_and_overlap(load_real):
    data = load_real("ml-100k-natural")
    store = data[INTERACTS]
    assert (data["user"].num_nodes, data["item"].num_nodes) == (943, 1_611)
    assert int(store.is_noise.sum()) == 79_619 - 17_605
    # the published split: validation lies inside test (DeCA = the RecSys'25 study)
    assert in_sorted(split_keys(data, "val_noisy"), split_keys(data, "test_noisy")).all()
    stats = describe(data)
    assert (stats["interactions"], stats["val_noisy"], stats["test_noisy"], stats["noisy"]) == \
        (79_619 + 20_293, 9_901, 20_293, 62_014)
    assert format_stats({"ML-100K": stats}).splitlines()[7].split() == ["#Valid+noisy", "9,901"]
    disjoint = load_real("ml-100k-natural", drop_val_from_test=True)[INTERACTS]
    assert disjoint.test_edge_label_index.size(1) == 3_594 - 1_707
    assert disjoint.test_noisy_edge_label_index.size(1) == 20_293 - 9_901
    assert disjoint.test_rating.numel() == 3_594 - 1_707 and bool((disjoint.test_rating == 5).all())
    assert disjoint.test_noisy_rating.numel() == 20_293 - 9_901


def test_modcloth_keeps_cold_test_users(load_real):
    data = load_real("modcloth")
    store = data[INTERACTS]
    assert (data["user"].num_nodes, data["item"].num_nodes) == (44_784, 1_020)
    has_train = torch.bincount(store.edge_index[0], minlength=44_784) > 0
    test_users = torch.unique(store.test_edge_label_index[0])
    assert (test_users.numel(), int((~has_train[test_users]).sum())) == (4_303, 1_824)
    assert describe(data)["interactions"] == 79_914 + 9_990 + 9_989    # pairwise disjoint


def rated_graph():
    g = torch.Generator().manual_seed(0)
    keys = torch.randperm(20 * 30, generator=g)[:300]
    edges = torch.stack([keys // 30, keys % 30])
    rating = torch.randint(1, 6, (300,), generator=g).float()
    cut = {"train": slice(0, 200), "val": slice(200, 250), "test": slice(250, 300)}
    return make_heterodata(20, 30, {k: edges[:, s] for k, s in cut.items()},
                           {k: {"rating": rating[s]} for k, s in cut.items()})


def test_transform_never_puts_a_noisy_interaction_into_clean_splits():
    data = rated_graph()
    out = NaturalNoiseSplit(clean_threshold=4)(data)
    store, before = out[INTERACTS], data[INTERACTS]
    assert torch.equal(store.edge_index, before.edge_index)          # train on everything
    assert torch.equal(store.is_noise, before.rating < 4)
    for split in ("val", "test"):
        clean, noisy = store[f"{split}_edge_label_index"], store[f"{split}_noisy_edge_label_index"]
        assert torch.equal(noisy, before[f"{split}_edge_label_index"])
        assert bool((store[f"{split}_rating"] >= 4).all())
        low = noisy[:, store[f"{split}_noisy_rating"] < 4]
        keys = set(map(tuple, clean.t().tolist()))
        assert low.size(1) > 0 and not keys & set(map(tuple, low.t().tolist()))
        assert clean.size(1) == int((store[f"{split}_noisy_rating"] >= 4).sum())
    assert "val_noisy_edge_label_index" not in before                  # the input is untouched
    with pytest.raises(ValueError, match="already follows"):
        NaturalNoiseSplit()(out)


def test_transform_needs_ratings_and_works_on_raw_movielens(shared_data_dir, tmp_path):
    with pytest.raises(ValueError, match="rating of every split"):
        NaturalNoiseSplit()(make_heterodata(2, 2, {"train": torch.tensor([[0], [1]])}))
    data = load_dataset("ml-100k", root=str(tmp_path), data_dir=str(shared_data_dir), rating_threshold=None,
                        noise=NaturalNoiseSplit(clean_threshold=5), log=False)
    store = data[INTERACTS]
    assert store.edge_index.size(1) + store.val_noisy_edge_label_index.size(1) \
        + store.test_noisy_edge_label_index.size(1) == 100_000
    assert bool((store.val_rating == 5).all()) and bool((store.test_rating == 5).all())
    assert torch.equal(store.is_noise, store.rating < 5)
