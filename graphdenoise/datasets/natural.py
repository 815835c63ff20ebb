r"""The natural-noise splits published by the DeCA authors: MovieLens-100K and ModCloth with the
rating of every interaction, the low ratings being the noise.

Reference: Wang, Xin, Meng, Jose, Feng, He, "Learning Robust Recommenders through Cross-Model
Agreement", WWW 2022, repository ``wangyu-ustc/DeCA`` @ 8b04aa8, folder ``data/``; the ML-100K files
are also those of the RecSys 2025 study "Are We Really Making Recommendations Robust? Revisiting
Model Evaluation for Denoising Recommendation" (``bachml/EvalDenoisingRec`` @ a36a902, ``data/ml100k``,
whose ``ml100k.valid.rating`` is DeCA's ``ml-100k.valid.noisy``).

How the authors' code reads each file (tab-separated ``user item rating``, CRLF line ends):

* ``<name>.train.rating``: the training interactions, every rating; the rating is read into
  ``train_data_noisy`` and never used for training (DeCA ``data_utils.py:55-58,71-77``; the study's
  ``code/data_utils.py:53-56,69-75``);
* ``<name>.valid.rating``: the validation set of the run (DeCA ``data_utils.py:80-94``, used by
  ``main.py:42-43``). In DeCA's ML-100K folder it is the clean (rating-5) subset of
  ``valid.noisy``; the study validates on the noisy file instead. ModCloth's ``valid.rating`` holds
  every rating (there is no ``valid.noisy``);
* ``<name>.test.negative``: the CLEAN test positives (the name is historical: it holds no negatives;
  DeCA ``data_utils.py:110-124``, the study's ``code/data_utils.py:100-119``);
* ``<name>.test.noisy``: every test interaction; DeCA reads it (``data_utils.py:126-138``) but
  leaves the noisy test unused.

Validation and test items are masked at test time together with the training items: the authors'
``user_pos`` is train + validation (DeCA ``data_utils.py:96-106``; the study's
``code/data_utils.py:87-97``), which the evaluator reproduces by masking ``val`` and ``val_noisy`` when
ranking ``test`` (:class:`~graphdenoise.metrics.RankingEvaluator`).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.graph import INTERACTS, make_heterodata, split_key
from graphdenoise.datasets.interactions import read_interaction_file
from graphdenoise.datasets.natural_noise import DECA_CLEAN_THRESHOLD, NaturalNoiseSplit

DECA_DATA_URL = "https://raw.githubusercontent.com/wangyu-ustc/DeCA/main/data/{folder}/{file}"


class NaturalNoiseDataset(InteractionDataset):
    r"""Base class of the DeCA authors' natural-noise splits (``split="given"`` only).

    Training edges are every interaction of ``<name>.train.rating`` with ``rating`` and the
    ground-truth ``is_noise = rating < 5`` (:data:`~graphdenoise.datasets.natural_noise.DECA_CLEAN_THRESHOLD`:
    every row of the authors' clean files has rating 5, and each load checks that the clean file is
    exactly the rating-5 subset of its noisy file). Held-out splits (``docs/data-schema.md``):

    * ``val`` / ``test``: the clean validation and test positives;
    * ``val_noisy`` / ``test_noisy``: every held-out interaction with its rating.

    Node ids are the raw ids that occur in any file, re-indexed contiguously (``raw_id`` keeps the
    file ids); users without training interactions (ModCloth's cold users) stay, as in the authors'
    evaluation.

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        split (str, optional): ``"given"``. (default: :obj:`"given"`)
        drop_val_from_test (bool, optional): Remove every validation interaction from the test
            splits. The published ML-100K test files CONTAIN the validation files (DeCA's and the
            study's split: ``valid.noisy`` is a subset of ``test.noisy``), and validation items are
            masked at test time, so 1,707 of the 3,594 clean test positives cannot be retrieved;
            :obj:`False` keeps that published protocol, :obj:`True` gives disjoint splits.
            (default: :obj:`False`)
        **kwargs (optional): ``data_dir``, ``transform``, ``pre_transform``, ``force_reload``,
            ``log`` of :class:`~graphdenoise.datasets.base.InteractionDataset`.
    """

    splits = ("given",)
    default_split = "given"
    #: raw file name -> split it is read into (``val`` / ``test`` are the noisy, complete files)
    roles: Dict[str, str] = {}
    #: raw file name of the clean file -> the split whose clean part it must equal
    clean_files: Dict[str, str] = {}

    def __init__(self, root: Optional[str] = None, split: Optional[str] = None,
                 drop_val_from_test: bool = False, **kwargs):
        if kwargs.get("min_interactions"):
            raise ValueError(f"{type(self).__name__} is a published split: min_interactions is not supported")
        self.drop_val_from_test = bool(drop_val_from_test)
        super().__init__(root, split, **kwargs)

    def options(self):
        return [self.split] + (["disjoint"] if self.drop_val_from_test else [])

    def read(self, file_name: str):
        interactions = read_interaction_file(self.raw_paths[self.raw_file_names.index(file_name)],
                                             columns=("user", "item", "rating"), delimiter="\t", header=False)
        return interactions.users, interactions.items, interactions.rating

    def build(self) -> HeteroData:
        parts = {split: self.read(file_name) for file_name, split in self.roles.items()}
        user_raw = np.unique(np.concatenate([users for users, _, _ in parts.values()]))
        item_raw = np.unique(np.concatenate([items for _, items, _ in parts.values()]))
        edges, attrs = {}, {}
        for split, (users, items, rating) in parts.items():
            edges[split] = torch.from_numpy(np.stack([np.searchsorted(user_raw, users),
                                                      np.searchsorted(item_raw, items)]))
            attrs[split] = {"rating": torch.from_numpy(rating).float()}
        data = make_heterodata(len(user_raw), len(item_raw), edges, attrs, torch.from_numpy(user_raw),
                               torch.from_numpy(item_raw))
        data = NaturalNoiseSplit(DECA_CLEAN_THRESHOLD)(data)
        self._check_clean_files(data, user_raw, item_raw)
        if self.drop_val_from_test:
            drop_validation_from_test(data)
        return data

    def _check_clean_files(self, data: HeteroData, user_raw: np.ndarray, item_raw: np.ndarray) -> None:
        store, num_items = data[INTERACTS], len(item_raw)
        for file_name, split in self.clean_files.items():
            users, items, rating = self.read(file_name)
            keys = np.sort(np.searchsorted(user_raw, users) * num_items + np.searchsorted(item_raw, items))
            derived = store[split_key(split)]
            if not np.array_equal(keys, (derived[0] * num_items + derived[1]).numpy()) or (rating < DECA_CLEAN_THRESHOLD).any():
                raise ValueError(
                    f"{self.name}/{file_name} is not the rating >= {DECA_CLEAN_THRESHOLD:g} subset of its noisy "
                    f"file ({len(keys)} rows against {derived.size(1)}): the raw files do not follow the "
                    "DeCA authors' natural-noise layout")


def drop_validation_from_test(data: HeteroData) -> HeteroData:
    r"""Removes every validation interaction (``val`` and ``val_noisy``) from ``test`` and ``test_noisy``
    (with their attributes), in place."""
    store, num_items = data[INTERACTS], int(data["item"].num_nodes)
    held = torch.cat([store[split_key(s)] for s in ("val", "val_noisy") if split_key(s) in store], dim=1)
    held_keys = torch.unique(held[0] * num_items + held[1])
    for split in ("test", "test_noisy"):
        if split_key(split) not in store:
            continue
        edges = store[split_key(split)]
        keep = ~torch.isin(edges[0] * num_items + edges[1], held_keys)
        for key in [k for k in list(store.keys()) if k.startswith(f"{split}_") and k != split_key(split)
                    and not (split == "test" and k.startswith("test_noisy_"))]:
            store[key] = store[key][keep]
        store[split_key(split)] = edges[:, keep].contiguous()
    return data


class MovieLens100KNatural(NaturalNoiseDataset):
    r"""MovieLens-100K with natural noise, the DeCA authors' split (also the RecSys'25 study's).

    Per-user chronological: training = each user's earliest ~80% of ratings (every rating 1-5, the
    ratings below 5 being the noise), test = the latest ~20%, validation = the earlier half of the test
    period (validation is inside test; see ``drop_val_from_test``). ``val`` = ``ml-100k.valid.rating``
    (DeCA's clean validation), ``val_noisy`` = ``ml-100k.valid.noisy`` (the study's validation set),
    ``test`` = ``ml-100k.test.negative``, ``test_noisy`` = ``ml-100k.test.noisy``.

    **STATS**: 943 users, 1,611 items; train 79,619 (17,605 rated 5, so 62,014 ``is_noise``);
    validation 1,707 clean / 9,901 all; test 3,594 clean / 20,293 all.

    Args:
        **kwargs (optional): See :class:`NaturalNoiseDataset`.
    """

    name = "natural-noise/ml-100k"
    raw_file_names = ("ml-100k.train.rating", "ml-100k.valid.noisy", "ml-100k.test.noisy",
                      "ml-100k.valid.rating", "ml-100k.test.negative")
    urls = {f: DECA_DATA_URL.format(folder="ml-100k", file=f) for f in raw_file_names}
    sha256 = {
        "ml-100k.train.rating": "cc83282c0c3dd2e6e01359cea1f44fa0c10048a87a394c80fe1499f2bc7e8717",
        "ml-100k.valid.noisy": "dfa7eb1aad8ab4e0ed6de2952407e7c8f2ca0e452ca400ecd549c228fc464924",
        "ml-100k.test.noisy": "bd30a3ed63d5452e4940bc4d0f15b85ba0763f67c46bab9aae9e2348c4667dd8",
        "ml-100k.valid.rating": "00571cac093aa3ec1f4b9be0d8fbc0a0c4d3a0542ee126e1573f671337da7f2b",
        "ml-100k.test.negative": "b6ef56ff61d6d79e27f1f08fda63c83cad72624d5ef7bddd388e165b57bf5551",
    }
    roles = {"ml-100k.train.rating": "train", "ml-100k.valid.noisy": "val", "ml-100k.test.noisy": "test"}
    clean_files = {"ml-100k.valid.rating": "val", "ml-100k.test.negative": "test"}


class ModCloth(NaturalNoiseDataset):
    r"""ModCloth (Wan, Ni, Misra, McAuley, "Addressing Marketing Bias in Product Recommendations", WSDM
    2020) with natural noise, as converted and split by the DeCA authors.

    ``val_noisy`` = ``modcloth.valid.rating`` (it holds every rating; there is no ``valid.noisy``),
    ``val`` = its rating-5 rows (derived here with the authors' clean threshold), ``test`` =
    ``modcloth.test.negative``, ``test_noisy`` = ``modcloth.test.noisy``. Train, validation and test
    are pairwise disjoint. 1,824 of the 4,303 clean-test users have no training interaction (cold
    users: they stay, as in the authors' evaluation, and count in the averages).

    **STATS**: 44,784 users, 1,020 items; train 79,914 (43,690 rated 5, so 36,224 ``is_noise``);
    validation 5,445 clean / 9,990 all; test 5,433 clean / 9,989 all.

    Args:
        **kwargs (optional): See :class:`NaturalNoiseDataset`.
    """

    name = "natural-noise/modcloth"
    raw_file_names = ("modcloth.train.rating", "modcloth.valid.rating", "modcloth.test.noisy",
                      "modcloth.test.negative")
    urls = {f: DECA_DATA_URL.format(folder="modcloth", file=f) for f in raw_file_names}
    sha256 = {
        "modcloth.train.rating": "e4698402116e8b621c66c79405b0309df8da9991fa6669dd9f2768acf7559ced",
        "modcloth.valid.rating": "216e8b73e746972087833ebc5b94ac0f1667041ab2be5efd3472c75d4526d511",
        "modcloth.test.noisy": "19e35598ad18039061cdcbf04b55635eda7e6f43ce48f9f6312c2ee21d86fdd4",
        "modcloth.test.negative": "83c9d9cd457733a364d42cff5298d82413892d46292522590ac3449372558387",
    }
    roles = {"modcloth.train.rating": "train", "modcloth.valid.rating": "val", "modcloth.test.noisy": "test"}
    clean_files = {"modcloth.test.negative": "test"}
