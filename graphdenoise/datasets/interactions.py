r"""Turning user-item interactions (arrays, a :class:`pandas.DataFrame` or a CSV/TSV edge list) into
the shared :class:`~torch_geometric.data.HeteroData` layout of ``docs/data-schema.md``:
:func:`from_interactions`.

The work is split by concept:

* :mod:`graphdenoise.datasets.records`: the flat :class:`Interactions` record;
* :mod:`graphdenoise.datasets.reading`: delimited files (:func:`read_interaction_file`);
* this module: array-likes, DataFrames, tuples and dicts of columns, and the entry point;
* :mod:`graphdenoise.datasets.validation`: the one validation step every input goes through;
* :mod:`graphdenoise.datasets.pipeline`: node indices, duplicates, rating threshold, k-core and
  split (:func:`build_heterodata`), shared with every dataset loader.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
from torch_geometric.data import HeteroData

from graphdenoise.datasets.pipeline import build_heterodata
from graphdenoise.datasets.reading import (
    DEFAULT_COLUMNS,
    DEFAULT_POSITIONAL,
    read_interaction_file,
    resolve_columns,
    sniff_delimiter,
)
from graphdenoise.datasets.records import ATTRIBUTE_DTYPES, ID_ROLES, ROLES, Interactions
from graphdenoise.datasets.split import TRAIN, parse_split_labels
from graphdenoise.datasets.validation import Origin, as_numpy, convert_column, convert_columns, show

__all__ = [
    "ATTRIBUTE_DTYPES", "DEFAULT_COLUMNS", "DEFAULT_POSITIONAL", "ID_ROLES", "ROLES",
    "Interactions", "build_heterodata", "check_ids", "check_values", "from_interactions",
    "interactions_from_arrays", "interactions_from_dataframe", "read_interaction_file",
    "sniff_delimiter", "to_interactions",
]
_ARRAY_LABELS = {"user": "users", "item": "items", "rating": "rating", "timestamp": "timestamp",
                 "weight": "weight", "split": "split"}


def _single_column_origin(label: str, locate: Callable[[int], str]) -> Origin:
    return Origin(row=locate, value=lambda role, k: locate(k), column=lambda role: label)


def check_ids(values: Any, label: str, locate: Callable[[int], str]) -> np.ndarray:
    r"""Validates ids (see :mod:`~graphdenoise.datasets.validation`); returns ``int64``.
    ``label`` is ``"user"`` or ``"item"`` (any other label is checked as user ids)."""
    role = label if label in ID_ROLES else "user"
    return convert_column(values, role, _single_column_origin(label, locate))


def check_values(values: Any, label: str, locate: Callable[[int], str], integral: bool = False):
    r"""Validates a rating/weight (``float64``) or, if ``integral``, a timestamp (``int64``)
    column."""
    role = "timestamp" if integral else "rating"
    return convert_column(values, role, _single_column_origin(label, locate))


def _array_origin(name: str) -> Origin:
    prefix = f"{name}." if name else ""
    return Origin(row=lambda k: f"{prefix}interactions[{k}]",
                  value=lambda role, k: f"{prefix}{_ARRAY_LABELS[role]}[{k}]",
                  column=lambda role: f"{prefix}{_ARRAY_LABELS[role]}")


def interactions_from_arrays(users: Any, items: Any, rating: Any = None, timestamp: Any = None,
                             weight: Any = None, split: Any = None, name: str = "") -> Interactions:
    r"""Validated :class:`Interactions` from array-likes (lists, numpy arrays, tensors)."""
    columns = dict(user=users, item=items, rating=rating, timestamp=timestamp, weight=weight,
                   split=split)
    return convert_columns(columns, _array_origin(name), name or "input")


def interactions_from_dataframe(frame, columns: Optional[Mapping[str, str]] = None,
                                name: str = "DataFrame") -> Interactions:
    r"""Validated :class:`Interactions` from a :class:`pandas.DataFrame`; ``columns`` maps the roles
    ``user``/``item``/``rating``/``timestamp``/``weight``/``split`` to column names (defaults:
    the role names). ``user`` and ``item`` are required, the others are used when present."""
    mapping = resolve_columns(columns)
    for role in ID_ROLES:
        if mapping[role] not in frame.columns:
            raise ValueError(
                f"{name} has no column {mapping[role]!r} for the {role} ids (columns: "
                f"{list(frame.columns)}); pass columns={{'{role}': ...}}"
            )
    for role, column in (columns or {}).items():
        if column not in frame.columns:
            raise ValueError(
                f"{name} has no column {column!r} for {role!r} (columns: {list(frame.columns)})"
            )
    if len(frame) == 0:
        raise ValueError(f"{name}: empty input: no interactions")
    index = frame.index
    origin = Origin(
        row=lambda k: f"{name} row {k} (index {show(index[k])})",
        value=lambda role, k: f"{name} row {k} (index {show(index[k])}), column {mapping[role]!r}",
        column=lambda role: f"{name} column {mapping[role]!r}",
    )
    raw = {role: frame[mapping[role]].to_numpy() if mapping[role] in frame.columns else None
           for role in ROLES}
    return convert_columns(raw, origin, name)


def _is_dataframe(obj: Any) -> bool:
    pandas = sys.modules.get("pandas")  # no DataFrame exists before pandas was imported
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def _no_extra_columns(name: str, *values: Any) -> None:
    if any(v is not None for v in values):
        raise ValueError(
            f"{name}: items/rating/timestamp/weight arrays are only accepted next to a user-id "
            "array, not next to a file, DataFrame, tuple or dict"
        )


def _from_mapping(source: Mapping, name: str) -> Interactions:
    unknown = set(source) - set(ROLES)
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}; use {ROLES}")
    return interactions_from_arrays(*(source.get(role) for role in ROLES), name=name)


def to_interactions(source: Any, items: Any = None, rating: Any = None, timestamp: Any = None,
                    weight: Any = None, split: Any = None, *, columns=None,
                    delimiter: Optional[str] = None, header: Optional[bool] = None,
                    name: str = "input") -> Interactions:
    r"""Dispatches on the kind of ``source``: a path, a DataFrame, a tuple/dict of columns, or
    user ids (then ``items`` etc. are the other columns)."""
    if isinstance(source, Interactions):
        return source
    extra = (items, rating, timestamp, weight)
    if isinstance(source, (str, os.PathLike)):
        _no_extra_columns(name, *extra)
        out = read_interaction_file(source, columns=columns, delimiter=delimiter, header=header)
    elif _is_dataframe(source):
        _no_extra_columns(name, *extra)
        out = interactions_from_dataframe(source, columns=columns, name=name)
    elif isinstance(source, Mapping):
        _no_extra_columns(name, *extra)
        out = _from_mapping(source, name)
    elif items is None and isinstance(source, tuple):
        if not 2 <= len(source) <= 5:
            raise ValueError(
                f"{name}: a tuple must be (users, items[, rating[, timestamp[, weight]]]), "
                f"got {len(source)} entries"
            )
        out = interactions_from_arrays(*source, name=name)
    else:
        out = interactions_from_arrays(source, *extra, name=name)
    if split is not None:
        labels = parse_split_labels(as_numpy(split), where="split")
        if labels.shape[0] != len(out):
            raise ValueError(f"split has {labels.shape[0]} labels for {len(out)} interactions")
        out.split = labels
    return out


def _with_held_out(main: Interactions, val: Any, test: Any, options: dict) -> Interactions:
    r"""``main`` as the training part, concatenated with the explicit ``val`` / ``test`` parts."""
    parts, names = [main], ["train"]
    main.split = np.full(len(main), TRAIN, dtype=np.int8)
    for code, (part_name, part) in enumerate((("val", val), ("test", test)), start=1):
        if part is None:
            continue
        held_out = to_interactions(part, name=part_name, **options)
        held_out.split = np.full(len(held_out), code, dtype=np.int8)
        parts.append(held_out)
        names.append(part_name)
    return Interactions.concat(parts, names)


def _split_mode(split: Any, labels: Any, main: Interactions, explicit: bool) -> str:
    if explicit:
        if labels is not None or split == "ratio":
            raise ValueError("pass either val=/test= or split labels / split='ratio', not both")
        return "given"
    if labels is not None:
        return "given"
    if split is None:
        return "given" if main.split is not None else "ratio"
    if split in ("ratio", "given"):
        return split
    raise ValueError(
        f"split must be 'ratio', 'given' or per-interaction labels (train/val/test), got {split!r}"
    )


def from_interactions(
    users: Any,
    items: Any = None,
    rating: Any = None,
    timestamp: Any = None,
    weight: Any = None,
    *,
    split: Any = None,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    min_interactions: Optional[int] = None,
    rating_threshold: Optional[float] = None,
    test_users_must_have_train: bool = True,
    val: Any = None,
    test: Any = None,
    val_fraction: Optional[float] = None,
    columns: Optional[Union[Mapping[str, str], Sequence[Optional[str]]]] = None,
    delimiter: Optional[str] = None,
    header: Optional[bool] = None,
    num_users: Optional[int] = None,
    num_items: Optional[int] = None,
) -> HeteroData:
    r"""Builds the shared :class:`~torch_geometric.data.HeteroData` layout from your own implicit
    feedback.

    ``users`` is one of: an array-like of user ids (lists, numpy arrays, tensors; then ``items``,
    ``rating``, ``timestamp``, ``weight`` are aligned array-likes), a :class:`pandas.DataFrame`, a
    path to a delimited edge list (CSV/TSV/whitespace, UTF-8), a ``(users, items[, rating[,
    timestamp[, weight]]])`` tuple or a dict of columns. Ids must be integers in ``[0, 2**63)``;
    they are re-indexed to ``0..n-1`` (raw ids kept in ``data['user'].raw_id``) unless
    ``num_users`` / ``num_items`` are given.

    The split is given by ``val=`` / ``test=`` inputs (then ``users`` is the training part), by
    per-interaction labels (``train``/``val``/``test`` or ``0``/``1``/``2``) or a ``split``
    column, else it is a per-user random ``"ratio"`` split. Duplicates and filters: see
    :mod:`~graphdenoise.datasets.pipeline`. Invalid input raises a :class:`ValueError`
    (:class:`TypeError` for an argument of the wrong type, :class:`FileNotFoundError` for a
    missing file) saying what is wrong and where (``file line N`` for files).

    Args:
        users: User ids, or the whole input (see above).
        items (array-like, optional): Item ids. (default: :obj:`None`)
        rating (array-like, optional): Ratings. (default: :obj:`None`)
        timestamp (array-like, optional): Integer timestamps. (default: :obj:`None`)
        weight (array-like, optional): Weights, e.g. play counts. (default: :obj:`None`)
        split (str or array-like, optional): ``"ratio"``, ``"given"`` or labels.
            (default: :obj:`None`)
        ratios (tuple of float, optional): ``(train, val, test)`` shares for ``"ratio"``.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)
        min_interactions (int, optional): Iterative k-core threshold. (default: :obj:`None`)
        rating_threshold (float, optional): Keep interactions rated ``>=`` this. (default: :obj:`None`)
        test_users_must_have_train (bool, optional): Refuse a given split in which a user has
            validation/test interactions but no training one. (default: :obj:`True`)
        val (optional): Explicit validation interactions. (default: :obj:`None`)
        test (optional): Explicit test interactions. (default: :obj:`None`)
        val_fraction (float, optional): With a given split, move this share of every user's
            training interactions to validation (round half up, at least one stays in training).
            (default: :obj:`None`)
        columns (dict or sequence, optional): Column names per role for DataFrames and files with a
            header (defaults ``user``, ``item``, ``rating``, ``timestamp``, ``weight``,
            ``split``), or one role per column for header-less files. (default: :obj:`None`)
        delimiter (str, optional): File delimiter, sniffed if :obj:`None`. (default: :obj:`None`)
        header (bool, optional): Whether files have a header line, detected if :obj:`None`.
            (default: :obj:`None`)
        num_users (int, optional): Users, if ids are already ``0..n-1``. (default: :obj:`None`)
        num_items (int, optional): Items likewise. (default: :obj:`None`)
    """
    options = dict(columns=columns, delimiter=delimiter, header=header)
    labels = None if split is None or isinstance(split, str) else split
    explicit = val is not None or test is not None
    main = to_interactions(users, items, rating, timestamp, weight, labels,
                           name="train" if explicit else "input", **options)
    mode = _split_mode(split, labels, main, explicit)
    if explicit:
        main = _with_held_out(main, val, test, options)
    return build_heterodata(
        main, split=mode, ratios=ratios, seed=seed, min_interactions=min_interactions,
        rating_threshold=rating_threshold, val_fraction=val_fraction,
        test_users_must_have_train=test_users_must_have_train, num_users=num_users,
        num_items=num_items,
    )
