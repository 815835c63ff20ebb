r"""Amazon "CDs and Vinyl" implicit feedback in the HGCF/HICF split.

Reference: ``marlin-codes/HICF``, ``data/Amazon-CD/{train,test,user_item_list}.pkl``.
"""
from __future__ import annotations

import io
import itertools
import pickle
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.interactions import Interactions
from graphdenoise.datasets.split import TEST, TRAIN, sorted_unique

BASE_URL = "https://raw.githubusercontent.com/marlin-codes/HICF/main/data/Amazon-CD"


class RestrictedUnpickler(pickle.Unpickler):
    r"""An unpickler that refuses every global, so loading can never run code.

    Pickles of plain ``dict``/``list``/``int`` data never need a global (they are built from the
    ``EMPTY_DICT``, ``EMPTY_LIST``, ``BININT`` ... opcodes), while every way of running code from
    a pickle (``REDUCE``, ``INST``, ``OBJ``, ``NEWOBJ``, extension codes) first has to fetch a
    callable through :meth:`find_class`, which raises here.
    """

    def __init__(self, file, source: str = "pickle"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"{self.source}: refusing to load global '{module}.{name}': raw data pickles may only "
            "contain dicts, lists and ints, and loading them must never run code"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"{self.source}: refusing persistent id {pid!r}")


