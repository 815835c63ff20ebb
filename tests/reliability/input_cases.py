"""Generated inputs of ``from_interactions`` / ``read_interaction_file``, each with its oracle.

A :class:`Case` is either *valid* (it carries the exact interactions it holds) or *malformed*
(it carries the prefix the error message must start with and, where one line is to blame, that
line's number). Every builder draws from a :class:`random.Random`, so the deterministic fuzz script
(``fuzz_interactions.py``, seeded) and the property-based test (hypothesis's ``st.randoms()``,
which shrinks the draws) share them.
"""
from __future__ import annotations

import itertools
import math
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

OUR_ERRORS = (ValueError, TypeError, FileNotFoundError)
DELIMITERS = [",", "\t", ";", "|", None]  # None: runs of spaces
ID_LIMIT = 2**63 - 1
_FILE_NUMBERS = itertools.count()


@dataclass
class Case:
    """One input: ``call()`` runs it; valid cases carry ``expected`` columns (exact), malformed
    ones the message prefix and the 1-based line to blame (if any)."""
    kind: str
    call: Callable[[], Any]
    valid: bool
    expected: Dict[str, np.ndarray] = field(default_factory=dict)
    prefix: str = ""
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Valid content
# --------------------------------------------------------------------------------------------
def _random_id(rng: random.Random) -> int:
    return rng.choice([rng.randrange(0, 50), rng.randrange(0, 10**6), rng.randrange(0, ID_LIMIT + 1),
                       ID_LIMIT, 0])


def _random_rating(rng: random.Random) -> float:
    value = rng.choice([float(rng.randrange(1, 6)), rng.uniform(-1e6, 1e6), rng.random(),
                        struct.unpack("<d", struct.pack("<Q", rng.getrandbits(62)))[0]])
    return value if math.isfinite(value) else 1.0


def random_interactions(rng: random.Random) -> Dict[str, np.ndarray]:
    """Distinct (user, item) pairs with optional rating and timestamp columns."""
    count = rng.randrange(1, 16)
    pairs = list(dict.fromkeys((_random_id(rng), _random_id(rng)) for _ in range(count)))
    columns = {"user": np.array([u for u, _ in pairs], dtype=np.int64),
               "item": np.array([i for _, i in pairs], dtype=np.int64)}
    if rng.random() < 0.6:
        columns["rating"] = np.array([_random_rating(rng) for _ in pairs], dtype=np.float64)
        if rng.random() < 0.5:
            columns["timestamp"] = np.array(
                [rng.randrange(-(2**63), 2**63) for _ in pairs], dtype=np.int64)
    return columns


@dataclass
class FileText:
    """The lines of a generated file (header first if any) and how they are joined."""
    lines: List[str]
    header: bool
    delimiter: Optional[str]
    bom: bool
    newline: str
    blank_after: Dict[int, int]  # line index -> blank lines inserted after it

    def render(self) -> Tuple[bytes, List[int]]:
        """The file's bytes and the 1-based line number of every entry of ``lines``."""
        out, numbers, number = [], [], 1
        for k, line in enumerate(self.lines):
            out.append(line)
            numbers.append(number)
            number += 1
            for _ in range(self.blank_after.get(k, 0)):
                out.append(" " if self.delimiter is not None else "")
                number += 1
        text = self.newline.join(out) + self.newline
        data = text.encode("utf-8")
        return (b"\xef\xbb\xbf" + data if self.bom else data), numbers


def _format(rng: random.Random, value: Any, quote: bool, pad: bool) -> str:
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
    elif rng.random() < 0.1:  # integral decimal text is read exactly, at any size
        text = rng.choice([f"{int(value)}.0", f"{int(value)}e0", f"{int(value)}0e-1",
                           f" {int(value)} "])
    else:
        text = str(int(value))
    if quote:
        text = f'"{text}"'
    if pad:
        text = " " * rng.randrange(0, 3) + text + " " * rng.randrange(0, 3)
    return text


def render_file(rng: random.Random, columns: Dict[str, np.ndarray]) -> FileText:
    """A file holding ``columns`` in a random but valid layout."""
    delimiter = rng.choice(DELIMITERS)
    roles = list(columns)
    header = rng.random() < 0.5 or len(roles) < 2
    quote = delimiter is not None and rng.random() < 0.3
    pad = delimiter is not None and not quote and rng.random() < 0.3  # no spaces around quotes
    joiner = delimiter if delimiter is not None else " " * rng.randrange(1, 3)
    lines = [joiner.join(f'"{r}"' if quote else r for r in roles)] if header else []
    for k in range(len(columns["user"])):
        lines.append(joiner.join(_format(rng, columns[r][k], quote, pad) for r in roles))
    blank_after = {rng.randrange(len(lines)): rng.randrange(1, 3) for _ in range(rng.randrange(0, 3))}
    return FileText(lines, header, delimiter, rng.random() < 0.3, rng.choice(["\n", "\r\n"]),
                    blank_after)


