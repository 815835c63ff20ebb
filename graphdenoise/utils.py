"""Small shared pieces: a sorted user-item index, seeding, device resolution."""
from __future__ import annotations

import random
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor


class InteractionIndex:
    r"""A CSR index of a set of (user, item) pairs, built once and used everywhere pairs are looked up.

    Serves the negative sampler (``contains`` for rejection), the evaluator and ``recommend`` (the items
    to mask per user, ``gather_rows``), and per-user statistics (``counts``). Membership is a
    ``torch.searchsorted`` over the sorted keys ``user * num_items + item``: memory linear in the
    number of pairs, never a dense user x item object.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` pairs (user, item); need not be sorted or unique.
        num_users (int): Number of users.
        num_items (int): Number of items.
    """

    def __init__(self, edge_index: Tensor, num_users: int, num_items: int):
        self.num_users, self.num_items = int(num_users), int(num_items)
        keys = torch.unique(edge_index[0].long() * self.num_items + edge_index[1].long())
        self.keys = keys
        self.users = keys // self.num_items
        self.items = keys % self.num_items
        self.counts = torch.bincount(self.users, minlength=self.num_users)
        self.indptr = torch.zeros(self.num_users + 1, dtype=torch.long, device=keys.device)
        torch.cumsum(self.counts, 0, out=self.indptr[1:])

    @property
    def num_pairs(self) -> int:
        return self.keys.numel()

    def to(self, device) -> "InteractionIndex":
        out = object.__new__(InteractionIndex)
        out.__dict__.update({k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()
                             if k != "_compact"})  # rebuilt on first use
        return out

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """Boolean mask: is ``(users[k], items[k])`` in the index."""
        if self.keys.numel() == 0:
            return torch.zeros_like(users, dtype=torch.bool)
        query = users * self.num_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def nth_absent(self, users: Tensor, rank: Tensor) -> Tensor:
        r"""The ``rank``-th (0-based) item that is NOT paired with each user, exactly and vectorised.

        With a user's sorted items :math:`p_0 < p_1 < \dots`, the shifted values :math:`p_k - k` are
        non-decreasing and the answer is ``rank`` plus the number of them that are ``<= rank``: one
        ``searchsorted`` over the keys ``user * num_items + p_k - k``, which are globally sorted.
        """
        if not hasattr(self, "_shifted_keys"):
            within = torch.arange(self.keys.numel(), device=self.keys.device) - self.indptr[self.users]
            self._shifted_keys = self.users * self.num_items + self.items - within
        below = torch.searchsorted(self._shifted_keys, users * self.num_items + rank, right=True)
        return rank + below - self.indptr[users]

    def concat_rows(self, users: Tensor, compact: bool = False) -> Tuple[Tensor, Tensor]:
        r"""The items of ``users``, concatenated user after user (CSR order), and each user's count.

        ``compact``: both as int32 when the pairs allow it (half the index traffic: 1.1-1.6x faster
        for TIL's 211k items per Gowalla batch; ``embedding_bag`` takes int32 ids and offsets)."""
        indptr, items = self.indptr, self.items
        if compact and self.num_pairs < 2**31:
            if getattr(self, "_compact", None) is None:
                self._compact = (indptr.to(torch.int32), items.to(torch.int32))
            indptr, items = self._compact
        starts = indptr[users]
        counts = indptr[users + 1] - starts
        total = int(counts.sum())
        # output position p of user b reads starts[b] + (p - first[b]): one repeat_interleave of the shift
        shift = starts - (torch.cumsum(counts, 0, dtype=counts.dtype) - counts)
        positions = torch.repeat_interleave(shift, counts, output_size=total).add_(
            torch.arange(total, dtype=counts.dtype, device=users.device))
        return items.index_select(0, positions), counts

    def gather_rows(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""The pairs of ``users`` as ``(row, item)``, ``row`` the position in ``users`` (vectorised)."""
        items, counts = self.concat_rows(users)
        row = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), counts,
                                      output_size=items.numel())
        return row, items


class EdgeLookup:
    r"""Training edge ids of ``(user, item)`` pairs.

    Args:
        edge_index (Tensor): ``[2, E]`` training edges (the order defines the edge ids).
        num_items (int): Number of items (keys are ``user * num_items + item``).
    """

    def __init__(self, edge_index: Tensor, num_items: int):
        self.num_items = int(num_items)
        keys = edge_index[0].long() * self.num_items + edge_index[1].long()
        self.keys, self.order = torch.sort(keys, stable=True)

    def to(self, device) -> "EdgeLookup":
        self.keys, self.order = self.keys.to(device), self.order.to(device)
        return self

    def __call__(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        """``(edge_ids, found)``: the (first) edge id of each pair, and whether the pair is a training edge
        (``edge_ids`` is 0 where not found)."""
        query = users.long() * self.num_items + items.long()
        if self.keys.numel() == 0:
            return torch.zeros_like(query), torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        found = self.keys[pos] == query
        return torch.where(found, self.order[pos], torch.zeros_like(pos)), found


def flush_denormals() -> None:
    r"""Flush float denormals to zero on CPU (``torch.set_flush_denormal(True)``), for the process.

    A weight or optimiser state in the float32 denormal range (below :math:`1.2\times10^{-38}`) slows
    every product it enters by microcode assists: the TIL-MI authors-code weight head on Gowalla, with
    167 of its 8,192 first-layer weights denormal after 90 epochs, took 65 ms a forward instead of 1.8 ms
    (its epoch grew from 21 to 69 s). Like the thread count, a setting of the process, not of a run: it
    changes results only where a denormal would have occurred, and a resumed run may switch it.

    Raises:
        RuntimeError: The CPU cannot flush denormals (``set_flush_denormal`` needs SSE3 or AArch64).
    """
    if not torch.set_flush_denormal(True):
        raise RuntimeError("flushing denormals is not supported on this CPU (torch.set_flush_denormal needs SSE3 "
                           "or AArch64)")


def take_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for an integer ``index`` of any shape, through ``index_select``: on CPU that ran
    3-6x faster than advanced indexing for 5,000 rows of a 41k x 64 table (one thread), and its
    backward is an ``index_add_`` rather than an accumulating ``index_put_``."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(device: Optional[str]) -> torch.device:
    """``None``/``"auto"`` -> CUDA if available else CPU; a named device that is missing is a clear error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a valid torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine; use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was requested but MPS is not available")
    return dev


def kmeans(x: Tensor, num_clusters: int, num_iters: int = 25, init: Optional[Tensor] = None,
           generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Cluster centres ``[K, d]`` of the rows of ``x`` by Lloyd's algorithm.

    Args:
        x (Tensor): Points ``[N, d]``.
        num_clusters (int): ``K`` (at most ``N``).
        num_iters (int): Lloyd iterations. (default: 25)
        init (Tensor, optional): Starting centres (warm start); k-means++ seeding otherwise.
        generator (torch.Generator, optional): Randomness of the seeding.
    """
    x = x.detach()
    n = x.size(0)
    if not 0 < num_clusters <= n:
        raise ValueError(f"num_clusters must lie in [1, {n}] (the number of points), got {num_clusters}")
    centres = init.detach().clone() if init is not None else _kmeans_pp(x, num_clusters, generator)
    for _ in range(num_iters):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=num_clusters).unsqueeze(1)
        empty = counts.view(-1) == 0
        centres = torch.where(empty.unsqueeze(1), centres, sums / counts.clamp(min=1))
    return centres


def _kmeans_pp(x: Tensor, k: int, generator: Optional[torch.Generator]) -> Tensor:
    gen_device = generator.device if generator is not None else "cpu"
    first = torch.randint(x.size(0), (1,), generator=generator, device=gen_device).to(x.device)
    centres = [x[first].view(-1)]
    dist = torch.cdist(x, centres[0].unsqueeze(0)).view(-1).pow(2)
    for _ in range(1, k):  # k seeding rounds, each vectorised over all points
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1.0 / dist.numel())
        pick = torch.multinomial(probs.to(gen_device), 1, generator=generator).to(x.device)
        centres.append(x[pick].view(-1))
        dist = torch.minimum(dist, torch.cdist(x, x[pick].view(1, -1)).view(-1).pow(2))
    return torch.stack(centres)
