r"""Gowalla check-ins in the LightGCN split, further split into train/valid/test.

Reference: the data files of LightGCN++ (``geon0325/LightGCNpp``, ``data/gowalla``), whose
``train.txt`` + ``valid.txt`` equal LightGCN-PyTorch's ``train.txt`` and whose ``test.txt`` equals
LightGCN-PyTorch's ``test.txt``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from graphdenoise.datasets.base import InteractionDataset
from graphdenoise.datasets.interactions import Interactions

BASE_URL = "https://raw.githubusercontent.com/geon0325/LightGCNpp/main/data/gowalla"


def read_adjacency_lists(path) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Parses a file of lines ``user item item ...`` (non-negative integer ids separated by
    whitespace), vectorised over the bytes of the file.

    Returns:
        ``(users, items, line_users)``: the user and item of every interaction, and the user of
        every non-blank line (so users listed without items still exist).
    """
    path = Path(path)
    raw = path.read_bytes()
    buffer = np.frombuffer(raw, dtype=np.uint8)
    is_digit = (buffer >= ord("0")) & (buffer <= ord("9"))
    is_space = np.isin(buffer, np.frombuffer(b" \t\r\n", dtype=np.uint8))
    bad = np.flatnonzero(~(is_digit | is_space))
    if bad.size:
        position = int(bad[0])
        line = int(np.count_nonzero(buffer[:position] == ord("\n"))) + 1
        raise ValueError(
            f"{path.name} line {line}: unexpected character {chr(buffer[position])!r}; expected "
            "lines 'user item item ...' of non-negative integer ids"
        )
    token_start = np.flatnonzero(is_digit & ~np.r_[False, is_digit[:-1]])
    line_of_token = np.cumsum(buffer == ord("\n"))[token_start]
    values = np.array(raw.split(), dtype=np.int64)
    if values.shape[0] != token_start.shape[0]:  # pragma: no cover - guarded by the check above
        raise ValueError(f"{path.name}: could not tokenise the file")
    is_first = np.r_[True, line_of_token[1:] != line_of_token[:-1]]
    first_index = np.maximum.accumulate(np.where(is_first, np.arange(values.shape[0]), 0))
    users = values[first_index][~is_first]
    items = values[~is_first]
    return users, items, values[is_first]


class Gowalla(InteractionDataset):
    r"""The Gowalla check-in dataset from the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`__ paper, with the
    train/valid/test split of LightGCN++ (`"Revisiting LightGCN: Unexpected Inflexibility,
    Inconsistency, and A Remedy Towards Improved Recommendation"
    <https://arxiv.org/abs/2408.10331>`__).

    Each raw file has one line per user, ``user item item ...`` with 0-based ids. The given split
    (``split="given"``, the default) is exactly those three files; ``split="ratio"`` pools all
    interactions and re-splits them per user. Same totals as the Gowalla row of the TIL paper's
    dataset table.

    **STATS** (``split="given"``): 29,858 users, 40,981 items, 1,027,370 interactions
    (train 719,081, valid 91,047, test 217,242), density 0.084%.

    Args:
        root (str, optional): Root directory. (default: :obj:`None`)
        split (str, optional): ``"given"`` or ``"ratio"``. (default: :obj:`"given"`)
        **kwargs (optional): ``ratios``, ``seed``, ``min_interactions``, ``data_dir``,
            ``transform``, ``pre_transform``, ``force_reload``, ``log`` of
            :class:`~graphdenoise.datasets.base.InteractionDataset`.
    """

    name = "gowalla"
    raw_file_names = ("train.txt", "valid.txt", "test.txt")
    urls = {file_name: f"{BASE_URL}/{file_name}" for file_name in raw_file_names}
    sha256 = {
        "train.txt": "d47e01d060624f389956c0b2f89a1ed8c453ea158631cd2b5320c241f3e1a073",
        "valid.txt": "ddc22c1cd9a7d14fd5cd0c98b1473b614f4323038fef74ae0d28cc9c92a08ba2",
        "test.txt": "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
    }
    splits = ("given", "ratio")
    default_split = "given"

    def read_interactions(self) -> Interactions:
        parts, line_users = [], []
        for code, path in enumerate(self.raw_paths):
            users, items, listed = read_adjacency_lists(path)
            parts.append(Interactions(
                users=users, items=items, split=np.full(users.shape[0], code, dtype=np.int8),
                locate=lambda row, name=Path(path).name: f"{name} interaction {row}",
            ))
            line_users.append(listed)
        out = Interactions.concat(parts, list(self.raw_file_names))
        out.user_ids = np.concatenate(line_users)
        return out
