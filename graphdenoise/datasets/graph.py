r"""The one :class:`~torch_geometric.data.HeteroData` layout that every part of graphdenoise shares.

See ``docs/data-schema.md``. Training positives live in ``data[INTERACTS].edge_index``; the held-out
positives in ``val_edge_label_index`` / ``test_edge_label_index`` of the same edge store; the reverse
edge type is always derived from the training edges.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

INTERACTS: Tuple[str, str, str] = ("user", "interacts", "item")
REV_INTERACTS: Tuple[str, str, str] = ("item", "rev_interacts", "user")
SPLITS = ("train", "val", "test")
#: Held-out splits of the natural-noise protocol (``docs/data-schema.md``): every held-out
#: interaction, low-rated ones included, beside the clean ``val`` / ``test``.
NOISY_SPLITS = ("val_noisy", "test_noisy")
ALL_SPLITS = SPLITS + NOISY_SPLITS


def split_key(split: str, attr: str = "edge_index") -> str:
    """The attribute name of ``attr`` for ``split`` on the interaction store (``val_rating``,
    ``test_noisy_edge_label_index``, ...)."""
    if split not in ALL_SPLITS:
        raise ValueError(f"split must be one of {ALL_SPLITS}, got {split!r}")
    if split == "train":
        return attr
    if attr == "edge_index":
        return f"{split}_edge_label_index"
    return f"{split}_{attr}"


def sort_edges(edge_index: Tensor, num_items: int) -> Tensor:
    """The permutation that sorts ``edge_index`` by (user, item)."""
    return torch.argsort(edge_index[0] * num_items + edge_index[1], stable=True)


def make_heterodata(
    num_users: int,
    num_items: int,
    edges: Dict[str, Tensor],
    attrs: Optional[Dict[str, Dict[str, Tensor]]] = None,
    user_raw_id: Optional[Tensor] = None,
    item_raw_id: Optional[Tensor] = None,
) -> HeteroData:
    r"""Build the shared layout from per-split ``[2, E]`` edge indices (keys ``train``/``val``/``test``,
    and optionally ``val_noisy``/``test_noisy``, which are only written when given).

    ``attrs[split][name]`` holds optional per-edge attributes (``rating``, ``timestamp``, ``weight``,
    ``is_noise``), aligned with ``edges[split]``. Every split is sorted by (user, item).
    """
    attrs = attrs or {}
    data = HeteroData()
    data["user"].num_nodes = int(num_users)
    data["item"].num_nodes = int(num_items)
    data["user"].raw_id = user_raw_id if user_raw_id is not None else torch.arange(num_users)
    data["item"].raw_id = item_raw_id if item_raw_id is not None else torch.arange(num_items)
    store = data[INTERACTS]
    unknown = sorted(set(edges) - set(ALL_SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; valid: {ALL_SPLITS}")
    for split in SPLITS + tuple(s for s in NOISY_SPLITS if s in edges):
        edge_index = edges.get(split)
        if edge_index is None:
            edge_index = torch.empty(2, 0, dtype=torch.long)
        edge_index = edge_index.long()
        perm = sort_edges(edge_index, num_items)
        store[split_key(split)] = edge_index[:, perm].contiguous()
        for name, value in attrs.get(split, {}).items():
            if value.size(0) != edge_index.size(1):
                raise ValueError(
                    f"attribute {name!r} of split {split!r} has {value.size(0)} entries "
                    f"for {edge_index.size(1)} edges"
                )
            store[split_key(split, name)] = value[perm]
    rebuild_reverse(data)
    return data


def train_edges(data: HeteroData) -> Tensor:
    """The ``[2, E_train]`` training positives."""
    return data[INTERACTS].edge_index


def held_out_edges(data: HeteroData, split: str) -> Tensor:
    """The ``[2, E]`` positives of ``split`` (``train``, ``val``, ``test``, ``val_noisy`` or ``test_noisy``)."""
    store = data[INTERACTS]
    key = split_key(split)
    if key not in store:
        raise ValueError(f"this dataset has no {split!r} split (missing attribute {key!r})")
    return store[key]


def rebuild_reverse(data: HeteroData) -> HeteroData:
    """Re-derive ``('item', 'rev_interacts', 'user')`` from the training edges."""
    data[REV_INTERACTS].edge_index = data[INTERACTS].edge_index.flip(0).contiguous()
    return data


def num_users_items(data: HeteroData) -> Tuple[int, int]:
    return int(data["user"].num_nodes), int(data["item"].num_nodes)
