r"""The natural-noise protocol on any rated dataset: train on every interaction, evaluate on the clean
ones.

"Natural noise" is not injected: an observed interaction the user rated low is a false positive of
implicit feedback (Wang, Feng, He, Nie, Chua, "Denoising Implicit Feedback for Recommendation", WSDM
2021; Wang et al., "Learning Robust Recommenders through Cross-Model Agreement", WWW 2022). The
model never sees the rating; training uses every interaction, validation and test use the clean ones
only. With the rating on every split, :class:`NaturalNoiseSplit` gives that protocol to any rated
dataset, e.g. the raw MovieLens-100K::

    data = load_dataset("ml-100k", rating_threshold=None, noise=NaturalNoiseSplit(clean_threshold=5))

The published natural-noise splits of the DeCA authors (:mod:`graphdenoise.datasets.natural`) go
through the same transform.
"""
from __future__ import annotations

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from graphdenoise.datasets.graph import INTERACTS, split_key

#: The clean rating of the DeCA authors' natural-noise data: every row of their clean held-out files
#: (``*.test.negative``, ML-100K's ``valid.rating``) has rating 5, and every rating-5 row of the
#: matching noisy file is in it (checked by :class:`~graphdenoise.datasets.natural.NaturalNoiseDataset`
#: on every load). Their loaders never read the rating for training (DeCA ``data_utils.py:55-58,74-77``
#: reads it into ``train_data_noisy``, which no training code uses).
DECA_CLEAN_THRESHOLD = 5.0


class NaturalNoiseSplit(BaseTransform):
    r"""Turns a rated dataset into the natural-noise protocol (``docs/data-schema.md``).

    * training edges are kept as they are (every interaction, whatever its rating) and get the
      ground-truth label ``is_noise = rating < clean_threshold`` (combined by OR with an existing
      ``is_noise``, e.g. of injected noise);
    * ``val`` and ``test`` keep only their clean edges (``rating >= clean_threshold``), with
      ``val_rating`` / ``test_rating``;
    * every held-out edge, clean or not, moves to ``val_noisy`` / ``test_noisy``
      (``val_noisy_edge_label_index``, ``val_noisy_rating``, ...), so a noisy held-out interaction
      can never reach the clean validation or test split.

    The input needs a rating on every split (``rating``, ``val_rating``, ``test_rating``): load
    rated data with every rating kept, e.g. ``load_dataset("ml-100k", rating_threshold=None)``. The
    input is not modified.

    Args:
        clean_threshold (float, optional): Ratings ``>=`` this are clean. The DeCA authors' data uses
            5 (:data:`DECA_CLEAN_THRESHOLD`). (default: :obj:`5.0`)
    """

    def __init__(self, clean_threshold: float = DECA_CLEAN_THRESHOLD):
        self.clean_threshold = float(clean_threshold)

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[INTERACTS]
        missing = [key for key in ("rating", "val_rating", "test_rating") if key not in store]
        if missing:
            raise ValueError(
                f"NaturalNoiseSplit needs the rating of every split; the data has no {missing} "
                "(load rated data with every rating kept, e.g. load_dataset('ml-100k', "
                "rating_threshold=None))")
        if "val_noisy_edge_label_index" in store or "test_noisy_edge_label_index" in store:
            raise ValueError("the data already follows the natural-noise protocol (it has noisy held-out splits)")
        out = data.clone()
        store = out[INTERACTS]
        is_noise = store.rating < self.clean_threshold
        if "is_noise" in store:
            is_noise = is_noise | store.is_noise.bool()
        store.is_noise = is_noise
        for split in ("val", "test"):
            self._split_held_out(store, split)
        if not bool((~store.is_noise).any()):
            raise ValueError(f"no training interaction is rated >= clean_threshold={self.clean_threshold:g}")
        return out

    def _split_held_out(self, store, split: str) -> None:
        edges, rating = store[split_key(split)], store[split_key(split, "rating")]
        noisy = f"{split}_noisy"
        clean = rating >= self.clean_threshold
        for attr in [k[len(split) + 1:] for k in list(store.keys()) if k.startswith(f"{split}_")
                     and k != split_key(split) and _aligned(store[k], edges)]:
            value = store[split_key(split, attr)]
            store[split_key(noisy, attr)] = value
            store[split_key(split, attr)] = value[clean]
        store[split_key(noisy)] = edges
        store[split_key(split)] = edges[:, clean].contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clean_threshold={self.clean_threshold:g})"


def _aligned(value, edges) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 1 and value.size(0) == edges.size(1)

