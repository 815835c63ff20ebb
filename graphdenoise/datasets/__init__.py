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

import inspect
import os
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
    r"""Loads dataset ``name`` of :data:`DATASETS`, or your own interaction file, and returns its
    single data object.

    A ``name`` that is not registered but names a file (or looks like a path: it has a folder or an
    extension such as ``.csv``, ``.tsv``, ``.txt``) is read with :func:`from_interactions`; then
    ``kwargs`` are its file and split options (``columns``, ``delimiter``, ``header``,
    ``rating_threshold``, ``min_interactions``, ``ratios``...)::

        data = load_dataset("ratings.csv", columns={"user": "userId", "item": "movieId"},
                            rating_threshold=4)

    Args:
        name (str): ``gowalla``, ``amazon-cd``, ``lastfm``, ``ml-100k``, ``ml-100k-natural``,
            ``modcloth`` or ``synthetic`` (case-insensitive; an unknown name raises a
            :class:`ValueError` listing these), or the path of a CSV/TSV/whitespace edge list
            (``user item [rating] [timestamp]`` without a header, or named columns with one).
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
    if split is not None:
        kwargs["split"] = split
    if is_interaction_file(name):
        data = _load_file(name, root, data_dir, seed, kwargs)
    else:
        try:
            dataset_cls = DATASETS.get(name)
        except ValueError as exc:
            raise ValueError(f"{exc}; or the path of a CSV/TSV interaction file") from None
        data = dataset_cls(root=root, data_dir=data_dir, seed=seed, **kwargs)[0]
    if noise is not None:
        data = make_noise(noise, noise_ratio, seed)(data)
    elif noise_ratio is not None:
        raise ValueError("noise_ratio is set but noise is not; pass noise='pos', 'neg' or 'posneg'")
    return data


_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".inter", ".data")


def is_interaction_file(name: str) -> bool:
    r"""Whether ``name`` is taken as a file path rather than a registered dataset name: it is not
    registered and it exists, contains a folder separator or ends in a data-file extension."""
    if not isinstance(name, str) or name in DATASETS:
        return False
    return os.path.exists(name) or os.sep in name or "/" in name or name.lower().endswith(_FILE_SUFFIXES)


def _load_file(path: str, root, data_dir, seed: int, kwargs: dict) -> HeteroData:
    if root is not None or data_dir is not None:
        raise ValueError(f"root / data_dir locate registered datasets; {path!r} is read as a file directly "
                         "(drop --data-dir, or give the file's path)")
    not_options = ("users", "items", "rating", "timestamp", "weight", "val", "test", "seed")
    valid = [name for name in inspect.signature(from_interactions).parameters if name not in not_options]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for the interaction file {path!r}; valid: {', '.join(valid)}")
    return from_interactions(path, seed=seed, **kwargs)


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
    "is_interaction_file",
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
