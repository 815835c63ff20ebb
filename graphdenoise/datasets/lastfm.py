r"""HetRec 2011 Last.fm listening counts as implicit feedback.

Reference: GroupLens, ``hetrec2011-lastfm-2k.zip`` (member ``user_artists.dat``).
"""
from __future__ import annotations

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.interactions import Interactions, read_interaction_file

URL = "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip"


class LastFM(InteractionDataset):
    r"""The Last.fm dataset of the HetRec 2011 workshop (`"2nd Workshop on Information
    Heterogeneity and Fusion in Recommender Systems (HetRec 2011)"
    <https://grouplens.org/datasets/hetrec-2011/>`__): which artists 1,892 users listened to.

    Every listened ``(user, artist)`` pair of ``user_artists.dat`` (tab-separated
    ``userID artistID weight``) is a positive; the listening count is kept as the edge attribute
    ``weight`` (and ``val_weight`` / ``test_weight``). A header line is skipped when present (it is
    detected, not assumed). There is no upstream split: ``split="ratio"`` only.

    :class:`torch_geometric.datasets.LastFM` is not reused: it is the MAGNN preprocessing
    (`"MAGNN: Metapath Aggregated Graph Neural Network for Heterogeneous Graph Embedding"
    <https://arxiv.org/abs/2002.01680>`__) downloaded from a separate archive, with ``artist`` and
    ``tag`` node types, its own re-indexing and link-prediction split, and without the listening
    counts as edge weights, so it matches neither this schema nor the raw HetRec files.

    This is not the exact Last.fm subset of the TIL paper's table (23,385 users there).

    **STATS**: 1,892 users, 17,632 items, 92,834 interactions, density 0.278%.

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        split (str, optional): ``"ratio"``. (default: :obj:`"ratio"`)
        **kwargs (optional): ``ratios``, ``seed``, ``min_interactions``, ``data_dir``,
            ``transform``, ``pre_transform``, ``force_reload``, ``log`` of
            :class:`~graphdenoise.datasets.base.InteractionDataset`.
    """

    name = "lastfm"
    raw_file_names = ("user_artists.dat",)
    urls = {"user_artists.dat": URL}
    sha256 = {
        "user_artists.dat": "3e496861ec29aca30cc17d69e4b006b160af693e131cd09b48ab31c271fca04a",
    }

    def read_interactions(self) -> Interactions:
        return read_interaction_file(
            self.raw_paths[0], columns=("user", "item", "weight"), delimiter="\t"
        )
