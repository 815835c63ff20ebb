r"""Vectorised per-user splitting and k-core filtering of interaction lists.

Every function here works on flat ``int64`` numpy arrays of user and item ids (one entry per
interaction) and never loops over users in Python: per-user quantities come from
:func:`numpy.bincount`, per-user orderings from one :func:`numpy.lexsort` over
``(user, random key)`` followed by a rank within the user's run.

The protocol is the one of the TIL paper (`"Adapting Triplet Importance of Implicit Feedback for
Personalized Recommendation" <https://arxiv.org/abs/2208.01709>`__, Sec. 5.1-5.2): each user's
interactions are split 8:1:1 at random into train/validation/test, after users and items with
fewer than ten interactions were filtered out (``min_interactions=10`` here, off by default).

Rounding (documented once, used everywhere): a per-user count ``r * n`` is rounded
**half up** (``floor(r * n + 0.5)``, with a ``1e-9`` guard against floating-point
artefacts such as ``0.35 * 10 = 3.4999...``). ``numpy.round`` is not used because it rounds
half to even, which would give ``round(0.1 * 5) = 0`` but ``round(0.1 * 15) = 2``.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_CODES = {
    "train": TRAIN,
    "val": VAL,
    "valid": VAL,
    "validation": VAL,
    "test": TEST,
}
SPLIT_NAMES = ("train", "val", "test")


def sorted_unique(values: np.ndarray) -> np.ndarray:
    r"""Sorted unique values by one sort (much faster than :func:`numpy.unique`'s hash path on
    large ``int64`` arrays in numpy 2.x)."""
    values = np.sort(np.asarray(values), kind="stable")
    if values.shape[0] == 0:
        return values
    return values[np.r_[True, values[1:] != values[:-1]]]


def in_sorted(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    r"""``values`` membership in the **sorted** array ``reference`` via
    :func:`numpy.searchsorted` (the vectorised ``isin`` used for ``u * num_items + i`` keys)."""
    values = np.asarray(values)
    if reference.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    position = np.minimum(np.searchsorted(reference, values), reference.shape[0] - 1)
    return reference[position] == values


def round_half_up(x: np.ndarray) -> np.ndarray:
    r"""Rounds ``x`` half up to ``int64`` (``floor(x + 0.5)`` with a ``1e-9`` guard)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)


