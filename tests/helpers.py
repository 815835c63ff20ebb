"""Small datasets and reference scorers shared by the tests."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch

from graphdenoise.datasets import make_synthetic
from graphdenoise.datasets.graph import make_heterodata, train_edges


@functools.lru_cache(maxsize=None)
def _synthetic(noise_ratio: float, seed: int):
    return make_synthetic(num_users=300, num_items=200, num_clusters=6, mean_positives=20,
                          noise_ratio=noise_ratio, seed=seed)


def synthetic(noise_ratio: float = 0.0, seed: int = 0):
    """A small planted-cluster dataset (cached; returns a copy)."""
    return _synthetic(noise_ratio, seed).clone()


def tiny_graph(num_users: int = 7, num_items: int = 9, num_edges: int = 30, seed: int = 0):
    """A random tiny dataset with train/val/test splits."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=g)[:num_edges]
    edges = torch.stack([keys // num_items, keys % num_items])
    n = edges.size(1)
    return make_heterodata(num_users, num_items, {"train": edges[:, : n * 7 // 10],
                                                  "val": edges[:, n * 7 // 10: n * 85 // 100],
                                                  "test": edges[:, n * 85 // 100:]})


class Popularity(torch.nn.Module):
    """Ranks items by training popularity (the floor every backbone must beat)."""

    def __init__(self, data):
        super().__init__()
        num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
        self.register_buffer("pop", torch.bincount(train_edges(data)[1], minlength=num_items).float())
        self.register_buffer("ones", torch.ones(num_users, 1))
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def representations(self, users=None, items=None):
        return self.ones, self.pop.view(-1, 1)

    def score_matrix(self, user_rep, item_rep, out=None):
        return user_rep @ item_rep.t()


def load_benchmark(name: str):
    """The module of ``benchmarks/<name>.py`` (the benchmark scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
