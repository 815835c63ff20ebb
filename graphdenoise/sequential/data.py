r"""A sequential, CTR-style VIEW over the shared :class:`~torch_geometric.data.HeteroData` layout.

The sequential task needs the order of a user's interactions, so it cannot use the graph split as
it is: the graph splits (``edge_index``, ``val_edge_label_index``, ``test_edge_label_index`` with
their ``timestamp`` / ``val_timestamp`` / ``test_timestamp`` attributes) are **pooled**, sorted by
``(user, timestamp)`` and **re-split by time** per user. Nothing is copied into another data world:
the view holds the sorted item column of the pooled edges plus index tensors, and histories are
gathered per batch.

A *sample* is ``(user, history, target, label)``: the history is the last ``max_len`` items the
user interacted with strictly before the target in the sorted order (left-padded with the
reserved index ``0``; item ``i`` is stored as ``i + 1``), the target is the real next item
(label 1) or a sampled item the user never interacted with (label 0).

Reference: the CTR sample construction of DIN (Zhou et al., KDD 2018) and of the ATJT paper
(Liu et al., JCST 2024, Sec. 4.1.2); leave-last-out as in SASRec (Kang & McAuley, ICDM 2018).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..config import check_fields, resolve_config
from ..datasets.graph import INTERACTS, SPLITS, num_users_items, split_key
from ..utils import InteractionIndex

PAD = 0
"""The reserved padding index of histories (item ``i`` is stored as ``i + 1``)."""

SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
NOT_A_TARGET = -1


@dataclass
class SequenceDataConfig:
    """How the sequential view is built from the interaction graph."""

    max_len: int = 20
    """History length ``N``: the last ``max_len`` items before the target (the paper does not give it)."""
    split: str = "leave-last-out"
    """``"leave-last-out"``: the last interaction of each user is test, the one before validation
    (SASRec's protocol; the default, because it evaluates one target per user, which keeps the
    candidate evaluation cheap); ``"ratio"``: per user, the chronologically first / middle / last
    shares go to train / val / test (the ATJT paper splits each user's sequence 4:1 into train and
    test; on MovieLens-100K it evaluates ~20x more targets)."""
    ratios: Tuple[float, float, float] = (0.7, 0.1, 0.2)
    """``(train, val, test)`` shares of each user's interactions for ``split="ratio"``; the default keeps
    the paper's 4:1 (train+val : test) and carves validation out of the paper's training part."""
    num_negatives: int = 1
    """Training negatives (label 0) per real next item, re-sampled every epoch."""
    eval_negatives: int = 99
    """Sampled negatives per validation / test target (fixed once per seed); the target is ranked
    among these ``1 + eval_negatives`` candidates for HR@5 / NDCG@5 and AUC pools all of them."""
    min_history: int = 1
    """A position is a target only if at least this many earlier interactions of the user exist
    (DIN-style; the first interaction has no history and is never a target)."""

    def __post_init__(self):
        check_fields(self)
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        if self.split not in ("ratio", "leave-last-out"):
            raise ValueError(f"split must be 'ratio' or 'leave-last-out', got {self.split!r}")
        self.ratios = tuple(float(r) for r in self.ratios)
        if len(self.ratios) != 3 or min(self.ratios) < 0 or abs(sum(self.ratios) - 1) > 1e-6 or self.ratios[0] <= 0:
            raise ValueError(f"ratios must be three non-negative shares summing to 1 with train > 0, got {self.ratios}")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives}")
        if self.eval_negatives < 1:
            raise ValueError(f"eval_negatives must be >= 1, got {self.eval_negatives}")
        if self.min_history < 1:
            raise ValueError(f"min_history must be >= 1 (a target needs a history), got {self.min_history}")


@dataclass
class SampleBatch:
    r"""A batch of CTR samples.

    Shapes:
        - **user**: ``[B]``
        - **history**: ``[B, N]`` item ids + 1, left-padded with :data:`PAD`, most recent last
        - **target**: ``[B]`` item ids (0-based), or ``[B, C]`` candidates sharing one history
        - **label**: ``[B]`` float (training) or ``[B, C]``
        - **shared** (optional): ``(rows [U], inverse [B])`` with ``history[rows][inverse] == history``
          and ``user[rows][inverse] == user``: the batch's distinct ``(user, history)`` pairs, so that
          an encoder with a target-independent representation encodes each once. Dropped by
          :meth:`replace` when ``user`` or ``history`` change.
    """

    user: Tensor
    history: Tensor
    target: Tensor
    label: Tensor
    shared: Optional[Tuple[Tensor, Tensor]] = None

    def to(self, device) -> "SampleBatch":
        shared = None if self.shared is None else tuple(t.to(device) for t in self.shared)
        return SampleBatch(*(t.to(device) for t in (self.user, self.history, self.target, self.label)), shared)

    def __len__(self) -> int:
        return self.user.numel()

    def replace(self, **changes) -> "SampleBatch":
        if ("history" in changes or "user" in changes) and "shared" not in changes:
            changes["shared"] = None
        return dataclasses.replace(self, **changes)


@dataclass
class Samples:
    """A set of training samples as index tensors: the target position (which fixes user and history),
    the target item and the label."""

    position: Tensor
    user: Tensor
    target: Tensor
    label: Tensor

    def __len__(self) -> int:
        return self.position.numel()

    def subset(self, index: Tensor) -> "Samples":
        return Samples(self.position[index], self.user[index], self.target[index], self.label[index])


class SequenceData:
    r"""The sequential view of a :class:`HeteroData` in graphdenoise's layout.

    Every split must carry timestamps (``timestamp``, ``val_timestamp``, ``test_timestamp``). The
    splits are pooled and sorted by ``(user, timestamp, item)`` (items with the same timestamp keep a
    deterministic order by item id) and re-split by time per user as ``config.split`` says, so a
    training target is never later than a validation target of the same user, which is never later
    than a test target. Construction is vectorised (no loop over users).

    Args:
        data (HeteroData): The interaction graph (all splits are read).
        config (SequenceDataConfig, optional): Options; keyword arguments override fields.
        seed (int): Seed of the fixed validation / test negatives. (default: :obj:`0`)
    """

    Config = SequenceDataConfig

    def __init__(self, data: HeteroData, config: Optional[SequenceDataConfig] = None, seed: int = 0, **overrides):
        self.config = config = resolve_config(type(self), config, overrides)
        self.seed = int(seed)
        self.num_users, self.num_items = num_users_items(data)
        self.max_len = config.max_len
        if self.num_items < 2:
            raise ValueError("the sequential view needs at least 2 items (negatives are sampled)")
        users, items, times = _pooled_edges(data)
        # sort by (user, timestamp, item), vectorised: stable argsorts from the least significant key
        order = torch.argsort(items, stable=True)
        order = order[torch.argsort(times[order], stable=True)]
        order = order[torch.argsort(users[order], stable=True)]
        self.user = users[order]
        self.item = items[order]
        self.timestamp = times[order]
        counts = torch.bincount(self.user, minlength=self.num_users)
        self.user_ptr = torch.zeros(self.num_users + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=self.user_ptr[1:])
        self.rank = torch.arange(self.user.numel()) - self.user_ptr[self.user]
        self.split_code = _time_split(self.rank, counts[self.user], config)
        self.index = InteractionIndex(torch.stack([self.user, self.item]), self.num_users, self.num_items)
        generator = torch.Generator().manual_seed(self.seed)
        self._eval_negatives: Dict[str, Tensor] = {}
        for split in ("val", "test"):
            position = self.targets(split)
            self._eval_negatives[split] = self.sample_negatives(self.user[position], config.eval_negatives, generator)

    # ------------------------------------------------------------------ views
    def targets(self, split: str) -> Tensor:
        """Positions (in the sorted pooled edges) of the real next items of ``split``."""
        if split not in SPLIT_CODE:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return torch.nonzero(self.split_code == SPLIT_CODE[split]).view(-1)

    def num_targets(self, split: str) -> int:
        return int((self.split_code == SPLIT_CODE[split]).sum())

    def history(self, position: Tensor) -> Tensor:
        r"""The ``[B, max_len]`` left-padded histories (item id + 1) of the samples at ``position``."""
        position = position.view(-1)
        offsets = torch.arange(-self.max_len, 0, device=position.device)
        index = position.unsqueeze(1) + offsets
        valid = index >= self.user_ptr[self.user[position]].unsqueeze(1)
        return torch.where(valid, self.item[index.clamp(min=0)] + 1, torch.zeros_like(index))

    def batch(self, samples: Samples) -> SampleBatch:
        """Materialise the histories of ``samples`` (on CPU); samples at the same target position (a
        real next item and its negatives) share their history, gathered once (:attr:`SampleBatch.shared`)."""
        position, inverse = torch.unique(samples.position, return_inverse=True)
        rows = torch.empty_like(position).scatter_(0, inverse, torch.arange(inverse.numel()))
        history = self.history(position)[inverse]
        return SampleBatch(samples.user, history, samples.target, samples.label.float(), (rows, inverse))

    def latest_history(self, users: Tensor) -> Tensor:
        r"""The last ``max_len`` items of each user over all splits, ``[B, max_len]`` (for recommending)."""
        end = self.user_ptr[users + 1]  # one past the user's last interaction
        offsets = torch.arange(-self.max_len, 0)
        index = end.unsqueeze(1) + offsets
        valid = index >= self.user_ptr[users].unsqueeze(1)
        return torch.where(valid, self.item[index.clamp(min=0)] + 1, torch.zeros_like(index))

    # ------------------------------------------------------------------ sampling
    def sample_negatives(self, users: Tensor, num: int, generator: torch.Generator, max_rounds: int = 20) -> Tensor:
        r"""``[B, num]`` items each user never interacted with (any split), uniform, by vectorised rejection."""
        out = torch.randint(self.num_items, (users.numel() * num,), generator=generator)
        flat_users = users.view(-1, 1).expand(-1, num).reshape(-1)
        bad = torch.nonzero(self.index.contains(flat_users, out)).view(-1)
        for _ in range(max_rounds):  # only the rejected entries are re-drawn and re-checked
            if bad.numel() == 0:
                break
            fresh = torch.randint(self.num_items, (bad.numel(),), generator=generator)
            out[bad] = fresh
            bad = bad[self.index.contains(flat_users[bad], fresh)]
        return out.view(users.numel(), num)

    def training_samples(self, generator: torch.Generator) -> Samples:
        r"""Every training target (label 1) plus ``num_negatives`` sampled negatives each (label 0),
        in position order (methods shuffle)."""
        position = self.targets("train")
        k = self.config.num_negatives
        user = self.user[position]
        negatives = self.sample_negatives(user, k, generator)
        all_position = torch.cat([position, position.repeat_interleave(k)])
        all_user = torch.cat([user, user.repeat_interleave(k)])
        target = torch.cat([self.item[position], negatives.view(-1)])
        label = torch.cat([torch.ones(position.numel()), torch.zeros(position.numel() * k)])
        return Samples(all_position, all_user, target, label)

    def eval_candidates(self, split: str) -> Tuple[Tensor, Tensor]:
        r"""``(position [S], candidates [S, 1 + eval_negatives])`` of ``split``; column 0 is the target."""
        if split not in ("val", "test"):
            raise ValueError(f"evaluation splits are 'val' and 'test', got {split!r}")
        position = self.targets(split)
        candidates = torch.cat([self.item[position].unsqueeze(1), self._eval_negatives[split]], dim=1)
        return position, candidates

    def summary(self) -> Dict[str, int]:
        return {"users": self.num_users, "items": self.num_items, "interactions": self.user.numel(),
                **{f"{s}_targets": self.num_targets(s) for s in ("train", "val", "test")}}

    def __repr__(self) -> str:
        s = self.summary()
        return (f"SequenceData({s['users']} users, {s['items']} items, {s['interactions']} interactions, "
                f"max_len={self.max_len}, split={self.config.split!r}, targets train/val/test="
                f"{s['train_targets']}/{s['val_targets']}/{s['test_targets']})")


def _pooled_edges(data: HeteroData) -> Tuple[Tensor, Tensor, Tensor]:
    if INTERACTS not in data.edge_types:
        raise ValueError(f"the data needs the edge type {INTERACTS} (see docs/data-schema.md)")
    store = data[INTERACTS]
    users: List[Tensor] = []
    items: List[Tensor] = []
    times: List[Tensor] = []
    for split in SPLITS:
        key = split_key(split)
        if key not in store:
            continue
        edge_index = store[key]
        if edge_index.numel() == 0:
            continue
        time_key = split_key(split, "timestamp")
        if time_key not in store:
            raise ValueError(
                f"the sequential task orders each user's interactions by time, but split {split!r} has no "
                f"{time_key!r}: this dataset has no timestamps (of the registered ones only ml-100k has them; "
                "lastfm, gowalla and amazon-cd do not). Use ml-100k or your own file with a timestamp column")
        users.append(edge_index[0].long())
        items.append(edge_index[1].long())
        times.append(store[time_key].long().view(-1))
    if not users:
        raise ValueError("the data has no interactions")
    return torch.cat(users), torch.cat(items), torch.cat(times)


def _time_split(rank: Tensor, length: Tensor, config: SequenceDataConfig) -> Tensor:
    r"""Split code per sorted interaction: ``-1`` (not a target), ``0`` train, ``1`` val, ``2`` test.

    ``rank`` is the position of the interaction in its user's chronological sequence and ``length``
    that user's number of interactions. Counting from the end of the sequence, the last ``n_test``
    targets are test and the ``n_val`` before them validation.
    """
    from_end = length - 1 - rank
    if config.split == "leave-last-out":
        n_test = torch.ones_like(length)
        n_val = torch.ones_like(length)
    else:
        _, r_val, r_test = config.ratios
        n_test = torch.round(length * r_test).long()
        n_val = torch.round(length * r_val).long()
        if r_test > 0:
            n_test = n_test.clamp(min=1)
        if r_val > 0:
            n_val = n_val.clamp(min=1)
    # users too short to give every split a target keep everything for training
    short = length - config.min_history < n_test + n_val + 1
    n_test = torch.where(short, torch.zeros_like(n_test), n_test)
    n_val = torch.where(short, torch.zeros_like(n_val), n_val)
    code = torch.where(from_end < n_test, 2, torch.where(from_end < n_test + n_val, 1, 0))
    return torch.where(rank < config.min_history, torch.full_like(code, NOT_A_TARGET), code)
