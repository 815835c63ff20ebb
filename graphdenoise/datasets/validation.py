r"""The one validation step of user input: raw columns (array-likes, DataFrame columns or the text
fields of a file) become typed, checked :class:`~graphdenoise.datasets.records.Interactions`.

Every column goes through :func:`convert_column`, whatever its source, so a value means the same
in a list, a tensor, a DataFrame and a file:

* ids (``user``, ``item``) become ``int64`` and must be integers in ``[0, 2**63)``. Python ints
  and integer text are read exactly (``"18446744073709551616"`` is refused as too large, never
  wrapped); a binary float id must be integral and below the first integer its float type
  cannot tell from its neighbour (``2**53`` for ``float64``, ``2**24`` for ``float32``);
  ``float16``/``bfloat16`` tensors, booleans, complex numbers and bytes are refused;
* ``timestamp`` becomes ``int64`` with the same rules (negative values allowed);
* ``rating`` and ``weight`` become finite ``float64`` (stored as ``float32`` on the edge store);
* ``split`` labels go through :func:`~graphdenoise.datasets.split.parse_split_labels`.

Text is read exactly: integers as Python's :func:`int` reads them, other numbers as an exact
:class:`~decimal.Decimal` (``"12.0"`` is the id 12, ``"9007199254740993.0"`` is that integer,
``"4503599627370496.5"`` is no integer), ratings and weights as :func:`float` reads them;
surrounding whitespace is allowed.
Columns are converted by vectorised numpy casts; only when a cast fails or a check finds a bad
value is the column scanned element by element, to name the first bad entry and say why.
Errors are :class:`ValueError`\ s that start with where the value is (``users[3]``,
``DataFrame row 2 (index 'c'), column 'item'``, ``plays.csv line 17``).
"""
from __future__ import annotations

import numbers
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from graphdenoise.datasets.records import ID_ROLES, Interactions
from graphdenoise.datasets.split import parse_split_labels

ID_LIMIT = 2**63 - 1
INT64_MIN = -(2**63)
_HALF_TENSORS = (torch.float16, torch.bfloat16)


class Origin:
    r"""Where the rows of a column set come from, for error messages.

    Args:
        row (callable): Row ``k`` -> ``"input interactions[k]"``, ``"a.csv line 3"``, ...
        value (callable): ``(role, k)`` -> where one value is (names the column if it can).
        column (callable): ``role`` -> the column as a whole (for dtype errors).
        qualify (bool): Whether messages must name the role (the location does not).
        context (callable, optional): Row ``k`` -> text appended to messages (the file line).
    """

    def __init__(self, row: Callable[[int], str], value: Callable[[str, int], str],
                 column: Callable[[str], str], qualify: bool = False,
                 context: Optional[Callable[[int], str]] = None) -> None:
        self.row, self.value, self.column, self.qualify = row, value, column, qualify
        self.context = context

    def error(self, role: str, k: int, problem: str) -> ValueError:
        suffix = self.context(k) if self.context is not None else ""
        return ValueError(f"{self.value(role, k)}: {problem}{suffix}")


class _Bad(Exception):
    """Internal: why one element is not valid for its role."""