# --------------------------------------------------------------------------------------------
# File cases
# --------------------------------------------------------------------------------------------
BAD_ID_TOKENS = ["x", "1.5", "-3", "nan", "inf", "18446744073709551616", "9223372036854775808",
                 "1e400", "0x10", "True", "1,5", "--1", "4503599627370496.5", "9007199254740993.5", "-0.5", "1e-1"]
BAD_VALUE_TOKENS = ["x", "nan", "inf", "-inf", "1e400", "4..5", "0x1p3"]
BAD_TIMESTAMP_TOKENS = ["1.5", "x", "9223372036854775808", "nan", "1e400",
                        "-9.223372036854775809e18", "4503599627370496.5"]
BAD_BYTES = [b"\xff", b"\xe9", b"\x80", b"\xc3\x28", b"\xed\xa0\x80"]


def _roles_of(text: FileText, columns: Dict[str, np.ndarray]) -> List[str]:
    return list(columns)


def _split_line(line: str, delimiter: Optional[str]) -> List[str]:
    return line.split(delimiter) if delimiter is not None else line.split()


def _join(fields: List[str], delimiter: Optional[str]) -> str:
    return (delimiter if delimiter is not None else " ").join(fields)


def _mutate_field(rng, text: FileText, columns) -> Optional[int]:
    """Replaces one field of one data line by a bad token; returns the line index."""
    first = int(text.header)
    k = rng.randrange(first, len(text.lines))
    roles = _roles_of(text, columns)
    position = rng.randrange(len(roles))
    role = roles[position]
    pool = {"rating": BAD_VALUE_TOKENS, "timestamp": BAD_TIMESTAMP_TOKENS}.get(role, BAD_ID_TOKENS)
    token = rng.choice(pool)
    if any(d in token for d in "\t,;|"):  # a delimiter in a token changes the layout
        token = "x"
    fields = _split_line(text.lines[k], text.delimiter)
    fields[position] = token
    text.lines[k] = _join(fields, text.delimiter)
    return k


def _mutate_count(rng, text: FileText, columns) -> Optional[int]:
    """Adds or removes a field on a data line that is not the layout-defining first line."""
    first = int(text.header)
    if len(text.lines) - first < 2 and not text.header:
        return None
    k = rng.randrange(first + (0 if text.header else 1), len(text.lines))
    fields = _split_line(text.lines[k], text.delimiter)
    if rng.random() < 0.5 and len(fields) > 1:
        fields.pop(rng.randrange(len(fields)))
    else:
        fields.insert(rng.randrange(len(fields) + 1), str(rng.randrange(10)))
    text.lines[k] = _join(fields, text.delimiter)
    return k


def _mutate_short_header(rng, text: FileText, columns) -> Optional[int]:
    """Drops the last name of the header (the issue's ``user,item`` over ``1,10,5`` rows)."""
    if not text.header or len(columns) < 3:
        return None
    fields = _split_line(text.lines[0], text.delimiter)
    text.lines[0] = _join(fields[:-1], text.delimiter)
    return 1  # the first data line is the first whose field count differs


def _mutate_quote(rng, text: FileText, columns) -> Optional[int]:
    """An opening quote that is never closed."""
    if any('"' in line for line in text.lines):
        return None
    k = rng.randrange(int(text.header), len(text.lines))
    text.lines[k] = '"' + text.lines[k]
    return k


def _mutate_header_name(rng, text: FileText, columns) -> Optional[int]:
    if not text.header:
        return None
    fields = _split_line(text.lines[0], text.delimiter)
    position = rng.randrange(2)
    fields[position] = fields[position].replace("user", "usr").replace("item", "itm")
    text.lines[0] = _join(fields, text.delimiter)
    return 0


FILE_MUTATIONS = {
    "bad field": _mutate_field,
    "field count": _mutate_count,
    "short header": _mutate_short_header,
    "unclosed quote": _mutate_quote,
    "header name": _mutate_header_name,
}


def _file_case(kind: str, path: Path, data: bytes, valid: bool, expected=None,
               line: Optional[int] = None) -> Case:
    from graphdenoise.datasets import read_interaction_file

    path = path.with_name(f"{path.stem}-{next(_FILE_NUMBERS)}{path.suffix}")

    def call():
        path.write_bytes(data)  # a new name each time: truncating a file is slow on some disks
        out = read_interaction_file(path)
        if valid:
            _same_as_careful_path(path, out)
        return out

    return Case(kind, call, valid, expected or {}, prefix=path.name, line=line)


