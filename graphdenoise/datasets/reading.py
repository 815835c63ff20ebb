r"""Reading delimited edge lists (CSV, TSV, whitespace-separated) into validated
:class:`~graphdenoise.datasets.records.Interactions`.

The file is decoded as strict UTF-8 (a leading byte-order mark is dropped; an undecodable byte is
an error naming the line), blank lines are skipped, and the remaining lines are tokenised by
:func:`pandas.read_csv` with every field kept as text (``dtype=object``, no NA guessing), so
quoted fields are unquoted by pandas and nothing is converted before the one validation step of
:mod:`graphdenoise.datasets.validation`. To count the fields of every line exactly (pandas pads
short rows), each line is given one sentinel field at its end: the column where it lands is the
line's field count. A line whose field count differs from the first line's (the header or the
first row) is an error naming the file and the line.

A well-formed file (no blank line, the same field count on every line) takes a fast path: one
:func:`pandas.read_csv` with ``int64`` id and timestamp columns. Anything else, and any file the
validation step refuses, is read again by the careful path above, which is authoritative: the
fast path accepts only what the careful path accepts, with the same values.

Layout: the delimiter is sniffed from the first non-blank line (tab, comma, semicolon or pipe if
present, else runs of whitespace) unless given. The first line is a header when its first field
is not a number (unless ``header`` says otherwise). Header-less files default to the roles
``user item [rating [timestamp]]``; ``columns`` names them otherwise.
"""
from __future__ import annotations

import codecs
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from graphdenoise.datasets.records import ID_ROLES, ROLES, Interactions
from graphdenoise.datasets.validation import Origin, convert_columns

