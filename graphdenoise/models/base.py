r"""The encoder interface every backbone implements.

A backbone turns the training graph into user and item representations and scores (user, item)
pairs. The denoising methods talk to this interface only, so TIL, BOD and the re-weighting baselines
run unchanged on MF, NeuMF, LightGCN and MGCCF:

* :meth:`Recommender.representations` -- representations of some (or all) users and items;
* :meth:`Recommender.score_pairs` / :meth:`Recommender.score_matrix` -- scores from representations;
* :meth:`Recommender.triplet` -- the scores of a batch of ``(u, i, j)`` triplets in one propagation;
* :meth:`Recommender.embedding_tables` -- the ego embedding tables (what TIL's states and BOD read);
* :meth:`Recommender.recommend` -- top-k items per user, training items excluded.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..config import check_fields, resolve_config
from ..datasets.graph import num_users_items, train_edges
from ..registry import Registry
from ..metrics.topk import row_topk
from ..utils import InteractionIndex, take_rows

MODELS: Registry = Registry("model")
"""The graph backbones by name; a backbone registers itself with ``@MODELS.register(name)``."""


@dataclass
class EncoderConfig:
    """Options shared by every backbone."""

    embedding_dim: int = 64
    """Size of the user and item embeddings (the TIL paper uses 64)."""

    def __post_init__(self):
        check_fields(self, embedding_dim=">= 1")


@dataclass
class TripletScores:
    """Scores and representations of a batch of ``(u, i, j)`` triplets."""

    pos: Tensor
    neg: Tensor
    user: Tensor
    pos_item: Tensor
    neg_item: Tensor


class Recommender(nn.Module):
    r"""Base class of all backbones.

    Args:
        data (HeteroData): The dataset; only its node counts and TRAINING edges are read.
        config (EncoderConfig, optional): The backbone's options; keyword arguments override fields.
    """

    Config = EncoderConfig

    def __init__(self, data: HeteroData, config: Optional[EncoderConfig] = None, **overrides):
        super().__init__()
        self.config = config = resolve_config(type(self), config, overrides)
        self.num_users, self.num_items = num_users_items(data)
        self.embedding_dim = config.embedding_dim
        self.train_index = InteractionIndex(train_edges(data), self.num_users, self.num_items)

    # -- to implement ---------------------------------------------------------------------------
    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Representations of ``users`` and ``items`` (every user / item when None)."""
        raise NotImplementedError

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        """The ego (layer-0) user and item embedding tables, ``[num_users, d]`` and ``[num_items, d]``."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    representations_are_embeddings: bool = False
    """Whether :meth:`representations` are plain rows of :meth:`embedding_tables` (no propagation):
    then :meth:`triplet` looks rows up directly and the L2 term reuses them."""

    linear_representations: bool = False
    """Whether the scores depend on the parameters only through :meth:`representations`, and those
    linearly (MF, LightGCN; not GMF, whose output layer acts in the score): TIL's exact hypergradient
    then propagates the gradient itself and reuses the inner forward
    (:class:`~graphdenoise.methods.til_bilevel.ExactHypergradient`). A subclass that adds parameters
    outside the representations must set it back to False."""

    user_row_batches: bool = False
    """Whether the backbone encodes a user from the user's whole training row (an auto-encoder:
    CDAE), so that a method whose authors train it on batches of users' rows may ask for them
    (:attr:`~graphdenoise.methods.base.SamplingSpec.batches`) and score them with :meth:`cell_scores`."""

    sparse_gradients: bool = False
    """Whether :meth:`gather` may give embedding tables row-sparse gradients in the trainer's backward
    (set by MF and LightGCN)."""

    def gather(self, table: Tensor, index: Tensor) -> Tensor:
        r"""``table[index]`` with ordinary autograd semantics, plus a fast path for the trainer.

        Inside :func:`accumulate_row_gradients` (the trainer opens it around its own
        ``loss.backward()`` only), the backward of a lookup into a leaf table of a model with
        :attr:`sparse_gradients` adds the rows' gradients straight into ``table.grad``
        (``index_add_``) instead of returning a table-sized gradient: a plain ``table[index]``
        backward allocates and zero-fills a table-sized tensor per lookup and then adds it to
        ``.grad``, and on Gowalla with MF those fills and adds were most of a training step. Anywhere
        else (``torch.autograd.grad``, ``create_graph=True``, a user's own ``backward()``) the same
        lookup returns the ordinary dense gradient, bit for bit what ``index_select`` gives.
        """
        if self.sparse_gradients and self._sparse_enabled and table.is_leaf and table.requires_grad \
                and torch.is_grad_enabled():
            return _AccumulateRows.apply(table, index)
        return take_rows(table, index)

    @contextmanager
    def dense_gradients(self):
        """Within this block :meth:`gather` is plain indexing even in the trainer's backward."""
        previous, self._sparse_enabled = self._sparse_enabled, False
        try:
            yield self
        finally:
            self._sparse_enabled = previous

    _sparse_enabled: bool = True

    @property
    def representation_dim(self) -> int:
        return self.embedding_dim

    def score_pairs(self, user_rep: Tensor, item_rep: Tensor) -> Tensor:
        """Scores of aligned pairs (inner product by default), ``[B]``."""
        return (user_rep * item_rep).sum(-1)

    @property
    def inner_product_scores(self) -> bool:
        """Whether pairs are scored by the plain inner product of their representation rows (the default
        :meth:`score_pairs`: MF, LightGCN, MGCCF, CDAE; not GMF's or NeuMF's output layers)."""
        return type(self).score_pairs is Recommender.score_pairs

    def score_matrix(self, user_rep: Tensor, item_rep: Tensor, out: Optional[Tensor] = None) -> Tensor:
        """Scores of every user against every item, ``[B, N]``, written into ``out`` when given."""
        if out is None:
            return user_rep @ item_rep.t()
        if _numpy_matmul_ok(user_rep, item_rep, out):
            # OpenBLAS into a reused buffer ran 1.7-2.4x faster than torch.mm(out=) on these CPUs
            # (measured for the project, see benchmarks/speed.py); only for inference on CPU float32.
            # (detach: under no_grad a parameter, e.g. MF's item table, still says requires_grad; the check
            # used to send every MF evaluation to torch.mm for that reason)
            np.matmul(user_rep.detach().numpy(), item_rep.detach().numpy().T, out=out.numpy())
            return out
        return torch.mm(user_rep, item_rep.t(), out=out)

    @property
    def full_rank_cost(self) -> int:
        """Relative cost of scoring one (user, item) pair in :meth:`score_matrix` (1 = one dot product)."""
        return 1

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        """Scores of the pairs ``(users[k], items[k])``."""
        unique_users, user_pos = torch.unique(users, return_inverse=True)
        unique_items, item_pos = torch.unique(items, return_inverse=True)
        user_rep, item_rep = self.representations(unique_users, unique_items)
        return self.score_indexed(user_rep, item_rep, user_pos, item_pos)

    def score_indexed(self, user_rep: Tensor, item_rep: Tensor, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        r"""Scores of the pairs ``(user_rep[user_idx], item_rep[item_idx])`` (indices broadcastable): the
        representations of a batch's distinct nodes, scored at the pairs that use them. By default
        :meth:`score_pairs` of the gathered rows; a backbone may do per-node work once per row here
        (NeuMF's first tower layer)."""
        user_idx, item_idx = torch.broadcast_tensors(user_idx, item_idx)
        return self.score_pairs(take_rows(user_rep, user_idx), take_rows(item_rep, item_idx))

    @torch.no_grad()
    def rank_scores(self, user_rep: Tensor, item_rep: Tensor, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        r"""Scores without gradients of each user ``user_rep[user_idx[b]]`` (``user_idx``: ``[B]``) against
        its own items ``item_rep[item_idx[b]]`` (``item_idx``: ``[B, L]``), ``[B, L]``: candidates to rank
        (PLD's pool). :meth:`score_indexed` by default; an inner product (the default
        :meth:`score_pairs`) is one batched matrix product, which reads each user row once and writes no
        ``[B, L, d]`` product (ML-100K, ``B = 2048``, ``L = 6``: 0.5 ms instead of 0.9)."""
        if not self.inner_product_scores:
            return self.score_indexed(user_rep, item_rep, user_idx.unsqueeze(1), item_idx)
        return torch.bmm(take_rows(item_rep, item_idx), take_rows(user_rep, user_idx).unsqueeze(-1)).squeeze(-1)

    def triplet(self, users: Tensor, pos_items: Tensor, neg_items: Tensor) -> TripletScores:
        r"""Scores of ``(u, i)`` and ``(u, j)``, propagating each distinct node of the batch once.

        ``neg_items`` may have shape ``[B]`` or ``[B, L]`` (several negatives per positive).
        """
        if self.representations_are_embeddings:
            # three lookups whose backward adds rows straight into the tables' gradients: no
            # concatenation of the items, and no split of their gradient, per step
            user_table, item_table = self.embedding_tables()
            return self.score_rows(self.gather(user_table, users), self.gather(item_table, pos_items),
                                   self.gather(item_table, neg_items))
        unique_users, user_pos, unique_items, item_pos = self.batch_nodes(users, pos_items, neg_items)
        user_rep, item_rep = self.representations(unique_users, unique_items)
        num_pos = pos_items.numel()
        return self.score_rows(take_rows(user_rep, user_pos), take_rows(item_rep, item_pos[:num_pos]),
                               take_rows(item_rep, item_pos[num_pos:].view(neg_items.shape)))

    _last_nodes: Optional[tuple] = None

    def batch_nodes(self, users: Tensor, pos_items: Tensor, neg_items: Tensor) -> Tuple[Tensor, ...]:
        """The batch's distinct users and items (``torch.unique`` of the users and of the positives then
        the flattened negatives) and each row's position among them. The last answer is kept for the
        same, unmodified tensors: TIL's state, clustering loss, look-ahead and JVP ask again."""
        batch = (users, pos_items, neg_items)
        try:
            key = tuple(t._version for t in batch)
        except RuntimeError:  # inference-mode tensors have no version counter: nothing is kept
            key = None
        last = self._last_nodes
        if key is not None and last is not None and last[1] == key and all(a is b for a, b in zip(last[0], batch)):
            return last[2]
        unique_users, user_pos = torch.unique(users, return_inverse=True)
        all_items = torch.cat([pos_items, neg_items.reshape(-1)])
        unique_items, item_pos = torch.unique(all_items, return_inverse=True)
        nodes = (unique_users, user_pos, unique_items, item_pos)
        self._last_nodes = None if key is None else (batch, key, nodes)
        return nodes

    def cell_scores(self, users: Tensor, rows: Tensor, items: Tensor) -> Tensor:
        r"""Scores of the cells ``(users[rows[k]], items[k])`` of a batch of users, ``[K]``: each user of
        ``users`` is represented once (for CDAE: one corruption of its row per call, shared by all
        its cells, as the authors' one forward pass over the batch's matrix)."""
        unique_items, item_pos = torch.unique(items, return_inverse=True)
        user_rep, item_rep = self.representations(users, unique_items)
        return self.score_indexed(user_rep, item_rep, rows, item_pos)

    def score_rows(self, u: Tensor, i: Tensor, j: Tensor) -> TripletScores:
        r"""Triplet scores from aligned representation rows: users and positives ``[B, d]``, negatives
        ``[B, d]`` or ``[B, L, d]``."""
        pos = self.score_pairs(u, i)
        neg = self.score_pairs(u.unsqueeze(1).expand_as(j) if j.dim() == 3 else u, j)
        return TripletScores(pos, neg, u, i, j)

    def item_rows(self, items: Tensor) -> Tensor:
        """Ego rows of ``items`` through :meth:`gather` (the trainer's row-sparse backward), also when the
        item table is a row slice of one parameter (LightGCN stacks users and items)."""
        table = self.embedding_tables()[1]
        base, first = row_slice_of(table)
        if base is not table and base.is_leaf and base.dim() == 2 and table.stride() == base.stride():
            return self.gather(base, items + first)
        return self.gather(table, items)

    def regularization(self, users: Tensor, pos_items: Tensor, neg_items: Tensor,
                       scores: Optional[TripletScores] = None) -> Tensor:
        r"""L2 of the ego embeddings used by a batch, :math:`\frac{1}{2B}\sum(\|p_u\|^2+\|q_i\|^2+\|q_j\|^2)`.

        When the representations are the ego embeddings (MF), the batch's ``scores`` already hold them.
        """
        if scores is not None and self.representations_are_embeddings:
            sq = scores.user.pow(2).sum() + scores.pos_item.pow(2).sum() + scores.neg_item.pow(2).sum()
            return 0.5 * sq / max(users.numel(), 1)
        user_table, item_table = self.embedding_tables()
        sq = (self.gather(user_table, users).pow(2).sum() + self.gather(item_table, pos_items).pow(2).sum()
              + self.gather(item_table, neg_items).pow(2).sum())
        return 0.5 * sq / max(users.numel(), 1)

    @torch.no_grad()
    def recommend(self, users: Tensor, k: int = 20, exclude_train: bool = True) -> Tensor:
        r"""Top-``k`` item ids per user, ``[len(users), k]``, training items excluded by default."""
        users = torch.as_tensor(users, dtype=torch.long, device=self.train_index.keys.device).view(-1)
        if users.numel() and (users.min() < 0 or users.max() >= self.num_users):
            raise ValueError(f"user ids must lie in [0, {self.num_users}), got range [{int(users.min())}, {int(users.max())}]")
        if not 0 < k <= self.num_items:
            raise ValueError(f"k must lie in [1, {self.num_items}], got {k}")
        was_training = self.training
        self.eval()
        user_rep, item_rep = self.representations(users, None)
        scores = self.score_matrix(user_rep, item_rep)
        if exclude_train:
            row, col = self.train_index.gather_rows(users)
            scores[row, col] = float("-inf")
        self.train(was_training)
        return row_topk(scores, k)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        probe = fn(torch.zeros(1))
        self.train_index = self.train_index.to(probe.device)
        self._move_graph(probe.device, probe.dtype)
        return out

    def _move_graph(self, device, dtype) -> None:
        """Move non-parameter graph structures (sparse operators) to ``device`` and floating ``dtype``."""

    def extra_repr(self) -> str:
        return f"{self.num_users} users, {self.num_items} items, embedding_dim={self.embedding_dim}"


def row_slice_of(table: Tensor) -> Tuple[Tensor, int]:
    """``(base, first)``: the tensor ``table`` is a row slice of (``table`` itself when it is not a view)
    and the index of its first row there (LightGCN's user and item tables are row slices of one
    parameter)."""
    base = table if table._base is None else table._base
    return base, (table.storage_offset() - base.storage_offset()) // max(table.stride(0), 1)


def rows_at(model: Recommender, params: dict, users: Tensor, pos_items: Tensor, neg_items: Tensor):
    """The triplets' user / positive / negative representation rows of :meth:`Recommender.triplet` at
    parameters ``params`` (``{name: tensor}``, missing names at the model's own values)."""
    wrapped = {f"model.{name}": value for name, value in params.items()}
    return torch.func.functional_call(_Rows(model), wrapped, (users, pos_items, neg_items), strict=False)


def representations_at(model: Recommender, params: dict, users: Tensor, items: Tensor):
    """:meth:`Recommender.representations` of ``users`` and ``items`` at parameters ``params`` (as
    :func:`rows_at`)."""
    wrapped = {f"model.{name}": value for name, value in params.items()}
    return torch.func.functional_call(_Representations(model), wrapped, (users, items), strict=False)


class _Representations(nn.Module):
    """Calls ``model.representations`` for :func:`torch.func.functional_call`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, users, items):
        return self.model.representations(users, items)


class _Rows(nn.Module):
    """Calls ``model.triplet`` so that :func:`torch.func.functional_call` can evaluate it at other parameters."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, users, pos_items, neg_items):
        out = self.model.triplet(users, pos_items, neg_items)
        return out.user, out.pos_item, out.neg_item


_ROW_ACCUMULATION = [0]  # > 0 inside the trainer's backward (a counter: the backward may nest)


@contextmanager
def accumulate_row_gradients():
    r"""Lets the backward of :meth:`Recommender.gather` lookups add row gradients straight into
    ``table.grad`` (the trainer's fast path). Open it around a ``loss.backward()`` whose gradients go
    to ``.grad`` and nowhere else: never around ``torch.autograd.grad`` or ``create_graph=True``.
    A process-wide flag, not a thread-local one: autograd runs CUDA backward passes on its own threads."""
    _ROW_ACCUMULATION[0] += 1
    try:
        yield
    finally:
        _ROW_ACCUMULATION[0] -= 1


class _AccumulateRows(torch.autograd.Function):
    """``table[index]``; its backward adds into ``table.grad`` in place inside
    :func:`accumulate_row_gradients`, and returns the ordinary dense gradient elsewhere."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor) -> Tensor:
        ctx.table, ctx.index = table, index
        ctx.save_for_forward(index)
        return take_rows(table.detach(), index)

    @staticmethod
    def jvp(ctx, table_tangent: Tensor, _):
        return take_rows(table_tangent, ctx.saved_tensors[0])

    @staticmethod
    def backward(ctx, grad: Tensor):
        table, index, flat = ctx.table, ctx.index.reshape(-1), grad.reshape(-1, grad.size(-1))
        if _ROW_ACCUMULATION[0] and not torch.is_grad_enabled():
            if table.grad is None:
                table.grad = torch.zeros_like(table)
            table.grad.index_add_(0, index, flat)
            return None, None
        return grad.new_zeros(table.shape).index_add_(0, index, flat), None


def _numpy_matmul_ok(a: Tensor, b: Tensor, out: Tensor) -> bool:
    return (not torch.is_grad_enabled() and a.device.type == b.device.type == out.device.type == "cpu"
            and a.dtype == b.dtype == out.dtype == torch.float32 and out.is_contiguous() and not out.requires_grad)


def xavier_embedding(num: int, dim: int) -> nn.Embedding:
    """An embedding table with Xavier-uniform initialisation (the TIL paper's setting)."""
    emb = nn.Embedding(num, dim)
    nn.init.xavier_uniform_(emb.weight)
    return emb