def _same_as_careful_path(path: Path, out) -> None:
    """The fast path of the reader must give exactly what the careful (authoritative) path gives."""
    from graphdenoise.datasets import reading

    _, text = reading._decode(path)
    careful = reading._read_careful(path.name, text, None,
                                    reading.sniff_delimiter(reading._first_line(text)[0]), None)
    for attr in ("users", "items", "rating", "timestamp", "weight", "split"):
        a, b = getattr(out, attr), getattr(careful, attr)
        if (a is None) != (b is None) or (a is not None and (a.dtype != b.dtype or not np.array_equal(a, b))):
            raise AssertionError(f"fast and careful paths differ in {attr}: {a} vs {b}")
    if out.where(len(out) - 1) != careful.where(len(out) - 1):
        raise AssertionError(f"line numbers differ: {out.where(len(out) - 1)} vs {careful.where(len(out) - 1)}")


def valid_file_case(rng: random.Random, folder: Path) -> Case:
    columns = random_interactions(rng)
    data, _ = render_file(rng, columns).render()
    return _file_case("valid file", folder / "valid.csv", data, True, columns)


def malformed_file_case(rng: random.Random, folder: Path) -> Case:
    path = folder / "bad.csv"
    choice = rng.choice(list(FILE_MUTATIONS) + ["bad byte", "empty"])
    if choice == "empty":
        data = rng.choice([b"", b"\n\n", b"  \r\n", b"\xef\xbb\xbf", b"user,item\n", b"user\titem\r\n\r\n"])
        return _file_case("empty", path, data, False)
    for _ in range(20):
        columns = random_interactions(rng)
        text = render_file(rng, columns)
        if choice == "bad byte":
            data, _ = text.render()
            position = rng.randrange(len(data) + 1)
            data = data[:position] + rng.choice(BAD_BYTES) + data[position:]
            line = data.count(b"\n", 0, position) + 1
            return _file_case("bad byte", path, data, False, line=line)
        k = FILE_MUTATIONS[choice](rng, text, columns)
        if k is not None:
            data, numbers = text.render()
            return _file_case(choice, path, data, False, line=numbers[k])
    return _file_case("empty", path, b"", False)


# --------------------------------------------------------------------------------------------
# Array and argument cases
# --------------------------------------------------------------------------------------------
BAD_ID_VALUES = [2**64, 2**63, 10**30, -1, 1.5, float("nan"), float("inf"), True, b"1", 1 + 2j,
                 None, "x", "", 2.0**60, np.float32(2**25), np.uint64(2**63), np.bool_(False)]


def _from(*args, **kwargs) -> Callable[[], Any]:
    from graphdenoise.datasets import from_interactions

    return lambda: from_interactions(*args, **kwargs)


def valid_array_case(rng: random.Random) -> Case:
    columns = random_interactions(rng)
    users, items = columns["user"], columns["item"]
    kind = rng.choice(["list", "numpy", "tensor", "object"])
    if kind == "list":
        users, items = users.tolist(), items.tolist()
    elif kind == "tensor":
        users, items = torch.from_numpy(users), torch.from_numpy(items)
    elif kind == "object":
        users, items = users.astype(object), np.array([str(i) for i in items], dtype=object)
    rest = {role: columns[role] for role in ("rating", "timestamp") if role in columns}
    return Case(f"valid {kind}", _from(users, items, ratios=(1, 0, 0), **rest), True, columns)


def malformed_array_case(rng: random.Random) -> Case:
    columns = random_interactions(rng)
    users = columns["user"].tolist()
    items = columns["item"].tolist()
    choice = rng.choice(["value", "dtype", "shape", "length"])
    if choice == "value":
        bad = rng.choice(BAD_ID_VALUES)
        target = users if rng.random() < 0.5 else items
        k = rng.randrange(len(target))
        target[k] = bad
        label = "users" if target is users else "items"
        return Case("bad id value", _from(users, items), False, prefix=f"input.{label}[{k}]")
    if choice == "dtype":
        bad = rng.choice([
            np.array([1 + 0j] * len(users)), np.ones(len(users), dtype=bool),
            torch.ones(len(users), dtype=torch.bfloat16), torch.ones(len(users), dtype=torch.float16),
            torch.ones(len(users), dtype=torch.complex64), np.array([b"1"] * len(users)),
            np.array(["2020-01-01"] * len(users), dtype="datetime64[D]"),
        ])
        return Case("bad id dtype", _from(bad, items), False, prefix="input.users")
    if choice == "shape":
        return Case("bad shape", _from(np.ones((len(users), 2), dtype=np.int64), items), False,
                    prefix="input.users")
    items = items + [1]
    return Case("bad length", _from(users, items), False, prefix="input")


