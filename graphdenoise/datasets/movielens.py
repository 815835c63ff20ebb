r"""MovieLens 100K ratings as implicit feedback (ratings >= 4 are positives by default).

Reference: GroupLens, ``ml-100k.zip`` (member ``u.data``).
"""
from __future__ import annotations

from typing import Optional

from torch_geometric.datasets import MovieLens100K as PyGMovieLens100K

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.interactions import Interactions, read_interaction_file


class MovieLens100K(InteractionDataset):
    r"""The MovieLens 100K dataset of `"The MovieLens Datasets: History and Context"
    <https://doi.org/10.1145/2827872>`__: 100,000 ratings (1-5) of 1,682 movies by 943 users.

    ``u.data`` (tab-separated ``user item rating timestamp``) is read; ratings
    ``>= rating_threshold`` are positives (the TIL paper's protocol; :obj:`None` keeps every
    rating). ``rating`` and ``timestamp`` are kept as edge attributes on every split (``rating``,
    ``val_rating``, ``test_rating``, ...). All 943 users and 1,682 movies of ``u.data`` are nodes,
    also those without a positive, unless ``min_interactions`` removes them. There is no upstream
    split of the full data: ``split="ratio"`` only.

    :class:`torch_geometric.datasets.MovieLens100K` is only partly reused (its download URL): it
    reads the fixed 80/20 fold ``u1.base`` / ``u1.test`` instead of all of ``u.data``, keeps every
    rating as an edge of a ``('user', 'rates', 'movie')`` type with a ``'movie'`` node type and
    user/movie features, and has no per-user split, validation split or positive threshold.

    **STATS**: 943 users, 1,682 items, 100,000 ratings of which 55,375 are ``>= 4``.

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        split (str, optional): ``"ratio"``. (default: :obj:`"ratio"`)
        rating_threshold (float, optional): Ratings ``>=`` this are positives; :obj:`None` keeps
            all. (default: :obj:`4.0`)
        **kwargs (optional): ``ratios``, ``seed``, ``min_interactions``, ``data_dir``,
            ``transform``, ``pre_transform``, ``force_reload``, ``log`` of
            :class:`~graphdenoise.datasets.base.InteractionDataset`.
    """

    name = "ml-100k"
    #: Printed by ``graphdenoise describe`` under the counts (why there are 55,375, not 100,000).
    describe_note = ("interactions are the ratings >= rating_threshold (default 4, the TIL paper's protocol): "
                     "55,375 of ML-100K's 100,000 ratings; --rating-threshold 1 keeps every rating")
    raw_file_names = ("u.data",)
    urls = {"u.data": PyGMovieLens100K.url}
    sha256 = {"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"}

    def __init__(self, root: Optional[str] = None, split: Optional[str] = None,
                 rating_threshold: Optional[float] = 4.0, **kwargs):
        self.rating_threshold = None if rating_threshold is None else float(rating_threshold)
        super().__init__(root, split, **kwargs)

    def options(self):
        parts = super().options()
        threshold = "all" if self.rating_threshold is None else f"{self.rating_threshold:g}"
        return parts + [f"rating{threshold}"]

    def build_options(self):
        return dict(super().build_options(), rating_threshold=self.rating_threshold)

    def read_interactions(self) -> Interactions:
        return read_interaction_file(
            self.raw_paths[0], columns=("user", "item", "rating", "timestamp"), delimiter="\t",
            header=False,
        )