def show(value: Any, limit: int = 80) -> str:
    r"""``repr`` of a value as the user wrote it (``-2``, not ``np.int64(-2)``), shortened to
    ``limit`` characters."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _noun(role: str) -> str:
    return f"{role} id" if role in ID_ROLES else role


def _integral(role: str) -> bool:
    return role in ID_ROLES or role == "timestamp"


def _exact_limit(value: Any) -> int:
    r"""The largest integer up to which every integer is exactly representable in ``value``'s
    float type."""
    dtype = value.dtype if isinstance(value, (np.ndarray, np.generic)) else np.float64
    return 2 ** (int(np.finfo(dtype).nmant) + 1)


# --------------------------------------------------------------------------------------------
# One element (the authoritative rules; the vectorised paths below must agree with them)
# --------------------------------------------------------------------------------------------
def _parse_element(value: Any, role: str, qualify: bool) -> Any:
    r"""``value`` as a Python ``int`` or ``float`` (before the role's checks), or :class:`_Bad`."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        raise _Bad(f"{_noun(role)} is NaN (missing)")
    kind = None
    if isinstance(value, (bool, np.bool_)):
        kind = "a boolean, not a number"
    elif isinstance(value, (bytes, np.bytes_)):
        kind = "bytes, not a number (decode it to str first)"
    elif isinstance(value, (complex, np.complexfloating)):
        kind = "complex, not a real number"
    if kind is not None:
        raise _Bad(f"{_noun(role)} {show(value)} is {kind}")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _Bad(f"{role} is empty (missing)")
        try:
            return int(text)
        except ValueError:
            pass
        try:  # decimal text, exactly: "9007199254740993.0" is that integer, "0.5" is no integer
            return Decimal(text)
        except InvalidOperation:
            raise _Bad(f"{role + ' ' if qualify else ''}{show(value)} is not a number") from None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return value
    raise _Bad(f"{show(value)} has type {type(value).__name__}, not a number")


def _check_number(number: Any, original: Any, role: str) -> Any:
    r"""The role's checks on a parsed number; returns the stored Python value."""
    noun, shown = _noun(role), show(original)
    if isinstance(number, Decimal):
        if number.is_nan():
            raise _Bad(f"{noun} is NaN (missing)")
        if number.is_infinite():
            raise _Bad(f"{noun} {shown} is infinite")
        if not _integral(role):
            return _finite_float(float(number), noun, shown)
        if number != number.to_integral_value():
            raise _Bad(f"{noun} {shown} is not an integer")
        if number.adjusted() > 18:  # >= 1e19 > 2**63; never build a huge int from "1e999999"
            raise _Bad(f"{noun} {shown} is too large: it must be < 2**63")
        number = int(number)
    elif not isinstance(number, int):
        if np.isnan(number):
            raise _Bad(f"{noun} is NaN (missing)")
        if np.isinf(number):
            raise _Bad(f"{noun} {shown} is infinite")
        if not _integral(role):
            return float(number)
        if not float(number).is_integer():
            raise _Bad(f"{noun} {shown} is not an integer")
        if abs(number) >= _exact_limit(number):  # 2**53 + 1 was read as 2**53
            raise _Bad(
                f"{noun} {shown} is a float beyond ±2**{int(np.log2(_exact_limit(number)))}, "
                "where floats cannot hold every integer exactly; pass integers"
            )
        number = int(number)
    if not _integral(role):
        try:
            return _finite_float(float(number), noun, shown)
        except OverflowError:
            raise _Bad(f"{noun} {shown} is too large for a float") from None
    if role in ID_ROLES and number < 0:
        raise _Bad(f"{noun} {shown} is negative; ids must be >= 0")
    if number > ID_LIMIT or number < INT64_MIN:
        raise _Bad(f"{noun} {shown} is too large: it must be < 2**63 (map larger ids to "
                   "smaller integers first)")
    return number


def _finite_float(number: float, noun: str, shown: str) -> float:
    if not np.isfinite(number):
        raise _Bad(f"{noun} {shown} is too large for a float")
    return number


def _scan(array: np.ndarray, role: str, origin: Origin) -> np.ndarray:
    r"""Converts ``array`` element by element; raises at the first bad element."""
    out = []
    for k, value in enumerate(array):  # numpy scalars keep their dtype (float32 limits)
        try:
            out.append(_check_number(_parse_element(value, role, origin.qualify), value, role))
        except _Bad as problem:
            raise origin.error(role, k, str(problem)) from None
    return np.asarray(out, dtype=np.int64 if _integral(role) else np.float64)


# --------------------------------------------------------------------------------------------
# Vectorised fast paths (None: not applicable or a bad value; then _scan decides)
# --------------------------------------------------------------------------------------------
def _fast_numeric(array: np.ndarray, role: str) -> Optional[np.ndarray]:
    if array.dtype.kind in "iu":
        if array.dtype.kind == "u" and array.size and array.max() > ID_LIMIT:
            return None
        out = array.astype(np.int64) if _integral(role) else array.astype(np.float64)
    elif array.dtype.kind == "f":
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            return None
        if not _integral(role):
            return values
        if (values != np.floor(values)).any() or (np.abs(values) >= _exact_limit(array)).any():
            return None
        out = values.astype(np.int64)
    else:
        return None
    if role in ID_ROLES and (out < 0).any():
        return None
    return out


def _fast_objects(array: np.ndarray, role: str) -> Optional[np.ndarray]:
    r"""Object arrays whose elements are all ``str``, all ``int`` or all ``float``."""
    types = set(map(type, array))
    if types <= {str}:  # int() and float() read text exactly; decimal ids go to _scan
        try:
            return _fast_numeric(array.astype(np.int64 if _integral(role) else np.float64), role)
        except (ValueError, OverflowError):
            return None
    if types <= {int}:
        try:
            return _fast_numeric(array.astype(np.int64), role)
        except OverflowError:
            return None
    if types <= {float}:
        return _fast_numeric(array.astype(np.float64), role)
    return None


def _to_array(values: Any, role: str, origin: Origin) -> np.ndarray:
    r"""A one-dimensional numpy array of ``values``; lists become object arrays so that no bool
    or huge int is silently cast."""
    where = origin.column(role)
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise ValueError(f"{where}: {role} values must be real numbers, got a "
                             f"{values.dtype} tensor")
        if values.dtype in _HALF_TENSORS:
            if _integral(role):
                raise ValueError(f"{where}: a {values.dtype} tensor cannot hold {_noun(role)}s "
                                 "exactly; pass an integer tensor")
            values = values.float()
        array = values.detach().cpu().numpy()
    elif hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        array = values.to_numpy()
    elif isinstance(values, np.ndarray):
        array = values
    elif isinstance(values, (str, bytes, Mapping)):
        raise TypeError(f"{where}: {role} values must be an array-like, got "
                        f"{type(values).__name__}")
    else:
        try:
            array = np.asarray(values, dtype=object)
        except ValueError as error:
            raise ValueError(f"{where}: {role} values must be a flat array-like ({error})") from None
    if array.ndim != 1:
        raise ValueError(f"{where} must be one-dimensional, got shape {tuple(array.shape)}")
    if array.dtype.kind in "bcSVMm":
        raise ValueError(f"{where}: {role} values must be numbers, got dtype {array.dtype}")
    return array


def convert_column(values: Any, role: str, origin: Origin) -> np.ndarray:
    r"""One column of role ``role`` (``user``, ``item``, ``rating``, ``timestamp``, ``weight``)
    converted and checked (see the module docstring): ``int64`` for ids and timestamps,
    ``float64`` for ratings and weights."""
    array = _to_array(values, role, origin)
    if array.dtype.kind == "U":
        array = array.astype(object)
    fast = _fast_objects(array, role) if array.dtype.kind == "O" else _fast_numeric(array, role)
    return fast if fast is not None else _scan(array, role, origin)


def convert_columns(columns: Mapping[str, Any], origin: Origin, name: str) -> Interactions:
    r"""The one validation step: ``columns`` (role -> raw values; ``user`` and ``item`` required)
    become checked :class:`~graphdenoise.datasets.records.Interactions` located by ``origin``."""
    for role in ID_ROLES:
        if columns.get(role) is None:
            raise ValueError(f"{name}: both users and items are required")
    out = {}
    for role, values in columns.items():
        if values is None:
            continue
        if role == "split":
            out[role] = parse_split_labels(as_numpy(values), where=origin.column(role),
                                           locate=lambda k: origin.value("split", k))
        else:
            out[role] = convert_column(values, role, origin)
    lengths = {origin.column(role): len(v) for role, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{name}: columns have different lengths: {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError(f"{name}: empty input: no interactions")
    users, items = out.pop("user"), out.pop("item")
    return Interactions(users=users, items=items, locate=origin.row, **out)


def as_numpy(values: Any) -> np.ndarray:
    r"""``values`` (a tensor, pandas object or array-like) as a numpy array, unconverted."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        return values.to_numpy()
    return np.asarray(values)


# --------------------------------------------------------------------------------------------
# Scalar arguments
# --------------------------------------------------------------------------------------------
def check_integer(name: str, value: Any, minimum: int, optional: bool = True) -> Optional[int]:
    r"""``value`` as an ``int >= minimum`` (or :obj:`None` if ``optional``); a
    :class:`ValueError` / :class:`TypeError` naming ``name`` otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, low: float = -np.inf, high: float = np.inf,
               high_open: bool = False, optional: bool = True) -> Optional[float]:
    r"""``value`` as a finite ``float`` in ``[low, high]`` (``[low, high)`` if ``high_open``), or
    :obj:`None` if ``optional``; a :class:`ValueError` / :class:`TypeError` naming ``name``."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    inside = low <= value < high if high_open else low <= value <= high
    if not (np.isfinite(value) and inside):
        bounds = "" if np.isinf(low) and np.isinf(high) else \
            f" in [{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number{bounds}, got {value!r}")
    return value


def check_flag(name: str, value: Any, optional: bool = False) -> Optional[bool]:
    r"""``value`` as a ``bool`` (or :obj:`None` if ``optional``); a :class:`TypeError` naming
    ``name`` otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
