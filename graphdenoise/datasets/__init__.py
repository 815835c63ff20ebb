r"""Datasets of graphdenoise: loaders, splits, noise transforms and statistics, all producing the
one :class:`~torch_geometric.data.HeteroData` layout of ``docs/data-schema.md``.

:func:`load_dataset` is the entry point of :func:`graphdenoise.fit`, the CLI and the benchmarks::

    data = load_dataset("gowalla", data_dir="../shared/datasets")
    data = load_dataset("ml-100k", split="ratio", seed=1, min_interactions=10)
    data = load_dataset("synthetic", noise="pos", noise_ratio=0.2)
    data = load_dataset("ml-100k-natural")  # natural noise: low ratings, ground-truth is_noise
    data = load_dataset("ml-100k", rating_threshold=None, noise=NaturalNoiseSplit(clean_threshold=5))
"""
from __future__ import annotations

from typing import Optional, Union

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from graphdenoise.datasets.amazon_cd import AmazonCD, RestrictedUnpickler, safe_load_pickle
from graphdenoise.datasets.base import DATA_ENV, InteractionDataset, default_root, sha256sum
from graphdenoise.datasets.gowalla import Gowalla
from graphdenoise.datasets.graph import (
    INTERACTS,
    REV_INTERACTS,
    held_out_edges,
    make_heterodata,
    rebuild_reverse,
    split_key,
    train_edges,
)
from graphdenoise.datasets.interactions import (
    Interactions,
    build_heterodata,
    from_interactions,
    read_interaction_file,
)
from graphdenoise.datasets.lastfm import LastFM
from graphdenoise.datasets.movielens import MovieLens100K
from graphdenoise.datasets.natural import ModCloth, MovieLens100KNatural, NaturalNoiseDataset
from graphdenoise.datasets.natural_noise import DECA_CLEAN_THRESHOLD, NaturalNoiseSplit
from graphdenoise.datasets.noise import AddNoisyNegatives, AddNoisyPosNeg, AddNoisyPositives
from graphdenoise.datasets.split import carve_validation, k_core_mask, ratio_split
from graphdenoise.datasets.stats import describe, format_stats, print_stats
from graphdenoise.datasets.synthetic import Synthetic, make_synthetic
from graphdenoise.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("gowalla")(Gowalla)
DATASETS.register("amazon-cd")(AmazonCD)
DATASETS.register("lastfm")(LastFM)
DATASETS.register("ml-100k")(MovieLens100K)
DATASETS.register("ml-100k-natural")(MovieLens100KNatural)
DATASETS.register("modcloth")(ModCloth)
DATASETS.register("synthetic")(Synthetic)

#: Noise settings by name: ``Noisy-Pos``, ``Noisy-Neg`` and ``Noisy-(Pos+Neg)``.
NOISES: Registry = Registry("noise")
NOISES.register("pos")(AddNoisyPositives)
NOISES.register("neg")(AddNoisyNegatives)
NOISES.register("posneg")(AddNoisyPosNeg)


def make_noise(noise: Union[str, BaseTransform], ratio: Optional[float] = None,
               seed: int = 0) -> BaseTransform:
    r"""A noise transform from a name of :data:`NOISES` (``"pos"``, ``"neg"``, ``"posneg"``) and
    ``ratio``, or ``noise`` itself if it already is a transform."""
    if isinstance(noise, BaseTransform) or callable(noise) and not isinstance(noise, str):
        if ratio is not None:
            raise ValueError("noise_ratio is only used with a noise name, not a transform")
        return noise
    if ratio is None:
        raise ValueError(f"noise={noise!r} needs noise_ratio")
    return NOISES.get(noise)(ratio, seed=seed)


def load_dataset(
    name: str,
    *,
    root: Optional[str] = None,
    data_dir: Optional[str] = None,
    split: Optional[str] = None,
    seed: int = 0,
    noise: Optional[Union[str, BaseTransform]] = None,
    noise_ratio: Optional[float] = None,
    **kwargs,
) -> HeteroData:
    r"""Loads dataset ``name`` of :data:`DATASETS` and returns its single data object.

    Args:
        name (str): ``gowalla``, ``amazon-cd``, ``lastfm``, ``ml-100k``, ``ml-100k-natural``,
            ``modcloth`` or ``synthetic``
            (case-insensitive; an unknown name raises a :class:`ValueError` listing these).
        root (str, optional): Root directory; the dataset's default if :obj:`None`.
            (default: :obj:`None`)
        data_dir (str, optional): Local folder of raw files (see
            :class:`~graphdenoise.datasets.base.InteractionDataset`); ``$GRAPHDENOISE_DATA`` if
            :obj:`None`. (default: :obj:`None`)
        split (str, optional): ``"given"`` or ``"ratio"``; the dataset's default if :obj:`None`.
            (default: :obj:`None`)
        seed (int, optional): Seed of the split and of the noise. (default: :obj:`0`)
        noise (str or BaseTransform, optional): ``"pos"``, ``"neg"``, ``"posneg"`` (with
            ``noise_ratio``) or a transform, applied to the training edges after loading (not
            cached). (default: :obj:`None`)
        noise_ratio (float, optional): Ratio of a named ``noise``. (default: :obj:`None`)
        **kwargs (optional): Further arguments of the dataset class (``ratios``,
            ``min_interactions``, ``rating_threshold``, ``force_reload``, ...).
    """
    dataset_cls = DATASETS.get(name)
    if split is not None:
        kwargs["split"] = split
    dataset = dataset_cls(root=root, data_dir=data_dir, seed=seed, **kwargs)
    data = dataset[0]
    if noise is not None:
        data = make_noise(noise, noise_ratio, seed)(data)
    elif noise_ratio is not None:
        raise ValueError("noise_ratio is set but noise is not; pass noise='pos', 'neg' or 'posneg'")
    return data


__all__ = [
    "DATASETS",
    "NOISES",
    "DATA_ENV",
    "DECA_CLEAN_THRESHOLD",
    "INTERACTS",
    "REV_INTERACTS",
    "AddNoisyNegatives",
    "AddNoisyPosNeg",
    "AddNoisyPositives",
    "AmazonCD",
    "Gowalla",
    "InteractionDataset",
    "Interactions",
    "LastFM",
    "ModCloth",
    "MovieLens100K",
    "MovieLens100KNatural",
    "NaturalNoiseDataset",
    "NaturalNoiseSplit",
    "RestrictedUnpickler",
    "Synthetic",
    "build_heterodata",
    "carve_validation",
    "default_root",
    "describe",
    "format_stats",
    "from_interactions",
    "held_out_edges",
    "k_core_mask",
    "load_dataset",
    "make_heterodata",
    "make_noise",
    "make_synthetic",
    "print_stats",
    "ratio_split",
    "read_interaction_file",
    "rebuild_reverse",
    "safe_load_pickle",
    "sha256sum",
    "split_key",
    "train_edges",
]
