"""The registry, load_dataset, statistics and the Gowalla line parser."""
from __future__ import annotations

import pytest

from graphdenoise.datasets import (
    DATA_ENV,
    DATASETS,
    INTERACTS,
    describe,
    format_stats,
    load_dataset,
)
from graphdenoise.datasets.gowalla import read_adjacency_lists


def test_registry_names():
    assert DATASETS.names() == ["amazon-cd", "gowalla", "lastfm", "ml-100k", "ml-100k-natural", "modcloth",
                                "synthetic"]
    with pytest.raises(ValueError, match="amazon-cd, gowalla, lastfm, ml-100k, ml-100k-natural, modcloth, synthetic"):
        load_dataset("movielens")


def test_load_dataset_with_noise(tmp_path):
    data = load_dataset("synthetic", root=str(tmp_path), noise="pos", noise_ratio=0.2, log=False)
    assert int(data[INTERACTS].is_noise.sum()) > 0
    data = load_dataset("Synthetic", root=str(tmp_path), noise="neg", noise_ratio=0.2, seed=0,
                        log=False)
    assert data[INTERACTS].flipped_edge_index.size(1) > 0
    with pytest.raises(ValueError, match="noise_ratio"):
        load_dataset("synthetic", root=str(tmp_path), noise="pos", log=False)
    with pytest.raises(ValueError, match="noise_ratio"):
        load_dataset("synthetic", root=str(tmp_path), noise_ratio=0.1, log=False)


def test_load_real_dataset_by_name(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(shared_data_dir))
    data = load_dataset("ml-100k", root=str(tmp_path), split="ratio", seed=1, log=False)
    assert describe(data)["interactions"] == 55_375


def test_stats_table(load_real):
    table = format_stats({"Last.fm": load_real("lastfm"),
                          "ML-100K": describe(load_real("ml-100k"))})
    lines = table.splitlines()
    assert lines[0].split() == ["Last.fm", "ML-100K"]
    assert lines[1].split() == ["#User", "1,892", "943"]
    assert lines[3].split() == ["#Interactions", "92,834", "55,375"]
    assert lines[-1].split() == ["Density", "0.278%", "3.491%"]


def test_describe_prints_when_given_a_file(load_real):
    import io

    buffer = io.StringIO()
    stats = describe(load_real("ml-100k"), name="ml-100k", file=buffer)
    assert stats["users"] == 943
    assert buffer.getvalue().splitlines()[0].split() == ["ml-100k"]


def test_adjacency_parser(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("0 5 6 7\n\n1 5\n2\n3 8 9\n")
    users, items, listed = read_adjacency_lists(path)
    assert users.tolist() == [0, 0, 0, 1, 3, 3]
    assert items.tolist() == [5, 6, 7, 5, 8, 9]
    assert listed.tolist() == [0, 1, 2, 3]
    path.write_text("0 5 6\n1 5 x\n")
    with pytest.raises(ValueError, match=r"train\.txt line 2: unexpected character 'x'"):
        read_adjacency_lists(path)
