r"""The build pipeline shared by :func:`~graphdenoise.datasets.interactions.from_interactions` and
every dataset loader: validated :class:`~graphdenoise.datasets.records.Interactions` ->
:class:`~torch_geometric.data.HeteroData` in the layout of ``docs/data-schema.md``.

One small step per concept, each a function of an :class:`_Edges` table:

1. :func:`index_nodes`: every raw id that occurs (or is listed as known) becomes a node; ids are
   mapped to ``0..n-1`` in increasing raw-id order and the mapping is kept in
   ``data['user'].raw_id`` / ``data['item'].raw_id``;
2. :func:`collapse_duplicates`: repeated ``(user, item)`` pairs become one interaction that keeps
   the **maximum rating**, the **latest timestamp** and the **summed weight**; a pair that occurs
   in several given splits is kept in the earliest one (train, then validation, then test), so
   the splits stay disjoint. The number of removed rows is stored as
   ``data.num_duplicates_collapsed`` and announced by a :class:`UserWarning`;
3. :func:`apply_rating_threshold`: rows rated below ``rating_threshold`` are dropped;
4. :func:`apply_k_core`: iterative k-core filtering
   (:func:`~graphdenoise.datasets.split.k_core_mask`) on the positives of all splits together;
   nodes left without interactions are dropped;
5. :func:`assign_split`: ``"ratio"`` (per-user random,
   :func:`~graphdenoise.datasets.split.ratio_split`) or ``"given"`` (labels from the input,
   optionally with validation carved out of training), then :func:`check_held_out_users`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphdenoise.datasets.graph import SPLITS, make_heterodata
from graphdenoise.datasets.records import ATTRIBUTE_DTYPES, Interactions
from graphdenoise.datasets.split import (
    SPLIT_NAMES,
    TRAIN,
    carve_validation,
    check_ratios,
    k_core_mask,
    ratio_split,
    sorted_unique,
)
from graphdenoise.datasets.validation import check_flag, check_integer, check_real

_REDUCERS = {"rating": np.maximum, "timestamp": np.maximum, "weight": np.add}


@dataclass
class _Edges:
    r"""The interactions as node indices while the pipeline runs."""
    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray  # int8 split code per interaction
    rows: np.ndarray  # the input row of every interaction (for error messages)
    attributes: Dict[str, np.ndarray]
    user_raw: np.ndarray
    item_raw: np.ndarray

    @property
    def num_users(self) -> int:
        return int(self.user_raw.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.item_raw.shape[0])

    def select(self, mask: np.ndarray) -> "_Edges":
        return replace(
            self, users=self.users[mask], items=self.items[mask], labels=self.labels[mask],
            rows=self.rows[mask],
            attributes={name: value[mask] for name, value in self.attributes.items()},
        )


def _node_index(ids: np.ndarray, known: Optional[np.ndarray], num: Optional[int], role: str,
                locate: Callable[[int], str]) -> Tuple[np.ndarray, np.ndarray]:
    r"""``(raw_id, index)``: the raw id of every node and the node index of every interaction."""
    if num is not None:
        too_large = np.flatnonzero(ids >= num)
        if too_large.size:
            k = int(too_large[0])
            raise ValueError(f"{locate(k)}: {role} id {ids[k]} is >= num_{role}s={num}")
        return np.arange(num, dtype=np.int64), ids
    universe = ids if known is None else np.concatenate([ids, known.astype(np.int64)])
    raw_id, inverse = np.unique(universe, return_inverse=True)
    return raw_id, inverse[: ids.shape[0]].astype(np.int64)


def index_nodes(interactions: Interactions, given_split: bool, num_users: Optional[int],
                num_items: Optional[int]) -> _Edges:
    r"""Step 1: node indices for the raw ids (see the module docstring)."""
    locate = interactions.where
    user_raw, users = _node_index(interactions.users, interactions.user_ids, num_users, "user",
                                  locate)
    item_raw, items = _node_index(interactions.items, interactions.item_ids, num_items, "item",
                                  locate)
    count = len(interactions)
    labels = (interactions.split.astype(np.int8) if given_split
              else np.zeros(count, dtype=np.int8))
    attributes = {name: getattr(interactions, name) for name in ("rating", "timestamp", "weight")
                  if getattr(interactions, name) is not None}
    return _Edges(users, items, labels, np.arange(count), attributes, user_raw, item_raw)


def collapse_duplicates(edges: _Edges) -> Tuple[_Edges, int]:
    r"""Step 2: one interaction per ``(user, item)`` pair (earliest split, max rating, latest
    timestamp, summed weight); returns the edges and the number of removed rows."""
    pair = edges.users * edges.num_items + edges.items
    order = np.lexsort((edges.labels, pair))
    sorted_pair = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])
    first = order[starts]
    attributes = {name: _REDUCERS[name].reduceat(value[order], starts)
                  for name, value in edges.attributes.items()}
    collapsed = replace(edges.select(first), attributes=attributes)
    return collapsed, int(edges.users.shape[0] - starts.shape[0])


def apply_rating_threshold(edges: _Edges, rating_threshold: Optional[float]) -> _Edges:
    r"""Step 3: keep the interactions rated ``>= rating_threshold``."""
    if rating_threshold is None:
        return edges
    if "rating" not in edges.attributes:
        raise ValueError("rating_threshold is set but the interactions carry no rating")
    edges = edges.select(edges.attributes["rating"] >= rating_threshold)
    if edges.users.shape[0] == 0:
        raise ValueError(f"no interaction is rated >= rating_threshold={rating_threshold}")
    return edges


def apply_k_core(edges: _Edges, min_interactions: Optional[int]) -> _Edges:
    r"""Step 4: iterative k-core, then drop the nodes left without interactions."""
    if min_interactions is None or min_interactions <= 1:
        return edges
    edges = edges.select(k_core_mask(edges.users, edges.items, edges.num_users, edges.num_items,
                                     min_interactions))
    if edges.users.shape[0] == 0:
        raise ValueError(
            f"no interaction survives k-core filtering with min_interactions={min_interactions}"
        )
    kept_users, users = np.unique(edges.users, return_inverse=True)
    kept_items, items = np.unique(edges.items, return_inverse=True)
    return replace(edges, users=users, items=items, user_raw=edges.user_raw[kept_users],
                   item_raw=edges.item_raw[kept_items])


def assign_split(edges: _Edges, split: str, ratios: Sequence[float], seed: int,
                 val_fraction: Optional[float]) -> _Edges:
    r"""Step 5: the ratio split, or the given labels with ``val_fraction`` carved out."""
    if split == "ratio":
        labels = ratio_split(edges.users, edges.items, edges.num_users, edges.num_items, ratios,
                             seed)
    elif val_fraction:
        labels = carve_validation(edges.users, edges.items, edges.labels, edges.num_users,
                                  edges.num_items, val_fraction, seed)
    else:
        return edges
    return replace(edges, labels=labels)


def check_held_out_users(edges: _Edges, locate: Callable[[int], str]) -> None:
    r"""Raises if a user has validation/test interactions but no training interaction."""
    users, labels = edges.users, edges.labels
    has_train = np.bincount(users[labels == TRAIN], minlength=edges.num_users) > 0
    orphan = np.flatnonzero((labels != TRAIN) & ~has_train[users])
    if orphan.size:
        k = int(orphan[0])
        count = sorted_unique(users[orphan]).shape[0]
        raise ValueError(
            f"{count} user(s) have {SPLIT_NAMES[1]}/{SPLIT_NAMES[2]} interactions but no "
            f"training interaction, e.g. user {edges.user_raw[users[k]]} ({SPLIT_NAMES[labels[k]]} "
            f"interaction with item {edges.item_raw[edges.items[k]]} at "
            f"{locate(int(edges.rows[k]))}); give these users training interactions, drop them, "
            "or pass test_users_must_have_train=False"
        )


def to_heterodata(edges: _Edges, num_duplicates: int) -> HeteroData:
    r"""The shared layout of the finished edges."""
    edge_index, edge_attrs = {}, {}
    for code, split_name in enumerate(SPLITS):
        mask = edges.labels == code
        edge_index[split_name] = torch.from_numpy(np.stack([edges.users[mask], edges.items[mask]]))
        edge_attrs[split_name] = {
            name: torch.from_numpy(value[mask]).to(ATTRIBUTE_DTYPES[name])
            for name, value in edges.attributes.items()
        }
    data = make_heterodata(
        edges.num_users, edges.num_items, edge_index, edge_attrs,
        user_raw_id=torch.from_numpy(edges.user_raw), item_raw_id=torch.from_numpy(edges.item_raw),
    )
    data.num_duplicates_collapsed = int(num_duplicates)
    return data


def _check_options(interactions: Interactions, split: str, min_interactions, rating_threshold,
                   val_fraction, test_users_must_have_train, num_users, num_items) -> None:
    if split not in ("ratio", "given"):
        raise ValueError(f"split must be 'ratio' or 'given', got {split!r}")
    check_integer("min_interactions", min_interactions, 1)
    check_real("rating_threshold", rating_threshold)
    check_real("val_fraction", val_fraction, 0.0, 1.0, high_open=True)
    check_flag("test_users_must_have_train", test_users_must_have_train)
    check_integer("num_users", num_users, 1)
    check_integer("num_items", num_items, 1)
    if len(interactions) == 0:
        raise ValueError("empty input: no interactions")
    if split == "given" and interactions.split is None:
        raise ValueError(
            "split='given' needs split labels (a split column, split=labels, or val=/test= inputs)"
        )


def build_heterodata(
    interactions: Interactions,
    *,
    split: str = "ratio",
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    min_interactions: Optional[int] = None,
    rating_threshold: Optional[float] = None,
    val_fraction: Optional[float] = None,
    test_users_must_have_train: bool = True,
    num_users: Optional[int] = None,
    num_items: Optional[int] = None,
) -> HeteroData:
    r"""Runs the pipeline of this module's docstring on validated :class:`Interactions`.

    Args:
        interactions (Interactions): The input, with ``split`` labels if ``split="given"``.
        split (str, optional): ``"ratio"`` or ``"given"``. (default: :obj:`"ratio"`)
        ratios (tuple of float, optional): ``(train, val, test)`` for ``"ratio"``.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        seed (int, optional): Seed of the random split / validation carving. (default: :obj:`0`)
        min_interactions (int, optional): k of the iterative k-core filter. (default: :obj:`None`)
        rating_threshold (float, optional): Keep interactions rated ``>=`` this.
            (default: :obj:`None`)
        val_fraction (float, optional): With ``"given"``, move this share of each user's training
            interactions to validation (see :func:`~graphdenoise.datasets.split.carve_validation`).
            (default: :obj:`None`)
        test_users_must_have_train (bool, optional): Raise if a user has validation/test
            interactions but no training one. (default: :obj:`True`)
        num_users (int, optional): Take user ids as node indices in ``[0, num_users)`` instead of
            re-indexing the ids that occur. (default: :obj:`None`)
        num_items (int, optional): Same for items. (default: :obj:`None`)
    """
    _check_options(interactions, split, min_interactions, rating_threshold, val_fraction,
                   test_users_must_have_train, num_users, num_items)
    ratios = check_ratios(ratios)
    seed = check_integer("seed", seed, 0, optional=False)
    edges = index_nodes(interactions, split == "given", num_users, num_items)
    edges, num_duplicates = collapse_duplicates(edges)
    if num_duplicates:
        warnings.warn(
            f"collapsed {num_duplicates} duplicate (user, item) interaction(s) (kept: max rating, "
            "latest timestamp, summed weight, earliest split); see data.num_duplicates_collapsed",
            UserWarning,
            stacklevel=3,
        )
    edges = apply_rating_threshold(edges, rating_threshold)
    edges = apply_k_core(edges, min_interactions)
    edges = assign_split(edges, split, ratios, seed, val_fraction)
    if test_users_must_have_train:
        check_held_out_users(edges, interactions.where)
    return to_heterodata(edges, num_duplicates)