DEFAULT_COLUMNS: Dict[str, str] = {role: role for role in ROLES}
DEFAULT_POSITIONAL = ("user", "item", "rating", "timestamp")
_SENTINEL = "\ue000"  # a private-use character, appended as the last field of every line
_DELIMITER_NAMES = {None: "whitespace", "\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
Columns = Optional[Union[Mapping[str, str], Sequence[Optional[str]]]]


def sniff_delimiter(line: str) -> Optional[str]:
    r"""The delimiter of a data line: tab, comma, semicolon or pipe if present, else ``None``
    (runs of whitespace)."""
    for candidate in ("\t", ",", ";", "|"):
        if candidate in line:
            return candidate
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_columns(columns: Optional[Mapping[str, str]]) -> Dict[str, str]:
    r"""Role -> column name: the defaults (the role names) updated by ``columns``."""
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


# --------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------
def _decode(path: Path) -> Tuple[bytes, str]:
    r"""``(bytes, text)`` of the file without its byte-order mark; strict UTF-8."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ValueError(
            f"{path.name} line {line}: byte {data[error.start]:#04x} at column {column} is not "
            "valid UTF-8; save the file as UTF-8"
        ) from None


def _line_separator(text: str) -> str:
    return "\n" if "\n" in text or "\r" not in text else "\r"  # old Mac files: CR only


def _read_lines(text: str) -> Tuple[List[str], np.ndarray]:
    r"""``(lines, numbers)``: the non-blank lines (without line endings) and their 1-based
    line numbers."""
    lines, numbers = [], []
    for number, line in enumerate(text.split(_line_separator(text)), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if line.strip():
            lines.append(line)
            numbers.append(number)
    return lines, np.asarray(numbers, dtype=np.int64)


def _first_line(text: str) -> Tuple[Optional[str], int]:
    r"""The first non-blank line (as :func:`_read_lines` sees it) and its number, without
    splitting the whole text."""
    separator, start, number = _line_separator(text), 0, 1
    while start <= len(text):
        end = text.find(separator, start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        line = line[:-1] if line.endswith("\r") else line
        if line.strip():
            return line, number
        start, number = end + 1, number + 1
    return None, 0


# --------------------------------------------------------------------------------------------
# Tokenising (pandas)
# --------------------------------------------------------------------------------------------
@dataclass
class _Table:
    name: str
    cells: np.ndarray  # [lines, width] object array of str
    counts: np.ndarray  # fields per line
    lines: List[str]
    numbers: np.ndarray
    delimiter: Optional[str]

    def where(self, row: int) -> str:
        return f"{self.name} line {int(self.numbers[row])}"


def _check_delimiter(delimiter: Optional[str]) -> Optional[str]:
    if delimiter is None:
        return None
    if not isinstance(delimiter, str) or not delimiter or re.search(r'["\r\n]', delimiter) \
            or _SENTINEL in delimiter:
        raise ValueError(
            f"delimiter must be a non-empty string without quotes or line breaks, got {delimiter!r}"
        )
    return delimiter


def _unbalanced_line(table_name: str, lines: List[str], numbers: np.ndarray) -> ValueError:
    for line, number in zip(lines, numbers):
        if line.count('"') % 2:
            return ValueError(f"{table_name} line {int(number)}: a quoted field is not closed on "
                              f"this line (quoted fields cannot span lines): {line!r}")
    return ValueError(f"{table_name}: the file could not be split into lines and fields")


def _tokenise(name: str, lines: List[str], numbers: np.ndarray,
              delimiter: Optional[str]) -> _Table:
    import pandas as pd

    if delimiter is None:
        lines = [line.strip() for line in lines]
        width = max(len(line.split()) for line in lines) + 1
        joined, options = " ", dict(sep=r"\s+", engine="c")
    else:
        width = max(line.count(delimiter) for line in lines) + 2
        joined = delimiter
        options = (dict(sep=delimiter, engine="c") if len(delimiter) == 1
                   else dict(sep=re.escape(delimiter), engine="python"))
    text = "\n".join(line + joined + _SENTINEL for line in lines)
    if options["engine"] == "c":
        options["lineterminator"] = "\n"
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, names=range(width), dtype=object,
                            index_col=False, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, quotechar='"', **options)
    except (pd.errors.ParserError, ValueError):
        raise _unbalanced_line(name, lines, numbers) from None
    cells = frame.to_numpy(dtype=object)
    is_sentinel = cells == _SENTINEL
    if cells.shape[0] != len(lines) or not is_sentinel.any(axis=1).all():
        raise _unbalanced_line(name, lines, numbers)
    counts = width - 1 - np.argmax(is_sentinel[:, ::-1], axis=1)  # the last sentinel's column
    return _Table(name, cells, counts, lines, numbers, delimiter)


# --------------------------------------------------------------------------------------------
# The fast path: well-formed files, integer columns parsed by pandas
# --------------------------------------------------------------------------------------------
# pandas reads an int64 column through a float when a field has a decimal point or an exponent,
# which can round ("9007199254740993e0"): integer columns are parsed by pandas only when no field
# can have either (decimal="\x01" and no e/E in the text); otherwise they stay text for int().
_NOT_PLAIN = (b"e", b"E", b"\x01")
_FAST_SENTINEL = -4052555153018976267  # an int64 field appended to every line (fast path)


def _read_fast(data: bytes, first_number: int, count: int, has_header: bool,
               roles: Dict[str, int], delimiter: Optional[str]) -> Optional[Dict[str, np.ndarray]]:
    r"""The columns of a well-formed file, or :obj:`None`: then :func:`_read_careful` decides.

    Well-formed: no blank line, no lone carriage return and ``count`` fields on every line,
    which holds exactly when the appended sentinel (absent from the text) is in column ``count``
    of every row (a blank line or a short row puts text there, a longer row puts a field of its
    own there and its sentinel beyond, where ``index_col=False`` drops it). Id and timestamp
    columns are parsed as ``int64`` by pandas when no field can be a decimal or an exponent
    (see ``_NOT_PLAIN``); the others stay text for the validation step."""
    if first_number != 1 or delimiter in ("\x01", "\n") or len(delimiter or " ") > 1 \
            or not (delimiter or " ").isascii():
        return None
    body = data.replace(b"\r\n", b"\n") if b"\r" in data else data
    body = body if body.endswith(b"\n") else body + b"\n"
    marker = str(_FAST_SENTINEL).encode()
    if b"\r" in body or marker in body:
        return None
    body = body.split(b"\n", 1)[1] if has_header else body
    if not body:
        return None
    plain = not any(character in body for character in _NOT_PLAIN)
    integral = [roles[r] for r in ("user", "item", "timestamp") if r in roles and plain]
    body = body.replace(b"\n", (delimiter or " ").encode() + marker + b"\n")
    frame = _parse_fast(body, count, integral, delimiter)
    if frame is None or len(frame) != body.count(b"\n") \
            or not (frame[count].to_numpy() == _FAST_SENTINEL).all():
        return None
    return {role: frame[position].to_numpy() for role, position in roles.items()}


def _parse_fast(body: bytes, count: int, integral: List[int], delimiter: Optional[str]):
    import pandas as pd

    dtypes = {k: (np.int64 if k in integral or k == count else object) for k in range(count + 1)}
    try:
        with warnings.catch_warnings():  # a longer row is truncated: the sentinel check sees it
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # "invalid value in cast": refused
            return pd.read_csv(io.BytesIO(body), sep=delimiter if delimiter else r"\s+",
                               engine="c", header=None, names=range(count + 1), dtype=dtypes,
                               quotechar='"', decimal="\x01", index_col=False,
                               keep_default_na=False, na_filter=False, lineterminator="\n")
    except Exception:  # noqa: BLE001 - any trouble: the careful reading names it
        return None


# --------------------------------------------------------------------------------------------
# Layout: header and column roles
# --------------------------------------------------------------------------------------------
def _header_roles(table: _Table, columns: Columns) -> Dict[str, int]:
    mapping = resolve_columns(columns)  # type: ignore[arg-type]
    names = [str(field).strip() for field in table.cells[0, : table.counts[0]]]
    roles: Dict[str, int] = {}
    for role, column in mapping.items():
        if column in names:
            if names.count(column) > 1:
                raise ValueError(f"{table.where(0)}: the header {names} names column "
                                 f"{column!r} ({role}) more than once")
            roles[role] = names.index(column)
        elif role in ID_ROLES or (columns is not None and role in columns):
            raise ValueError(
                f"{table.where(0)}: the header {names} has no column {column!r} for {role!r}; "
                f"pass columns={{'{role}': ...}}"
            )
    return roles


def _positional_roles(table: _Table, columns: Sequence[Optional[str]]) -> Dict[str, int]:
    positional, roles = list(columns), {}
    if len(positional) != table.counts[0]:
        raise ValueError(f"{table.where(0)}: columns={tuple(positional)} names "
                         f"{len(positional)} columns, the file has {int(table.counts[0])}")
    for position, role in enumerate(positional):
        if role is None or role == "_":
            continue
        if role not in ROLES:
            raise ValueError(f"unknown column role {role!r}; roles are {ROLES}")
        if role in roles:
            raise ValueError(f"columns={tuple(positional)} names the role {role!r} twice")
        roles[role] = position
    return roles


def _default_roles(table: _Table, columns: Columns) -> Dict[str, int]:
    count = int(table.counts[0])
    if columns is not None:
        raise ValueError(
            f"{table.name} has no header line, so columns must be a sequence of roles "
            f"(e.g. ('user', 'item', 'rating')), got {columns!r}"
        )
    if count > len(DEFAULT_POSITIONAL):
        raise ValueError(f"{table.where(0)}: {count} columns without a header; pass "
                         f"columns=(...) naming each column's role ({', '.join(ROLES)} or None)")
    if count < 2:
        raise ValueError(
            f"{table.where(0)}: expected at least 2 {_DELIMITER_NAMES.get(table.delimiter)}"
            f"-separated columns (user item), found {count}: {table.lines[0]!r}"
        )
    return {role: k for k, role in enumerate(DEFAULT_POSITIONAL[:count])}


def _layout(table: _Table, columns: Columns, header: Optional[bool]) -> Tuple[bool, Dict[str, int]]:
    r"""``(has_header, role -> column position)``."""
    if header is None:
        header = not _is_number(str(table.cells[0, 0]).strip())
    elif not isinstance(header, bool):
        raise TypeError(f"header must be True, False or None, got {header!r}")
    if columns is not None and not isinstance(columns, Mapping):
        if isinstance(columns, str):
            raise ValueError(f"columns must be a mapping or a sequence of roles, got {columns!r}")
        return header, _positional_roles(table, columns)
    if header:
        return header, _header_roles(table, columns)
    return header, _default_roles(table, columns)


def _check_counts(table: _Table, start: int, roles: Dict[str, int]) -> None:
    expected = int(table.counts[0])
    bad = np.flatnonzero(table.counts[start:] != expected)
    if bad.size:
        row = start + int(bad[0])
        names = {position: role for role, position in roles.items()}
        described = " ".join(names.get(k, "_") for k in range(expected))
        raise ValueError(
            f"{table.where(row)}: expected {expected} "
            f"{_DELIMITER_NAMES.get(table.delimiter, repr(table.delimiter))}-separated columns "
            f"({described}), found {int(table.counts[row])}: {table.lines[row]!r}"
        )


def read_interaction_file(
    path: Union[str, os.PathLike],
    columns: Columns = None,
    delimiter: Optional[str] = None,
    header: Optional[bool] = None,
) -> Interactions:
    r"""Reads a delimited edge list (CSV, TSV, whitespace) into validated :class:`Interactions`.

    Args:
        path (str or os.PathLike): The file (UTF-8, optionally with a byte-order mark).
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
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"interaction file {str(path)!r} {what}")
    data, text = _decode(path)
    first, number = _first_line(text)
    if first is None:
        raise ValueError(f"{path.name}: empty input: no interactions")
    delimiter = _check_delimiter(delimiter) or sniff_delimiter(first)
    head = _tokenise(path.name, [first], np.asarray([number]), delimiter)
    has_header, roles = _layout(head, columns, header)
    raw = _read_fast(data, number, int(head.counts[0]), has_header, roles, delimiter)
    if raw is not None:  # no blank line: row k is on line k + 1 (+ 1 after a header)
        origin = _file_origin(path.name, roles, lambda k: k + 1 + int(has_header))
        try:
            return convert_columns(_ordered(raw), origin, path.name)
        except ValueError:
            pass  # the careful reading below names the line and shows it
    return _read_careful(path.name, text, columns, delimiter, header)


