r"""The flat record every reader produces and the build pipeline consumes:
:class:`Interactions`, one entry per interaction with raw (not yet re-indexed) ids."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch

#: The roles a column can play, in the positional order of header-less files.
ROLES = ("user", "item", "rating", "timestamp", "weight", "split")
#: The roles that hold node ids.
ID_ROLES = ("user", "item")
#: Roles of the attribute columns, with the dtype they are stored in on the edge store.
ATTRIBUTE_DTYPES = {"rating": torch.float32, "timestamp": torch.long, "weight": torch.float32}
_COLUMNS = ("users", "items", "rating", "timestamp", "weight", "split")


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
        for attr in _COLUMNS:
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
        return Interactions(locate=_PartLocator(parts), **out)


class _PartLocator:
    r"""Maps a row of concatenated parts to the origin of the row within its part."""

    def __init__(self, parts: Sequence[Interactions]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(part) for part in parts])

    def __call__(self, row: int) -> str:
        index = int(np.searchsorted(self.offsets, row, side="right") - 1)
        return self.parts[index].where(row - int(self.offsets[index]))