BAD_ARGUMENTS = [
    ("min_interactions", -3), ("min_interactions", 0), ("min_interactions", 1.5),
    ("min_interactions", "3"), ("min_interactions", True), ("seed", -1), ("seed", "x"),
    ("seed", 1.5), ("ratios", (0.5, 0.5)), ("ratios", (1, 1, 1)), ("ratios", ("a", 0, 0)),
    ("ratios", (1.0, float("nan"), 0.0)), ("val_fraction", 1.5), ("val_fraction", "x"),
    ("rating_threshold", float("nan")), ("rating_threshold", "x"), ("split", "tset"),
    ("split", 3), ("num_users", 0), ("num_users", -1), ("num_items", 2.5),
    ("test_users_must_have_train", "yes"), ("delimiter", ""), ("header", "yes"),
]


def malformed_argument_case(rng: random.Random) -> Case:
    name, value = rng.choice(BAD_ARGUMENTS)
    columns = random_interactions(rng)
    if name == "split" and rng.random() < 0.5:
        labels = ["train"] * len(columns["user"])
        labels[rng.randrange(len(labels))] = rng.choice(["tset", "dev", "", "3"])
        return Case("bad split label", _from(columns["user"], columns["item"], split=labels),
                    False, prefix="split[")
    kwargs = {name: value}
    if name == "val_fraction":
        kwargs["split"] = ["train"] * len(columns["user"])
    if name == "rating_threshold":
        kwargs["rating"] = np.ones(len(columns["user"]))
    if name in ("delimiter", "header"):
        return Case(f"bad {name}", lambda: _call_file_option(kwargs), False, prefix=name)
    return Case(f"bad {name}", _from(columns["user"], columns["item"], **kwargs), False,
                prefix="" if name in ("ratios", "split") else name)


def _call_file_option(kwargs):
    import tempfile

    from graphdenoise.datasets import from_interactions

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ok.csv"
        path.write_text("user,item\n1,2\n")
        return from_interactions(path, **kwargs)


def missing_path_case(rng: random.Random, folder: Path) -> Case:
    path = folder / f"missing-{rng.randrange(10**6)}.csv"
    return Case("missing file", _from(path), False, prefix="interaction file")


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------
def check_valid_result(case: Case, result: Any) -> Optional[str]:
    """``None`` if ``result`` holds exactly ``case.expected``, else what differs."""
    from graphdenoise.datasets import INTERACTS
    from graphdenoise.datasets.records import Interactions

    expected = case.expected
    if isinstance(result, Interactions):
        got = {"user": result.users, "item": result.items, "rating": result.rating,
               "timestamp": result.timestamp}
        for role, values in expected.items():
            if got[role] is None or got[role].dtype != values.dtype or \
                    not np.array_equal(got[role], values):
                return f"{role}: wrote {values.tolist()}, read {None if got[role] is None else got[role].tolist()}"
        return None
    store = result[INTERACTS]
    pairs = set(zip(result["user"].raw_id[store.edge_index[0]].tolist(),
                    result["item"].raw_id[store.edge_index[1]].tolist()))
    wrote = set(zip(expected["user"].tolist(), expected["item"].tolist()))
    return None if pairs == wrote else f"pairs differ: wrote {sorted(wrote)}, read {sorted(pairs)}"


def run_case(case: Case) -> Tuple[str, str]:
    """``(outcome, detail)``: outcome is ``ok``, an error class name (malformed input refused
    by our error), ``silently accepted``, ``wrong result`` or ``wrong layer``."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = case.call()
    except OUR_ERRORS as error:
        message = str(error)
        if case.valid:
            return "wrong layer", f"valid input refused: {type(error).__name__}: {message}"
        if not message.startswith(case.prefix):
            return "wrong layer", f"{type(error).__name__} without our prefix {case.prefix!r}: {message}"
        if case.line is not None and f" line {case.line}:" not in message:
            return "wrong layer", f"expected line {case.line}: {message}"
        return type(error).__name__, message
    except Exception as error:  # noqa: BLE001 - anything else is the wrong layer
        return "wrong layer", f"{type(error).__name__}: {error}"
    if not case.valid:
        return "silently accepted", case.kind
    problem = check_valid_result(case, result)
    return ("ok", "") if problem is None else ("wrong result", problem)


def generate(rng: random.Random, folder: Path) -> Case:
    """One case of any kind (half valid, half malformed)."""
    builder = rng.choice([valid_file_case, valid_file_case, malformed_file_case,
                          malformed_file_case, malformed_file_case])
    roll = rng.random()
    if roll < 0.15:
        return valid_array_case(rng)
    if roll < 0.3:
        return malformed_array_case(rng)
    if roll < 0.4:
        return malformed_argument_case(rng)
    if roll < 0.42:
        return missing_path_case(rng, folder)
    return builder(rng, folder)