def _file_origin(name: str, roles: Dict[str, int], line_of: Callable[[int], int],
                 context: Optional[Callable[[int], str]] = None) -> Origin:
    return Origin(row=lambda k: f"{name} line {line_of(k)}",
                  value=lambda role, k: f"{name} line {line_of(k)}",
                  column=lambda role: f"{name} column {roles[role] + 1} ({role})",
                  qualify=True, context=context)


def _read_careful(name: str, text: str, columns: Columns, delimiter: Optional[str],
                  header: Optional[bool]) -> Interactions:
    r"""The authoritative reading: every non-blank line tokenised with its number, every field
    kept as text, so that any error names the file and the line."""
    lines, numbers = _read_lines(text)
    table = _tokenise(name, lines, numbers, delimiter)
    has_header, roles = _layout(table, columns, header)
    start = int(has_header)
    _check_counts(table, start, roles)
    if table.cells.shape[0] == start:
        raise ValueError(f"{name}: empty input: no interactions")
    origin = _file_origin(name, roles, lambda k: int(table.numbers[start + k]),
                          context=lambda k: f": {table.lines[start + k]!r}")
    raw = {role: table.cells[start:, position] for role, position in roles.items()}
    return convert_columns(_ordered(raw), origin, name)


def _ordered(columns: Mapping[str, object]) -> Dict[str, object]:
    return {role: columns.get(role) for role in ROLES}
