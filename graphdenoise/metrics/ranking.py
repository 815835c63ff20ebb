r"""Full-ranking top-k evaluation, batched over users.

For every user with at least one held-out item, all items are scored, the user's training items (and
validation items, clean and noisy, when scoring a test split) are masked with ``-inf`` (never 0: a 0
would outrank negative scores, the SELFRec pitfall), and the top ``max_k`` is taken once (exactly, by :func:`~graphdenoise.metrics.topk.row_topk`). Users are processed in
chunks sized by a memory budget, into one reused score buffer, so the full user x item matrix is
never materialised. Metrics are PyG's :mod:`torch_geometric.metrics` (their definitions match the
TIL paper's):

* Recall@k = hits@k / (number of held-out items of u) (not min(k, n): the LightGCN convention);
* NDCG@k with IDCG over min(k, number of held-out items of u) positions;
* Precision@k = hits@k / k; HitRate@k = 1[hits@k > 0]; MRR@k = 1 / rank of the first hit (0 if none).

Each is averaged over the users that have at least one held-out item.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.metrics import (LinkPredHitRatio, LinkPredMetricCollection, LinkPredMRR, LinkPredNDCG,
                                     LinkPredPrecision, LinkPredRecall)

from ..datasets.graph import ALL_SPLITS, held_out_edges, num_users_items
from ..distributed import SINGLE, World
from ..utils import InteractionIndex
from .topk import row_topk

METRIC_BLOCK = 4096

METRICS = {"recall": LinkPredRecall, "ndcg": LinkPredNDCG, "precision": LinkPredPrecision,
           "hit": LinkPredHitRatio, "mrr": LinkPredMRR}


class RankingEvaluator:
    r"""Evaluates a :class:`~graphdenoise.models.Recommender` on a held-out split by full ranking.

    Args:
        data (HeteroData): The dataset (training edges are masked, held-out edges are the labels).
        ks (sequence of int): Cut-offs. (default: ``(10, 20, 50)``)
        memory_budget_mb (float): Size of the reused score buffer; sets the user chunk. (default: 512)
        metrics (sequence of str): Names among ``recall, ndcg, precision, hit, mrr``. (default: all)
    """

    def __init__(self, data: HeteroData, ks: Sequence[int] = (10, 20, 50), memory_budget_mb: float = 512,
                 metrics: Iterable[str] = tuple(METRICS)):
        self.ks = tuple(sorted(set(int(k) for k in ks)))
        if not self.ks or self.ks[0] <= 0:
            raise ValueError(f"ks must be positive integers, got {ks}")
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; valid: {sorted(METRICS)}")
        self.metric_names = tuple(metrics)
        self.memory_budget_mb = memory_budget_mb
        self.num_users, self.num_items = num_users_items(data)
        if self.ks[-1] > self.num_items:
            raise ValueError(f"max k={self.ks[-1]} exceeds the number of items ({self.num_items})")
        self.indices: Dict[str, InteractionIndex] = {}
        for split in ALL_SPLITS:
            try:
                edges = held_out_edges(data, split)
            except ValueError:
                continue
            self.indices[split] = InteractionIndex(edges, self.num_users, self.num_items)
        self._buffer: Optional[Tensor] = None

    def masked_splits(self, split: str) -> tuple:
        """The splits whose items are excluded from the ranking when evaluating ``split``: training items,
        and for a test split every validation interaction too (the natural-noise data's ``user_pos`` =
        train + validation, ``bachml/EvalDenoisingRec`` ``code/data_utils.py:87-97``)."""
        test = ("train", "val", "val_noisy")
        return {"train": (), "val": ("train",), "val_noisy": ("train",), "test": test, "test_noisy": test}[split]

    def _chunk_size(self, model) -> int:
        bytes_per_user = 4 * self.num_items * max(1, getattr(model, "full_rank_cost", 1))
        return max(1, min(self.num_users, int(self.memory_budget_mb * 2**20 // bytes_per_user)))

    def _scores_buffer(self, rows: int, device) -> Tensor:
        buf = self._buffer
        if buf is None or buf.size(0) < rows or buf.device != torch.device(device):
            buf = self._buffer = torch.empty(rows, self.num_items, device=device)
        return buf[:rows]

    @torch.no_grad()
    def top_k(self, model, split: str, users: Tensor) -> Tensor:
        """Top-``max(ks)`` items of ``users`` (masked as for ``split``), ``[len(users), max_k]``, on CPU.

        On the CPU, the BLAS that numpy calls for the score GEMM (OpenBLAS, see
        :meth:`Recommender.score_matrix`) is pinned to torch's thread count meanwhile: it would
        otherwise start one thread per core whatever ``torch.set_num_threads`` says, which on a
        shared machine made a product many times slower."""
        device = next(model.parameters()).device
        if device.type != "cpu":
            return self._top_k(model, split, users, device)
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
            return self._top_k(model, split, users, device)

    def _top_k(self, model, split: str, users: Tensor, device: torch.device) -> Tensor:
        user_rep, item_rep = model.representations()
        chunk = self._chunk_size(model)
        masks = [self.indices[s] for s in self.masked_splits(split) if s in self.indices]
        tops = []
        for start in range(0, users.numel(), chunk):
            batch = users[start:start + chunk]
            scores = model.score_matrix(user_rep[batch.to(device)], item_rep,
                                        out=self._scores_buffer(batch.numel(), device))
            for index in masks:
                row, col = index.gather_rows(batch)
                scores[row.to(device), col.to(device)] = float("-inf")
            tops.append(row_topk(scores, self.ks[-1]).cpu())
        return torch.cat(tops) if tops else torch.empty(0, self.ks[-1], dtype=torch.long)

    def metrics_from_top_k(self, split: str, users: Tensor, top: Tensor) -> Dict[str, float]:
        """Metrics from the top-k lists of ``users`` (sorted ids), accumulated in fixed user blocks so the
        result does not depend on how the ranking was chunked or sharded."""
        labels = self.indices[split]
        collection = LinkPredMetricCollection(
            {f"{name}@{k}": METRICS[name](k) for name in self.metric_names for k in self.ks})
        for start in range(0, users.numel(), METRIC_BLOCK):
            block = users[start:start + METRIC_BLOCK]
            row, col = labels.gather_rows(block)
            collection.update(top[start:start + METRIC_BLOCK], torch.stack([row, col]))
        return {name: float(value) for name, value in collection.compute().items()}

    @torch.no_grad()
    def evaluate(self, model, split: str = "val", world: World = SINGLE) -> Dict[str, float]:
        r"""Metrics of ``model`` on ``split`` (``val``, ``test``, or with natural-noise data ``val_noisy`` /
        ``test_noisy``), keys like ``"recall@20"``.

        Every user with a held-out item in ``split`` is ranked; with several ranks (``world``) each
        ranks a disjoint share of the users and the top-k lists are gathered, so every rank returns
        the single-process metrics.
        """
        if split not in self.indices:
            raise ValueError(f"the dataset has no {split!r} split to evaluate on")
        users = torch.unique(self.indices[split].users)
        was_training = model.training
        model.eval()
        mine = users[world.rank::world.world_size]
        top = self.top_k(model, split, mine)
        model.train(was_training)
        if world.is_distributed:
            device = next(model.parameters()).device
            shard_users = world.all_gather(mine.to(device))
            shard_tops = world.all_gather(top.to(device))
            order = torch.argsort(torch.cat(shard_users).cpu())
            top = torch.cat(shard_tops).cpu()[order]
        return self.metrics_from_top_k(split, users, top)

    def evaluate_brute_force(self, model, split: str = "val") -> Dict[str, float]:
        """A per-user Python reference of :meth:`evaluate` (for tests on small data only)."""
        import math
        labels = self.indices[split]
        masks = [self.indices[s] for s in self.masked_splits(split) if s in self.indices]
        user_rep, item_rep = model.representations()
        sums: Dict[str, float] = {f"{n}@{k}": 0.0 for n in self.metric_names for k in self.ks}
        users = torch.unique(labels.users).tolist()
        for u in users:
            scores = model.score_matrix(user_rep[u:u + 1], item_rep)[0].clone()
            for index in masks:
                scores[index.items[index.users == u]] = float("-inf")
            ranked = scores.argsort(descending=True, stable=True).tolist()
            relevant = set(labels.items[labels.users == u].tolist())
            for k in self.ks:
                top = ranked[:k]
                hits = [1.0 if item in relevant else 0.0 for item in top]
                dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
                idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(relevant))))
                first = next((r for r, h in enumerate(hits) if h), None)
                values = {"recall": sum(hits) / len(relevant), "ndcg": dcg / idcg, "precision": sum(hits) / k,
                          "hit": float(any(hits)), "mrr": 0.0 if first is None else 1.0 / (first + 1)}
                for name in self.metric_names:
                    sums[f"{name}@{k}"] += values[name]
        return {key: value / len(users) for key, value in sums.items()}