def safe_load_pickle(path) -> Any:
    r"""Loads a pickle of plain Python data with :class:`RestrictedUnpickler`; a pickle that
    references any global (a class, ``os.system``, ...) raises a :class:`ValueError`."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(io.BufferedReader(handle), source=path.name).load()
    except pickle.UnpicklingError as error:
        raise ValueError(f"unsafe or invalid pickle {str(path)!r}: {error}") from None
    except (EOFError, ValueError, TypeError, KeyError, IndexError) as error:
        raise ValueError(f"invalid pickle {str(path)!r}: {error}") from None


def _check_int_lists(lists: Sequence[Any], where: str) -> np.ndarray:
    r"""Lengths of ``lists`` after checking they are lists of non-negative ints (C-level passes
    over the data, no Python loop per user)."""
    if not set(map(type, lists)) <= {list}:
        raise ValueError(f"{where}: expected lists of item ids")
    if not set(map(type, itertools.chain.from_iterable(lists))) <= {int}:
        raise ValueError(f"{where}: expected integer item ids")
    return np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))


def adjacency_to_arrays(adjacency: Any, where: str):
    r"""``(users, items, listed_users)`` arrays from ``dict[int, list[int]]`` or
    ``list[list[int]]``; ``listed_users`` also holds users with an empty list."""
    if isinstance(adjacency, dict):
        if not set(map(type, adjacency)) <= {int}:
            raise ValueError(f"{where}: expected integer user ids as keys")
        keys = np.fromiter(adjacency.keys(), dtype=np.int64, count=len(adjacency))
        lists = list(adjacency.values())
    elif isinstance(adjacency, list):
        keys = np.arange(len(adjacency), dtype=np.int64)
        lists = adjacency
    else:
        raise ValueError(f"{where}: expected a dict or list, got {type(adjacency).__name__}")
    lengths = _check_int_lists(lists, where)
    items = np.fromiter(
        itertools.chain.from_iterable(lists), dtype=np.int64, count=int(lengths.sum())
    )
    users = np.repeat(keys, lengths)
    if (users < 0).any() or (items < 0).any():
        raise ValueError(f"{where}: ids must be non-negative")
    return users, items, keys


class AmazonCD(InteractionDataset):
    r"""The Amazon "CDs and Vinyl" dataset of `"Ups and Downs: Modeling the Visual Evolution of
    Fashion Trends with One-Class Collaborative Filtering" <https://arxiv.org/abs/1602.01585>`__, as
    preprocessed and split by `"HGCF: Hyperbolic Graph Convolution Networks for Collaborative
    Filtering" <https://doi.org/10.1145/3442381.3450101>`__ (files of the HICF repository).

    The raw files are Python pickles: ``train.pkl`` and ``test.pkl`` map user -> list of items,
    ``user_item_list.pkl`` lists all items per user (checked to equal train + test). They are read
    with :class:`RestrictedUnpickler`, which refuses every global, so a tampered download cannot
    run code.

    The upstream split has train and test only. With ``split="given"`` (the default) validation is
    carved out of training per user at random (``seed``): ``round(val_fraction * n_train)`` (half
    up) interactions per user, at least one left in training; the default ``val_fraction=1/9``
    makes train:val = 8:1 (overall about 69:9:22, as upstream's test holds 22%).
    ``split="ratio"`` pools train and test and re-splits per user.

    This is not the exact Amazon_CD subset of the TIL paper's table (11,346 users there).

    **STATS**: 22,947 users, 18,395 items, 422,301 interactions (upstream train 328,779 and
    test 93,522), density 0.100%.

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        split (str, optional): ``"given"`` or ``"ratio"``. (default: :obj:`"given"`)
        val_fraction (float, optional): Share of each user's training interactions moved to
            validation with ``split="given"``. (default: :obj:`1/9`)
        **kwargs (optional): ``ratios``, ``seed``, ``min_interactions``, ``data_dir``,
            ``transform``, ``pre_transform``, ``force_reload``, ``log`` of
            :class:`~graphdenoise.datasets.base.InteractionDataset`.
    """

    name = "amazon-cd"
    raw_file_names = ("train.pkl", "test.pkl", "user_item_list.pkl")
    urls = {file_name: f"{BASE_URL}/{file_name}" for file_name in raw_file_names}
    sha256 = {
        "train.pkl": "fdd3250d51e1dfe1713d8749b842aa343a0c42d39dce7bc4ca21c76fbdbe6e8b",
        "test.pkl": "8511b464bc7319d0abddf502cc0a75880557b1e9c9004de062070b61fdc5e34e",
        "user_item_list.pkl": "f1df1cde578b1b3f77134333c99e9a274965618efec02d529cc9b491f4e03772",
    }
    splits = ("given", "ratio")
    default_split = "given"

    def __init__(self, root: Optional[str] = None, split: Optional[str] = None,
                 val_fraction: float = 1 / 9, **kwargs):
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        self.val_fraction = float(val_fraction)
        super().__init__(root, split, **kwargs)

    def options(self):
        parts = super().options()
        if self.split == "given":
            parts += [f"val{self.val_fraction:.6g}", f"seed{self.seed}"]
        return parts

    def build_options(self):
        options = super().build_options()
        if self.split == "given":
            options["val_fraction"] = self.val_fraction
        return options

    def read_interactions(self) -> Interactions:
        train_path, test_path, all_path = self.raw_paths
        train_users, train_items, _ = adjacency_to_arrays(
            safe_load_pickle(train_path), "train.pkl"
        )
        test_users, test_items, _ = adjacency_to_arrays(safe_load_pickle(test_path), "test.pkl")
        all_users, all_items, listed_users = adjacency_to_arrays(
            safe_load_pickle(all_path), "user_item_list.pkl"
        )
        users = np.concatenate([train_users, test_users])
        items = np.concatenate([train_items, test_items])
        width = int(max(items.max(), all_items.max())) + 1
        pairs, all_pairs = users * width + items, all_users * width + all_items
        if not np.array_equal(sorted_unique(pairs), sorted_unique(all_pairs)):
            raise ValueError(
                "inconsistent raw files: train.pkl + test.pkl differ from user_item_list.pkl"
            )
        split = np.concatenate([
            np.full(train_users.shape[0], TRAIN, dtype=np.int8),
            np.full(test_users.shape[0], TEST, dtype=np.int8),
        ])
        offset = train_users.shape[0]
        return Interactions(
            users=users, items=items, split=split,
            user_ids=listed_users,
            locate=lambda row: (
                f"train.pkl interaction {row}" if row < offset
                else f"test.pkl interaction {row - offset}"
            ),
        )
