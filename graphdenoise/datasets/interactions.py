r"""Turning user-item interactions (arrays, a :class:`pandas.DataFrame` or a CSV/TSV edge list) into
the shared :class:`~torch_geometric.data.HeteroData` layout of ``docs/data-schema.md``.

One pipeline serves :func:`from_interactions` and every dataset loader
(:func:`build_heterodata`):

1. node ids: every raw id that occurs (or is listed as known) becomes a node; ids are mapped to
   ``0..n-1`` in increasing raw-id order and the mapping is kept in ``data['user'].raw_id`` /
   ``data['item'].raw_id``;
2. duplicates: repeated ``(user, item)`` pairs are collapsed into one interaction that keeps the
   **maximum rating**, the **latest timestamp** and the **summed weight**; a pair that occurs in
   several given splits is kept in the earliest one (train, then validation, then test), so the
   splits stay disjoint. The number of removed rows is stored as
   ``data.num_duplicates_collapsed`` and announced by a :class:`UserWarning`;
3. ``rating_threshold``: rows rated below it are dropped (they are not positives);
4. ``min_interactions``: iterative k-core filtering
   (:func:`~graphdenoise.datasets.split.k_core_mask`) on the positives of all splits together;
   nodes left without interactions are dropped;
5. the split: ``"ratio"`` (per-user random, :func:`~graphdenoise.datasets.split.ratio_split`) or
   ``"given"`` (labels from the input, optionally with validation carved out of training).

Parsing is vectorised (numpy/pandas); a line-by-line scanner only runs when the vectorised
parse of a file failed, to name the file and the 1-based line number of the first bad line.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphdenoise.datasets.graph import SPLITS, make_heterodata
from graphdenoise.datasets.split import (
    SPLIT_CODES,
    SPLIT_NAMES,
    TRAIN,
    carve_validation,
    check_ratios,
    k_core_mask,
    parse_split_labels,
    ratio_split,
    sorted_unique,
)

ROLES = ("user", "item", "rating", "timestamp", "weight", "split")
ID_ROLES = ("user", "item")
DEFAULT_COLUMNS: Dict[str, str] = {role: role for role in ROLES}
DEFAULT_POSITIONAL = ("user", "item", "rating", "timestamp")
ATTRIBUTE_DTYPES = {"rating": torch.float32, "timestamp": torch.long, "weight": torch.float32}


@dataclass
class Interactions:
    r"""A flat list of interactions with raw (not yet re-indexed) ids.

    Args:
        users (numpy.ndarray): Raw user id per interaction (``int64``, non-negative).
        items (numpy.ndarray): Raw item id per interaction.
        rating (numpy.ndarray, optional): ``float64`` rating per interaction.
        timestamp (numpy.ndarray, optional): ``int64`` timestamp per interaction.
        weight (numpy.ndarray, optional): ``float64`` weight (e.g. listen count).
        split (numpy.ndarray, optional): ``int8`` split code (``0`` train, ``1`` val, ``2`` test).
        user_ids (numpy.ndarray, optional): All raw user ids known to exist, also those without an
            interaction (they still become nodes).
        item_ids (numpy.ndarray, optional): Same for items.
        locate (callable, optional): Maps a row number to a human-readable origin
            (``"test.csv line 17"``) for error messages.
    """
    users: np.ndarray
    items: np.ndarray
    rating: Optional[np.ndarray] = None
    timestamp: Optional[np.ndarray] = None
    weight: Optional[np.ndarray] = None
    split: Optional[np.ndarray] = None
    user_ids: Optional[np.ndarray] = None
    item_ids: Optional[np.ndarray] = None
    locate: Optional[Callable[[int], str]] = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def where(self, row: int) -> str:
        return self.locate(row) if self.locate is not None else f"row {row}"

    @staticmethod
    def concat(parts: Sequence["Interactions"], names: Sequence[str]) -> "Interactions":
        r"""Concatenates ``parts`` (named ``names`` in error messages) row-wise."""
        out: Dict[str, Any] = {}
        for attr in ("users", "items", "rating", "timestamp", "weight", "split"):
            values = [getattr(part, attr) for part in parts]
            present = [v is not None for v in values]
            if all(present):
                out[attr] = np.concatenate(values)
            elif any(present):
                have = [n for n, p in zip(names, present) if p]
                lack = [n for n, p in zip(names, present) if not p]
                raise ValueError(
                    f"{attr!r} is given for {', '.join(have)} but not for {', '.join(lack)}; "
                    f"give it for every part or for none"
                )
        for attr in ("user_ids", "item_ids"):
            values = [getattr(part, attr) for part in parts if getattr(part, attr) is not None]
            out[attr] = np.concatenate(values) if values else None
        offsets = np.cumsum([0] + [len(part) for part in parts])

        def locate(row: int) -> str:
            index = int(np.searchsorted(offsets, row, side="right") - 1)
            return parts[index].where(row - int(offsets[index]))

        return Interactions(locate=locate, **out)


# --------------------------------------------------------------------------------------------
# Validation of columns
# --------------------------------------------------------------------------------------------
def _to_numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _show(value: Any) -> str:
    """``repr`` of a numpy scalar as the plain Python value (``-2``, not ``np.int64(-2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _numeric(array: np.ndarray, label: str, locate: Callable[[int], str]) -> np.ndarray:
    r"""``array`` as ``float64`` or ``int64``; names the first non-numeric entry otherwise."""
    if array.ndim != 1:
        raise ValueError(f"{label} must be one-dimensional, got shape {tuple(array.shape)}")
    if array.dtype.kind == "b":
        raise ValueError(f"{label} must be numbers, got booleans")
    if array.dtype.kind in "iuf":
        return array
    import pandas as pd

    converted = pd.to_numeric(pd.Series(array, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64
    )
    original_missing = pd.isna(pd.Series(array, dtype=object)).to_numpy()
    bad = np.flatnonzero(np.isnan(converted) & ~original_missing)
    if bad.size:
        raise ValueError(f"{locate(int(bad[0]))}: {_show(array[bad[0]])} is not a number")
    return converted


def check_ids(values: Any, label: str, locate: Callable[[int], str]) -> np.ndarray:
    r"""Validates ids: numeric, not NaN, integral, non-negative. Returns ``int64``."""
    array = _numeric(_to_numpy(values), label, locate)
    if array.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(array))
        if nan.size:
            raise ValueError(f"{locate(int(nan[0]))}: {label} id is NaN (missing)")
        fractional = np.flatnonzero(~np.isfinite(array) | (array != np.floor(array)))
        if fractional.size:
            k = int(fractional[0])
            raise ValueError(f"{locate(k)}: {label} id {_show(array[k])} is not an integer")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        k = int(negative[0])
        raise ValueError(f"{locate(k)}: {label} id {_show(array[k])} is negative; ids must be >= 0")
    return array.astype(np.int64)


def check_values(values: Any, label: str, locate: Callable[[int], str], integral: bool = False):
    r"""Validates a rating/weight/timestamp column: numeric and finite (``integral`` for
    timestamps). Returns ``int64`` if ``integral`` else ``float64``."""
    array = _numeric(_to_numpy(values), label, locate)
    if array.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(array))
        if nan.size:
            raise ValueError(f"{locate(int(nan[0]))}: {label} is NaN (missing)")
        infinite = np.flatnonzero(~np.isfinite(array))
        if infinite.size:
            raise ValueError(f"{locate(int(infinite[0]))}: {label} is infinite")
        if integral:
            fractional = np.flatnonzero(array != np.floor(array))
            if fractional.size:
                k = int(fractional[0])
                raise ValueError(f"{locate(k)}: {label} {_show(array[k])} is not an integer")
    return array.astype(np.int64 if integral else np.float64)


def _check_lengths(columns: Mapping[str, Optional[np.ndarray]], where: str) -> None:
    lengths = {name: len(v) for name, v in columns.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{where}: columns have different lengths: {lengths}")


# --------------------------------------------------------------------------------------------
# Arrays and DataFrames
# --------------------------------------------------------------------------------------------
def interactions_from_arrays(
    users: Any,
    items: Any,
    rating: Any = None,
    timestamp: Any = None,
    weight: Any = None,
    split: Any = None,
    name: str = "",
) -> Interactions:
    r"""Validated :class:`Interactions` from array-likes (lists, numpy arrays, tensors)."""
    prefix = f"{name}." if name else ""
    if users is None or items is None:
        raise ValueError(f"{name or 'input'}: both users and items are required")

    def at(label: str) -> Callable[[int], str]:
        return lambda k: f"{prefix}{label}[{k}]"

    user_array = check_ids(users, "user", at("users"))
    item_array = check_ids(items, "item", at("items"))
    out = Interactions(users=user_array, items=item_array, locate=at("interactions"))
    if rating is not None:
        out.rating = check_values(rating, "rating", at("rating"))
    if timestamp is not None:
        out.timestamp = check_values(timestamp, "timestamp", at("timestamp"), integral=True)
    if weight is not None:
        out.weight = check_values(weight, "weight", at("weight"))
    if split is not None:
        out.split = parse_split_labels(_to_numpy(split), where=f"{prefix}split")
    _check_lengths(
        {"users": out.users, "items": out.items, "rating": out.rating,
         "timestamp": out.timestamp, "weight": out.weight, "split": out.split},
        name or "input",
    )
    if len(out) == 0:
        raise ValueError(f"{name or 'input'}: empty input: no interactions")
    return out


def _resolve_columns(columns: Optional[Mapping[str, str]]) -> Dict[str, str]:
    mapping = dict(DEFAULT_COLUMNS)
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise ValueError(
                "columns must map roles to column names (e.g. {'user': 'userID'}) for a "
                f"DataFrame or a file with a header, got {columns!r}"
            )
        unknown = set(columns) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown column role(s) {sorted(unknown)}; roles are {ROLES}")
        mapping.update(columns)
    return mapping


def interactions_from_dataframe(
    frame, columns: Optional[Mapping[str, str]] = None, name: str = "DataFrame"
) -> Interactions:
    r"""Validated :class:`Interactions` from a :class:`pandas.DataFrame`; ``columns`` maps the roles
    ``user``/``item``/``rating``/``timestamp``/``weight``/``split`` to column names (defaults:
    the role names). ``user`` and ``item`` are required, the others are used when present."""
    mapping = _resolve_columns(columns)
    for role in ID_ROLES:
        if mapping[role] not in frame.columns:
            raise ValueError(
                f"{name} has no column {mapping[role]!r} for the {role} ids (columns: "
                f"{list(frame.columns)}); pass columns={{'{role}': ...}}"
            )
    if columns is not None:
        for role, column in columns.items():
            if column not in frame.columns:
                raise ValueError(
                    f"{name} has no column {column!r} for {role!r} (columns: {list(frame.columns)})"
                )
    if len(frame) == 0:
        raise ValueError(f"{name}: empty input: no interactions")
    index = frame.index

    def at(column: str) -> Callable[[int], str]:
        return lambda k: f"{name} row {k} (index {index[k]!r}), column {column!r}"

    def get(role: str):
        column = mapping[role]
        return frame[column].to_numpy() if column in frame.columns else None

    out = Interactions(
        users=check_ids(get("user"), "user", at(mapping["user"])),
        items=check_ids(get("item"), "item", at(mapping["item"])),
        locate=lambda k: f"{name} row {k} (index {index[k]!r})",
    )
    if get("rating") is not None:
        out.rating = check_values(get("rating"), "rating", at(mapping["rating"]))
    if get("timestamp") is not None:
        out.timestamp = check_values(
            get("timestamp"), "timestamp", at(mapping["timestamp"]), integral=True
        )
    if get("weight") is not None:
        out.weight = check_values(get("weight"), "weight", at(mapping["weight"]))
    if get("split") is not None:
        out.split = parse_split_labels(get("split"), where=f"{name} column {mapping['split']!r}")
    return out


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff_delimiter(line: str) -> Optional[str]:
    r"""The delimiter of a data line: tab, comma, semicolon or pipe if present, else ``None``
    (runs of whitespace)."""
    for candidate in ("\t", ",", ";", "|"):
        if candidate in line:
            return candidate
    return None


def _split_fields(line: str, delimiter: Optional[str]) -> List[str]:
    if delimiter is None:
        return line.split()
    return [part.strip() for part in line.split(delimiter)]


def _describe_delimiter(delimiter: Optional[str]) -> str:
    return {None: "whitespace", "\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(
        delimiter, repr(delimiter)
    )


def _field_error(role: str, text: str) -> Optional[str]:
    r"""Why ``text`` is not a valid value for ``role`` (``None`` if it is)."""
    if role == "split":
        if text.strip().lower() in SPLIT_CODES or text.strip() in ("0", "1", "2"):
            return None
        return f"split label {text!r} is not one of train/val/valid/validation/test or 0/1/2"
    if text == "":
        return f"{role} is empty (missing)"
    try:
        value = float(text)
    except ValueError:
        return f"{role} {text!r} is not a number"
    if np.isnan(value):
        return f"{role} is NaN (missing)"
    if not np.isfinite(value):
        return f"{role} {text!r} is infinite"
    if role in ID_ROLES or role == "timestamp":
        if value != np.floor(value):
            return f"{role} {'id ' if role in ID_ROLES else ''}{text!r} is not an integer"
    if role in ID_ROLES and value < 0:
        return f"{role} id {text!r} is negative; ids must be >= 0"
    return None


@dataclass
class _FileLayout:
    path: Path
    delimiter: Optional[str]
    skip_lines: int  # lines before the first data line (leading blank lines and the header)
    num_columns: int
    roles: Dict[str, int]  # role -> 0-based column position

    @property
    def name(self) -> str:
        return self.path.name


def _file_layout(
    path: Path,
    columns: Optional[Union[Mapping[str, str], Sequence[Optional[str]]]],
    delimiter: Optional[str],
    header: Optional[bool],
) -> _FileLayout:
    name = path.name
    first_line, first_number = None, 0
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                first_line, first_number = line.rstrip("\r\n"), number
                break
    if first_line is None:
        raise ValueError(f"{name}: empty input: no interactions")
    if delimiter is None:
        delimiter = sniff_delimiter(first_line)
    fields = _split_fields(first_line, delimiter)
    if header is None:
        header = not _is_number(fields[0])
    num_columns = len(fields)
    roles: Dict[str, int] = {}
    if columns is not None and not isinstance(columns, Mapping):  # positional roles
        positional = list(columns)
        if len(positional) != num_columns:
            raise ValueError(
                f"{name} line {first_number}: columns={tuple(positional)} names "
                f"{len(positional)} columns, the file has {num_columns}"
            )
        for position, role in enumerate(positional):
            if role is None or role == "_":
                continue
            if role not in ROLES:
                raise ValueError(f"unknown column role {role!r}; roles are {ROLES}")
            roles[role] = position
    elif header:
        mapping = _resolve_columns(columns)
        names = [f.strip().strip('"').strip("'") for f in fields]
        for role, column in mapping.items():
            if column in names:
                roles[role] = names.index(column)
            elif role in ID_ROLES or (columns is not None and role in columns):
                raise ValueError(
                    f"{name} line {first_number}: the header {names} has no column {column!r} "
                    f"for {role!r}; pass columns={{'{role}': ...}}"
                )
    else:
        if columns is not None:
            raise ValueError(
                f"{name} has no header line, so columns must be a sequence of roles "
                f"(e.g. ('user', 'item', 'rating')), got {columns!r}"
            )
        if num_columns > len(DEFAULT_POSITIONAL):
            raise ValueError(
                f"{name} line {first_number}: {num_columns} columns without a header; pass "
                f"columns=(...) naming each column's role ({', '.join(ROLES)} or None)"
            )
        if num_columns < 2:
            raise ValueError(
                f"{name} line {first_number}: expected at least 2 "
                f"{_describe_delimiter(delimiter)}-separated columns (user item), found "
                f"{num_columns}: {first_line!r}"
            )
        roles = {role: k for k, role in enumerate(DEFAULT_POSITIONAL[:num_columns])}
    skip = first_number if header else first_number - 1
    return _FileLayout(path, delimiter, skip, num_columns, roles)


def _scan_for_error(layout: _FileLayout) -> None:
    r"""Line-by-line validator, run only after the vectorised parse failed: raises a
    :class:`ValueError` naming the file and the 1-based number of the first bad line."""
    described = _describe_delimiter(layout.delimiter)
    role_names = {position: role for role, position in layout.roles.items()}
    expected = " ".join(role_names.get(k, "_") for k in range(layout.num_columns))
    with open(layout.path, "r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number <= layout.skip_lines:
                continue
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = _split_fields(text, layout.delimiter)
            if len(fields) != layout.num_columns:
                raise ValueError(
                    f"{layout.name} line {number}: expected {layout.num_columns} "
                    f"{described}-separated columns ({expected}), found {len(fields)}: {text!r}"
                )
            for role, position in layout.roles.items():
                problem = _field_error(role, fields[position])
                if problem is not None:
                    raise ValueError(f"{layout.name} line {number}: {problem}: {text!r}")


def _line_locator(layout: _FileLayout) -> Callable[[int], str]:
    r"""Maps a data row to ``"file line N"``; reads the file (once, lazily) to skip blank lines."""
    cache: Dict[str, np.ndarray] = {}

    def locate(row: int) -> str:
        if "lines" not in cache:
            with open(layout.path, "r", encoding="utf-8", errors="replace") as handle:
                numbers = [
                    number
                    for number, line in enumerate(handle, start=1)
                    if number > layout.skip_lines and line.strip()
                ]
            cache["lines"] = np.asarray(numbers, dtype=np.int64)
        return f"{layout.name} line {int(cache['lines'][row])}"

    return locate


def read_interaction_file(
    path: Union[str, os.PathLike],
    columns: Optional[Union[Mapping[str, str], Sequence[Optional[str]]]] = None,
    delimiter: Optional[str] = None,
    header: Optional[bool] = None,
) -> Interactions:
    r"""Reads a delimited edge list (CSV, TSV, whitespace) into validated :class:`Interactions`.

    Args:
        path (str or os.PathLike): The file.
        columns (dict or sequence, optional): With a header line: a mapping from role
            (``user``, ``item``, ``rating``, ``timestamp``, ``weight``, ``split``) to column name
            (defaults: the role names; ``user`` and ``item`` required, others used if present).
            Without a header: one role (or :obj:`None` to ignore) per column. Header-less files
            default to ``user item [rating [timestamp]]``. (default: :obj:`None`)
        delimiter (str, optional): Column separator; sniffed from the first data line (tab,
            comma, semicolon, pipe, else whitespace) if :obj:`None`. (default: :obj:`None`)
        header (bool, optional): Whether the first non-blank line is a header; detected (first
            field not a number) if :obj:`None`. (default: :obj:`None`)
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"interaction file {str(path)!r} does not exist")
    layout = _file_layout(path, columns, delimiter, header)
    dtypes = {layout.roles["split"]: str} if "split" in layout.roles else None
    try:
        frame = pd.read_csv(
            path,
            sep=layout.delimiter if layout.delimiter is not None else r"\s+",
            header=None,
            names=list(range(layout.num_columns)),
            skiprows=layout.skip_lines,
            skip_blank_lines=True,
            dtype=dtypes,
            engine="c",
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
        _scan_for_error(layout)
        raise
    if len(frame) == 0:
        raise ValueError(f"{layout.name}: empty input: no interactions")

    def column(role: str) -> Optional[np.ndarray]:
        return frame[layout.roles[role]].to_numpy() if role in layout.roles else None

    try:
        out = Interactions(
            users=check_ids(column("user"), "user", lambda k: f"{layout.name} row {k}"),
            items=check_ids(column("item"), "item", lambda k: f"{layout.name} row {k}"),
        )
        for role in ("rating", "timestamp", "weight"):
            values = column(role)
            if values is not None:
                setattr(out, role, check_values(
                    values, role, lambda k: f"{layout.name} row {k}", integral=role == "timestamp"
                ))
        if "split" in layout.roles:
            out.split = parse_split_labels(column("split"), where=layout.name)
    except ValueError:
        _scan_for_error(layout)  # names the line; the vectorised message only knows the row
        raise
    out.locate = _line_locator(layout)
    return out


def to_interactions(
    source: Any,
    items: Any = None,
    rating: Any = None,
    timestamp: Any = None,
    weight: Any = None,
    split: Any = None,
    *,
    columns=None,
    delimiter: Optional[str] = None,
    header: Optional[bool] = None,
    name: str = "input",
) -> Interactions:
    r"""Dispatches on the kind of ``source``: a path, a DataFrame, a tuple/dict of columns, or
    user ids (then ``items`` etc. are the other columns)."""
    if isinstance(source, Interactions):
        return source
    if isinstance(source, (str, os.PathLike)):
        _no_extra_columns(name, items, rating, timestamp, weight)
        out = read_interaction_file(source, columns=columns, delimiter=delimiter, header=header)
    elif _is_dataframe(source):
        _no_extra_columns(name, items, rating, timestamp, weight)
        out = interactions_from_dataframe(source, columns=columns, name=name)
    elif isinstance(source, Mapping):
        _no_extra_columns(name, items, rating, timestamp, weight)
        unknown = set(source) - set(ROLES)
        if unknown:
            raise ValueError(f"{name}: unknown keys {sorted(unknown)}; use {ROLES}")
        out = interactions_from_arrays(
            source.get("user"), source.get("item"), source.get("rating"),
            source.get("timestamp"), source.get("weight"), source.get("split"), name=name,
        )
    elif items is None and isinstance(source, tuple):
        if not 2 <= len(source) <= 5:
            raise ValueError(
                f"{name}: a tuple must be (users, items[, rating[, timestamp[, weight]]]), "
                f"got {len(source)} entries"
            )
        out = interactions_from_arrays(*source, name=name)
    else:
        out = interactions_from_arrays(source, items, rating, timestamp, weight, name=name)
    if split is not None:
        labels = parse_split_labels(_to_numpy(split), where="split")
        if labels.shape[0] != len(out):
            raise ValueError(f"split has {labels.shape[0]} labels for {len(out)} interactions")
        out.split = labels
    return out


def _is_dataframe(obj: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, pd.DataFrame)


def _no_extra_columns(name: str, *values: Any) -> None:
    if any(v is not None for v in values):
        raise ValueError(
            f"{name}: items/rating/timestamp/weight arrays are only accepted next to a user-id "
            "array, not next to a file, DataFrame, tuple or dict"
        )


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------
def _node_index(
    ids: np.ndarray, known: Optional[np.ndarray], num: Optional[int], role: str,
    locate: Callable[[int], str],
) -> Tuple[np.ndarray, np.ndarray]:
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
    if split not in ("ratio", "given"):
        raise ValueError(f"split must be 'ratio' or 'given', got {split!r}")
    ratios = check_ratios(ratios)
    if len(interactions) == 0:
        raise ValueError("empty input: no interactions")
    if split == "given" and interactions.split is None:
        raise ValueError(
            "split='given' needs split labels (a split column, split=labels, or val=/test= inputs)"
        )
    locate = interactions.where
    user_raw, users = _node_index(
        interactions.users, interactions.user_ids, num_users, "user", locate
    )
    item_raw, items = _node_index(
        interactions.items, interactions.item_ids, num_items, "item", locate
    )
    num_u, num_i = user_raw.shape[0], item_raw.shape[0]
    labels = (
        interactions.split.astype(np.int8)
        if split == "given"
        else np.zeros(len(interactions), dtype=np.int8)
    )
    attributes = {
        name: getattr(interactions, name)
        for name in ("rating", "timestamp", "weight")
        if getattr(interactions, name) is not None
    }

    # 2. collapse duplicate pairs: the earliest split wins, max rating, latest time, summed weight
    pair = users * num_i + items
    order = np.lexsort((labels, pair))
    sorted_pair = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])
    rows = order[starts]
    num_duplicates = len(interactions) - starts.shape[0]
    reducers = {"rating": np.maximum, "timestamp": np.maximum, "weight": np.add}
    attributes = {
        name: reducers[name].reduceat(value[order], starts) for name, value in attributes.items()
    }
    users, items, labels = users[rows], items[rows], labels[rows]
    if num_duplicates:
        warnings.warn(
            f"collapsed {num_duplicates} duplicate (user, item) interaction(s) (kept: max rating, "
            "latest timestamp, summed weight, earliest split); see data.num_duplicates_collapsed",
            UserWarning,
            stacklevel=3,
        )

    def keep_only(mask: np.ndarray):
        nonlocal users, items, labels, rows, attributes
        users, items, labels, rows = users[mask], items[mask], labels[mask], rows[mask]
        attributes = {name: value[mask] for name, value in attributes.items()}

    # 3. rating threshold
    if rating_threshold is not None:
        if "rating" not in attributes:
            raise ValueError("rating_threshold is set but the interactions carry no rating")
        keep_only(attributes["rating"] >= rating_threshold)
        if users.shape[0] == 0:
            raise ValueError(f"no interaction is rated >= rating_threshold={rating_threshold}")

    # 4. iterative k-core, then drop nodes without interactions
    if min_interactions is not None and min_interactions > 1:
        keep_only(k_core_mask(users, items, num_u, num_i, min_interactions))
        if users.shape[0] == 0:
            raise ValueError(
                f"no interaction survives k-core filtering with min_interactions={min_interactions}"
            )
        kept_users, users = np.unique(users, return_inverse=True)
        kept_items, items = np.unique(items, return_inverse=True)
        user_raw, item_raw = user_raw[kept_users], item_raw[kept_items]
        num_u, num_i = kept_users.shape[0], kept_items.shape[0]

    # 5. split
    if split == "ratio":
        labels = ratio_split(users, items, num_u, num_i, ratios, seed)
    elif val_fraction:
        labels = carve_validation(users, items, labels, num_u, num_i, val_fraction, seed)
    if test_users_must_have_train:
        has_train = np.bincount(users[labels == TRAIN], minlength=num_u) > 0
        orphan = np.flatnonzero((labels != TRAIN) & ~has_train[users])
        if orphan.size:
            k = int(orphan[0])
            count = sorted_unique(users[orphan]).shape[0]
            raise ValueError(
                f"{count} user(s) have {SPLIT_NAMES[1]}/{SPLIT_NAMES[2]} interactions but no "
                f"training interaction, e.g. user {user_raw[users[k]]} ({SPLIT_NAMES[labels[k]]} "
                f"interaction with item {item_raw[items[k]]} at {locate(int(rows[k]))}); give "
                "these users training interactions, drop them, or pass "
                "test_users_must_have_train=False"
            )

    edges, edge_attrs = {}, {}
    for code, split_name in enumerate(SPLITS):
        mask = labels == code
        edges[split_name] = torch.from_numpy(np.stack([users[mask], items[mask]]))
        edge_attrs[split_name] = {
            name: torch.from_numpy(value[mask]).to(ATTRIBUTE_DTYPES[name])
            for name, value in attributes.items()
        }
    data = make_heterodata(
        num_u, num_i, edges, edge_attrs,
        user_raw_id=torch.from_numpy(user_raw), item_raw_id=torch.from_numpy(item_raw),
    )
    data.num_duplicates_collapsed = int(num_duplicates)
    return data


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
    path to a delimited edge list (CSV/TSV/whitespace), a ``(users, items[, rating[, timestamp[,
    weight]]])`` tuple or a dict of columns. Ids must be non-negative integers; they are
    re-indexed to ``0..n-1`` (raw ids kept in ``data['user'].raw_id``) unless ``num_users`` /
    ``num_items`` are given.

    The split is chosen as follows:

    * ``val=`` and/or ``test=`` given (same kinds of input as ``users``): ``users`` holds the
      training interactions and the split is taken as given;
    * ``split`` an array-like of per-interaction labels (``train``/``val``/``test`` or
      ``0``/``1``/``2``), or ``split="given"`` with a ``split`` column in the DataFrame/file;
    * ``split="ratio"`` (the default when there is nothing to take as given): per-user random split
      with ``ratios`` and ``seed``.

    With a given split, a user with validation/test interactions but no training interaction is an
    error (``test_users_must_have_train``). Duplicate ``(user, item)`` pairs are collapsed (max
    rating, latest timestamp, summed weight, earliest split), counted in
    ``data.num_duplicates_collapsed`` and announced by a :class:`UserWarning`. Invalid input raises
    a :class:`ValueError` that says what is wrong and where (``file line N`` for files).

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
        rating_threshold (float, optional): Only interactions rated ``>=`` this are positives.
            (default: :obj:`None`)
        test_users_must_have_train (bool, optional): See above. (default: :obj:`True`)
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
        num_users (int, optional): Number of users if ids are already ``0..n-1``.
            (default: :obj:`None`)
        num_items (int, optional): Number of items likewise. (default: :obj:`None`)
    """
    options = dict(columns=columns, delimiter=delimiter, header=header)
    labels = None if split is None or isinstance(split, str) else split
    main = to_interactions(
        users, items, rating, timestamp, weight, labels,
        name="train" if (val is not None or test is not None) else "input", **options,
    )
    if val is not None or test is not None:
        if labels is not None or split == "ratio":
            raise ValueError("pass either val=/test= or split labels / split='ratio', not both")
        parts, names = [main], ["train"]
        main.split = np.full(len(main), TRAIN, dtype=np.int8)
        for code, (part_name, part) in enumerate((("val", val), ("test", test)), start=1):
            if part is None:
                continue
            held_out = to_interactions(part, name=part_name, **options)
            held_out.split = np.full(len(held_out), code, dtype=np.int8)
            parts.append(held_out)
            names.append(part_name)
        main = Interactions.concat(parts, names)
        mode = "given"
    elif labels is not None:
        mode = "given"
    elif split is None:
        mode = "given" if main.split is not None else "ratio"
    elif split in ("ratio", "given"):
        mode = split
    else:
        raise ValueError(f"split must be 'ratio', 'given' or per-interaction labels, got {split!r}")
    return build_heterodata(
        main,
        split=mode,
        ratios=ratios,
        seed=seed,
        min_interactions=min_interactions,
        rating_threshold=rating_threshold,
        val_fraction=val_fraction,
        test_users_must_have_train=test_users_must_have_train,
        num_users=num_users,
        num_items=num_items,
    )
