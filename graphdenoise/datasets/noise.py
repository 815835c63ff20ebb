r"""Synthetic corruption of the training interactions, with the ground truth kept on the edge store.

The protocol is DiffRec's/T-CE's: noise touches the **training** edges only; validation and test
edges stay clean. Three settings (as in the noisy-feedback experiments of TIL-style papers):

* ``Noisy-Pos`` (:class:`AddNoisyPositives`): random unobserved items injected as positives,
  labelled ``is_noise=True``;
* ``Noisy-Neg`` (:class:`AddNoisyNegatives`): true positives removed from training (so samplers
  may draw them as negatives), recorded in ``flipped_edge_index``;
* ``Noisy-(Pos+Neg)`` (:class:`AddNoisyPosNeg`): both, with the same ratio.

Per user, a ratio ``r`` means ``c_u = round(r * n_u)`` edges (round half up, see
:mod:`graphdenoise.datasets.split`), where ``n_u`` is the number of the user's clean training
positives. Sampling is vectorised: candidates are drawn for all users at once, collisions are
rejected against sorted keys ``user * num_items + item`` and the remainder is redrawn in rounds.
Every transform is seeded through :func:`numpy.random.default_rng` and is deterministic given the
data and its seed.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from graphdenoise.datasets.graph import INTERACTS, SPLITS, rebuild_reverse, split_key, sort_edges
from graphdenoise.datasets.split import in_sorted, rank_within_user, round_half_up, sorted_unique

#: Values given to the attributes of injected noisy positives: unknown.
NOISE_FILL_VALUES: Dict[str, float] = {
    "rating": float("nan"), "timestamp": -1, "weight": float("nan"),
}

_STREAM_POSITIVE, _STREAM_NEGATIVE = 0, 1


def _check_ratio(ratio: float) -> float:
    ratio = float(ratio)
    if not np.isfinite(ratio) or ratio < 0:
        raise ValueError(f"ratio must be a finite non-negative number, got {ratio!r}")
    return ratio


def train_edge_attributes(data: HeteroData) -> Dict[str, Tensor]:
    r"""The per-training-edge attributes of the interaction store (``rating``, ``timestamp``,
    ``weight``, ``is_noise``, ...): tensors aligned with ``edge_index`` that belong to no held-out
    split."""
    store = data[INTERACTS]
    num_edges = store.edge_index.size(1)
    held_out = tuple(f"{split}_" for split in SPLITS if split != "train") + ("flipped_",)
    return {
        key: value
        for key, value in store.items()
        if key != "edge_index" and not key.startswith(held_out)
        and isinstance(value, Tensor) and value.dim() >= 1 and value.size(0) == num_edges
    }


def _noise_mask(store, num_edges: int) -> Tensor:
    if "is_noise" in store:
        return store.is_noise
    return torch.zeros(num_edges, dtype=torch.bool)


def _fill_value(name: str, value: Tensor):
    if name in NOISE_FILL_VALUES:
        return NOISE_FILL_VALUES[name]
    if value.dtype == torch.bool:
        return False
    return float("nan") if value.is_floating_point() else -1


def _all_positive_keys(data: HeteroData) -> np.ndarray:
    r"""Sorted unique keys ``u * num_items + i`` of the positives of every split, including
    true positives flipped out of training."""
    store = data[INTERACTS]
    num_items = int(data["item"].num_nodes)
    parts = [store[split_key(split)] for split in SPLITS if split_key(split) in store]
    if "flipped_edge_index" in store:
        parts.append(store.flipped_edge_index)
    edges = torch.cat(parts, dim=1).numpy()
    return sorted_unique(edges[0] * num_items + edges[1])


def sample_unobserved(
    counts: np.ndarray, forbidden: np.ndarray, num_items: int, rng: np.random.Generator,
    max_rounds: int = 16,
) -> Tuple[np.ndarray, np.ndarray]:
    r"""Draws ``counts[u]`` distinct items per user ``u`` outside the sorted keys ``forbidden``.

    Rejection sampling in bulk for ``max_rounds`` rounds; users still short afterwards (those with
    very few allowed items) get an exact draw over their allowed items. ``counts`` must not exceed
    the number of allowed items per user.

    Returns:
        ``(users, items)`` of the drawn pairs, sorted by (user, item).
    """
    num_users = counts.shape[0]
    chosen = np.empty(0, dtype=np.int64)
    need = counts.astype(np.int64).copy()
    for _ in range(max_rounds):
        total = int(need.sum())
        if total == 0:
            break
        users = np.repeat(np.arange(num_users, dtype=np.int64), need)
        keys = users * num_items + rng.integers(0, num_items, size=total, dtype=np.int64)
        keys = sorted_unique(keys)
        keys = keys[~in_sorted(keys, forbidden) & ~in_sorted(keys, chosen)]
        chosen = np.sort(np.concatenate([chosen, keys]))
        need = counts - np.bincount(chosen // num_items, minlength=num_users)
    if need.sum() > 0:  # exact draw for the few users left
        short = np.flatnonzero(need > 0)
        keys = (short[:, None] * num_items + np.arange(num_items)[None, :]).ravel()
        keys = keys[~in_sorted(keys, forbidden) & ~in_sorted(keys, chosen)]
        users = keys // num_items
        rank = rank_within_user(users, rng.random(keys.shape[0]), num_users)
        chosen = np.sort(np.concatenate([chosen, keys[rank < need[users]]]))
    return chosen // num_items, chosen % num_items


class AddNoisyPositives(BaseTransform):
    r"""Injects noisy positives into the training edges ("Noisy-Pos").

    For every user, ``c_u = round(ratio * n_u)`` (half up) random items that are positives of the
    user in **no** split (train, validation, test, nor flipped) are added to ``edge_index``. All
    training edges get ``is_noise`` (injected: :obj:`True`; existing: their previous label, else
    :obj:`False`). Other per-edge attributes stay aligned; injected edges get
    :data:`NOISE_FILL_VALUES` (``rating`` and ``weight`` NaN, ``timestamp`` -1: unknown, so a model
    that reads them has to decide, instead of silently seeing a made-up value). ``n_u`` counts the
    user's clean (``is_noise=False``) training edges; ``c_u`` is capped at the number of items the
    user has not interacted with. The reverse edges are rebuilt.

    Args:
        ratio (float): Noisy positives per clean training positive of each user.
        seed (int, optional): Random seed. (default: :obj:`0`)
    """

    def __init__(self, ratio: float, seed: int = 0):
        self.ratio = _check_ratio(ratio)
        self.seed = int(seed)

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[INTERACTS]
        num_users, num_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
        edge_index = store.edge_index
        num_edges = edge_index.size(1)
        is_noise = _noise_mask(store, num_edges)
        clean_users = edge_index[0][~is_noise].numpy()
        counts = round_half_up(self.ratio * np.bincount(clean_users, minlength=num_users))
        forbidden = _all_positive_keys(data)
        free = num_items - np.bincount(forbidden // num_items, minlength=num_users)
        counts = np.minimum(counts, free)
        rng = np.random.default_rng([self.seed, _STREAM_POSITIVE])
        users, items = sample_unobserved(counts, forbidden, num_items, rng)
        added = torch.from_numpy(np.stack([users, items])).long()

        attributes = train_edge_attributes(data)
        attributes["is_noise"] = is_noise
        new_index = torch.cat([edge_index, added], dim=1)
        perm = sort_edges(new_index, num_items)
        store.edge_index = new_index[:, perm].contiguous()
        for name, value in attributes.items():
            fill = True if name == "is_noise" else _fill_value(name, value)
            extra = torch.full((added.size(1),) + tuple(value.shape[1:]), fill, dtype=value.dtype)
            store[name] = torch.cat([value, extra], dim=0)[perm]
        return rebuild_reverse(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio:g}, seed={self.seed})"


class AddNoisyNegatives(BaseTransform):
    r"""Turns true training positives into (false) negatives ("Noisy-Neg").

    For every user, ``c_u = round(ratio * n_u)`` (half up) of the user's clean training positives,
    capped at ``n_u - 1`` so every user keeps at least one, are removed from ``edge_index`` (so
    negative samplers may draw them) together with their per-edge attributes, and recorded in
    ``flipped_edge_index`` (``[2, F]``, sorted; appended to an existing one). Injected noisy
    positives (``is_noise=True``) are never flipped. The reverse edges are rebuilt.

    Args:
        ratio (float): Share of each user's clean training positives to flip.
        seed (int, optional): Random seed. (default: :obj:`0`)
    """

    def __init__(self, ratio: float, seed: int = 0):
        self.ratio = _check_ratio(ratio)
        self.seed = int(seed)

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[INTERACTS]
        num_users, num_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
        edge_index = store.edge_index
        num_edges = edge_index.size(1)
        is_noise = _noise_mask(store, num_edges)
        clean = np.flatnonzero(~is_noise.numpy())
        clean_users = edge_index[0].numpy()[clean]
        clean_count = np.bincount(clean_users, minlength=num_users)
        counts = np.minimum(round_half_up(self.ratio * clean_count), np.maximum(clean_count - 1, 0))
        rng = np.random.default_rng([self.seed, _STREAM_NEGATIVE])
        rank = rank_within_user(clean_users, rng.random(clean.shape[0]), num_users)
        flip = np.zeros(num_edges, dtype=bool)
        flip[clean[rank < counts[clean_users]]] = True
        flip = torch.from_numpy(flip)

        flipped = edge_index[:, flip]
        if "flipped_edge_index" in store:
            flipped = torch.cat([store.flipped_edge_index, flipped], dim=1)
        store.flipped_edge_index = flipped[:, sort_edges(flipped, num_items)].contiguous()
        attributes = train_edge_attributes(data)
        store.edge_index = edge_index[:, ~flip].contiguous()
        for name, value in attributes.items():
            store[name] = value[~flip]
        return rebuild_reverse(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio:g}, seed={self.seed})"


class AddNoisyPosNeg(BaseTransform):
    r""""Noisy-(Pos+Neg)": :class:`AddNoisyPositives` then :class:`AddNoisyNegatives` with the same
    ``ratio`` and ``seed``. Both counts are taken from the user's original clean training
    positives (negatives are drawn among clean edges only), and injected positives avoid the
    positives that get flipped.

    Args:
        ratio (float): The ratio of both corruptions.
        seed (int, optional): Random seed. (default: :obj:`0`)
    """

    def __init__(self, ratio: float, seed: int = 0):
        self.ratio = _check_ratio(ratio)
        self.seed = int(seed)
        self.positives = AddNoisyPositives(ratio, seed)
        self.negatives = AddNoisyNegatives(ratio, seed)

    def forward(self, data: HeteroData) -> HeteroData:
        return self.negatives(self.positives(data))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio:g}, seed={self.seed})"