def check_ratios(ratios: Sequence[float]) -> Tuple[float, float, float]:
    r"""Validates ``(train, val, test)`` ratios: three non-negative numbers summing to 1, with a
    positive training share."""
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(
            f"ratios must be three numbers (train, val, test), got {ratios!r}"
        ) from None
    if len(values) != 3:
        raise ValueError(f"ratios must be three numbers (train, val, test), got {ratios!r}")
    if any(not np.isfinite(r) or r < 0 for r in values):
        raise ValueError(f"ratios must be finite and non-negative, got {ratios!r}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"ratios must sum to 1, got {ratios!r} (sum {sum(values):g})")
    if values[0] <= 0:
        raise ValueError(f"the training ratio must be positive, got {ratios!r}")
    return values  # type: ignore[return-value]


def rank_within_user(users: np.ndarray, keys: np.ndarray, num_users: int) -> np.ndarray:
    r"""The 0-based rank of every interaction among its user's interactions, ordered by ``keys``.

    Sorts once by ``(user, key)`` and subtracts the start offset of the user's run.
    """
    order = np.lexsort((keys, users))
    counts = np.bincount(users, minlength=num_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(users.shape[0], dtype=np.int64)
    rank[order] = np.arange(users.shape[0], dtype=np.int64) - starts[users[order]]
    return rank


def canonical_random_keys(
    users: np.ndarray, items: np.ndarray, num_items: int, seed: int
) -> np.ndarray:
    r"""One uniform random key per interaction that depends only on the *set* of interactions and
    ``seed``, not on the order they came in: keys are drawn in (user, item) order from
    ``numpy.random.default_rng(seed)`` (PCG64, identical on every platform)."""
    pair = users.astype(np.int64) * int(num_items) + items.astype(np.int64)
    order = np.argsort(pair, kind="stable")
    keys = np.empty(users.shape[0], dtype=np.float64)
    keys[order] = np.random.default_rng(seed).random(users.shape[0])
    return keys


def per_user_split_counts(
    counts: np.ndarray, ratios: Sequence[float]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(n_train, n_val, n_test)`` per user for ``counts`` interactions per user.

    ``n_test = round(r_test * n)`` and ``n_val = round(r_val * n)`` (half up), then capped so that
    ``n_train >= 1`` whenever ``n >= 1``: the test count is capped first at ``n - 1``, the
    validation count then at what is left (``n - 1 - n_test``). A user with one interaction keeps
    it for training.
    """
    _, r_val, r_test = check_ratios(ratios)
    counts = np.asarray(counts, dtype=np.int64)
    room = np.maximum(counts - 1, 0)
    n_test = np.minimum(round_half_up(r_test * counts), room)
    n_val = np.minimum(round_half_up(r_val * counts), room - n_test)
    return counts - n_val - n_test, n_val, n_test


def ratio_split(
    users: np.ndarray,
    items: np.ndarray,
    num_users: int,
    num_items: int,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> np.ndarray:
    r"""Per-user random split of interactions into train/validation/test.

    Every user's interactions get random keys (see :func:`canonical_random_keys`), are ranked by
    key, and the first ``n_test`` go to test, the next ``n_val`` to validation, the rest to
    training, with the counts of :func:`per_user_split_counts`. The result is a function of the
    interaction set and ``seed`` only, so the same seed gives the same split on any machine.

    Args:
        users (numpy.ndarray): User id per interaction, in ``[0, num_users)``.
        items (numpy.ndarray): Item id per interaction, in ``[0, num_items)``.
        num_users (int): Number of users.
        num_items (int): Number of items.
        ratios (tuple of float, optional): ``(train, val, test)`` shares.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        seed (int, optional): Random seed. (default: :obj:`0`)

    Returns:
        numpy.ndarray: ``int8`` split code per interaction (``0`` train, ``1`` val, ``2`` test).
    """
    ratios = check_ratios(ratios)
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    keys = canonical_random_keys(users, items, num_items, seed)
    rank = rank_within_user(users, keys, num_users)
    _, n_val, n_test = per_user_split_counts(np.bincount(users, minlength=num_users), ratios)
    labels = np.full(users.shape[0], TRAIN, dtype=np.int8)
    labels[rank < (n_test + n_val)[users]] = VAL
    labels[rank < n_test[users]] = TEST
    return labels


def carve_validation(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    num_users: int,
    num_items: int,
    fraction: float,
    seed: int = 0,
) -> np.ndarray:
    r"""Moves ``round(fraction * n_train)`` (half up) random training interactions of every user
    to validation, keeping at least one training interaction per user.

    Used for upstream splits that only ship train and test (Amazon-CD).

    Returns:
        numpy.ndarray: The new ``int8`` split codes.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction!r}")
    labels = np.asarray(labels, dtype=np.int8).copy()
    is_train = labels == TRAIN
    train_users = users[is_train]
    keys = canonical_random_keys(train_users, items[is_train], num_items, seed)
    rank = rank_within_user(train_users, keys, num_users)
    n_train = np.bincount(train_users, minlength=num_users)
    n_val = np.minimum(round_half_up(fraction * n_train), np.maximum(n_train - 1, 0))
    moved = np.flatnonzero(is_train)[rank < n_val[train_users]]
    labels[moved] = VAL
    return labels


def k_core_mask(
    users: np.ndarray,
    items: np.ndarray,
    num_users: int,
    num_items: int,
    min_interactions: Optional[int],
) -> np.ndarray:
    r"""Iterative k-core filtering: the mask of interactions that survive once every remaining user
    and item has at least ``min_interactions`` interactions.

    Removing a sparse item can push a user under the threshold and vice versa, so the degree
    filter is repeated (with :func:`numpy.bincount`) until nothing changes.
    """
    keep = np.ones(users.shape[0], dtype=bool)
    if not min_interactions or min_interactions <= 1:
        return keep
    k = int(min_interactions)
    while True:
        user_degree = np.bincount(users[keep], minlength=num_users)
        item_degree = np.bincount(items[keep], minlength=num_items)
        new_keep = keep & (user_degree[users] >= k) & (item_degree[items] >= k)
        if new_keep.sum() == keep.sum():
            return keep
        keep = new_keep


def _show(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def parse_split_labels(labels, where: str = "split",
                       locate: Optional[Callable[[int], str]] = None) -> np.ndarray:
    r"""Turns per-interaction split labels (``"train"``/``"val"``/``"valid"``/``"validation"``/
    ``"test"`` or ``0``/``1``/``2``) into ``int8`` codes; raises :class:`ValueError` naming the
    first bad entry (as ``where[k]``, or as ``locate(k)`` if given, e.g. a file line)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{where}: split labels must be one-dimensional, got shape {array.shape}")

    def at(k: int) -> str:
        return f"{locate(k)}:" if locate is not None else f"{where}[{k}] ="

    if array.dtype.kind in "iu":
        bad = np.flatnonzero((array < 0) | (array > 2))
        if bad.size:
            raise ValueError(f"{at(int(bad[0]))} {_show(array[bad[0]])} is not a split code "
                             "(0 train, 1 val, 2 test)")
        return array.astype(np.int8)
    lowered = np.char.lower(np.char.strip(array.astype(str)))
    codes = np.full(array.shape[0], -1, dtype=np.int8)
    for name, code in SPLIT_CODES.items():
        codes[lowered == name] = code
    for name, code in (("0", TRAIN), ("1", VAL), ("2", TEST)):
        codes[lowered == name] = code
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise ValueError(f"{at(int(bad[0]))} {_show(array[bad[0]])} is not a split label; use one "
                         "of train/val/valid/validation/test or 0/1/2")
    return codes
