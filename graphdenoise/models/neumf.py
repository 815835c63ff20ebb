r"""NeuMF (He, Liao, Zhang, Nie, Hu, Chua, "Neural Collaborative Filtering", WWW 2017,
https://arxiv.org/abs/1708.05031), end-to-end without pre-training ("NeuMF-end").

.. math::
    \phi^{GMF}_{ui} = p^G_u \odot q^G_i, \qquad
    \phi^{MLP}_{ui} = a_L(\dots a_1(W_1 [\, p^M_u \,\|\, q^M_i \,] + b_1) \dots), \qquad
    \hat y_{ui} = h^\top [\, \phi^{GMF}_{ui} \,\|\, \phi^{MLP}_{ui} \,] + b

with ReLU activations :math:`a_l`, a tower that halves its width at every layer, and a logit
:math:`\hat y_{ui}` (use BCE-with-logits or BPR on it). With ``embedding_dim = d`` and ``num_layers = L``
the MLP embeddings have ``d * 2**(L-1)`` entries per side, so the tower is
``2^L d -> 2^(L-1) d -> ... -> d`` (DenoisingRec's NeuMF-end with ``factor_num = d``).

Initialisation: Xavier-uniform embeddings (the project's setting; DenoisingRec uses N(0, 0.01)) and MLP
weights, Kaiming-uniform (``a=1``, ``'sigmoid'``) prediction weights, zero biases.

Reference: DenoisingRec ``T_CE/model.py`` (``NCF``, model ``'NeuMF-end'``): same tower, dropout before
each linear layer, prediction layer and initialisation of the layers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .base import MODELS, EncoderConfig, Recommender, TripletScores, xavier_embedding
from .gmf import init_prediction_layer
from ..config import check_fields
from ..utils import take_rows


@dataclass
class NeuMFConfig(EncoderConfig):
    """``embedding_dim`` is the size of the GMF embeddings (and of the tower's output)."""

    num_layers: int = 3
    """Layers of the MLP tower (DenoisingRec's NeuMF-end uses 3)."""

    mlp_embedding_dim: Optional[int] = None
    """Size of each MLP embedding; by default ``embedding_dim * 2**(num_layers - 1)``."""

    dropout: float = 0.0
    """Dropout before each tower layer (DenoisingRec: 0)."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, num_layers=">= 1", dropout="[0, 1)")
        if self.mlp_embedding_dim is not None and 2 * self.mlp_embedding_dim < 2**self.num_layers:
            raise ValueError(f"mlp_embedding_dim={self.mlp_embedding_dim} is too small for a tower of "
                             f"{self.num_layers} halving layers")


@MODELS.register("neumf")
class NeuMF(Recommender):
    r"""Neural matrix factorisation: GMF and MLP towers with separate embeddings, fused into a logit.

    A node's representation is the concatenation ``[GMF embedding || MLP embedding]``
    (``representation_dim = embedding_dim + mlp_embedding_dim``); :meth:`score_pairs` and
    :meth:`score_matrix` run the towers on them. :meth:`embedding_tables` returns the **GMF** tables
    (the part of NeuMF that is a factorisation, what TIL's states and BOD's gradients read);
    :meth:`mlp_embedding_tables` the MLP ones; :meth:`regularization` covers both.

    Args:
        data (HeteroData): The dataset (node counts and training edges).
        config (NeuMFConfig, optional): ``embedding_dim`` (default: 64), ``num_layers`` (default: 3),
            ``mlp_embedding_dim`` (default: ``embedding_dim * 2**(num_layers - 1)``),
            ``dropout`` (default: 0).

    Shapes:
        - **representations:** ``[U, D]``, ``[I, D]``, ``D = embedding_dim + mlp_embedding_dim``
        - **score_pairs:** ``[*, D]`` and ``[*, D]`` (broadcastable, e.g. ``[B, L, D]``) -> ``[*]``
        - **score_matrix:** ``[B, D]`` and ``[N, D]`` -> ``[B, N]``
    """

    Config = NeuMFConfig

    score_block_pairs: int = 4096
    """(user, item) pairs per tower block of :meth:`score_matrix` (buffers of a few MB that stay in cache)."""

    score_block_elements: int = 2**23
    """Memory bound of :meth:`score_matrix` with dropout in training: first-layer activations per block."""

    def __init__(self, data, config: Optional[NeuMFConfig] = None, **overrides):
        super().__init__(data, config, **overrides)
        cfg = self.config
        d = self.embedding_dim
        self.mlp_dim = cfg.mlp_embedding_dim or d * 2 ** (cfg.num_layers - 1)
        self.widths = tuple(2 * self.mlp_dim // 2**layer for layer in range(cfg.num_layers + 1))
        self.user_gmf = xavier_embedding(self.num_users, d)
        self.item_gmf = xavier_embedding(self.num_items, d)
        self.user_mlp = xavier_embedding(self.num_users, self.mlp_dim)
        self.item_mlp = xavier_embedding(self.num_items, self.mlp_dim)
        layers = []
        for in_dim, out_dim in zip(self.widths[:-1], self.widths[1:]):
            layers += [nn.Dropout(cfg.dropout), nn.Linear(in_dim, out_dim), nn.ReLU()]
        self.tower = nn.Sequential(*layers)
        self.predict = nn.Linear(d + self.widths[-1], 1)
        self._init_layers()

    def _init_layers(self):
        for module in self.tower:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        init_prediction_layer(self.predict)

    def reset_parameters(self):
        for table in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.xavier_uniform_(table.weight)
        self._init_layers()

    @property
    def representation_dim(self) -> int:
        return self.embedding_dim + self.mlp_dim

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        """The GMF user and item tables (see the class docstring)."""
        return self.user_gmf.weight, self.item_gmf.weight

    def mlp_embedding_tables(self) -> Tuple[Tensor, Tensor]:
        """The MLP user and item tables."""
        return self.user_mlp.weight, self.item_mlp.weight

    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None):
        def rows(gmf: Tensor, mlp: Tensor, ids: Optional[Tensor]) -> Tensor:
            return torch.cat([gmf, mlp] if ids is None else [gmf[ids], mlp[ids]], dim=-1)

        return (rows(self.user_gmf.weight, self.user_mlp.weight, users),
                rows(self.item_gmf.weight, self.item_mlp.weight, items))

    def score_pairs(self, user_rep: Tensor, item_rep: Tensor) -> Tensor:
        user_rep, item_rep = torch.broadcast_tensors(user_rep, item_rep)
        user_gmf, user_mlp = user_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        item_gmf, item_mlp = item_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        mlp = self.tower(torch.cat([user_mlp, item_mlp], dim=-1))
        return self.predict(torch.cat([user_gmf * item_gmf, mlp], dim=-1)).squeeze(-1)

    def _per_pair(self) -> bool:
        """Dropout in training mode draws a mask per pair before the first layer: no per-node split."""
        return self.training and self.config.dropout > 0

    def _node_parts(self, user_rep: Tensor, item_rep: Tensor) -> Tuple[Tensor, Tensor]:
        """The first tower layer's user and item terms of representation rows (see :meth:`score_matrix`)."""
        return self._first_layer_parts(user_rep[..., self.embedding_dim:], item_rep[..., self.embedding_dim:])

    def _scores_from_parts(self, user_gmf: Tensor, item_gmf: Tensor, first: Tensor) -> Tensor:
        """Scores of aligned GMF rows of pairs whose first tower layer (before its ReLU) is ``first``."""
        return self.predict(torch.cat([user_gmf * item_gmf, self.tower[2:](first)], dim=-1)).squeeze(-1)

    def score_indexed(self, user_rep: Tensor, item_rep: Tensor, user_idx: Tensor, item_idx: Tensor,
                      parts: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        r"""Scores of the pairs ``(user_rep[user_idx], item_rep[item_idx])`` (indices broadcastable), the
        first tower layer :math:`W_{1p} p + W_{1q} q + b_1` computed once per ROW of ``user_rep`` and
        ``item_rep`` (a batch's distinct nodes) rather than once per pair: the tower's widest product
        runs on about ``U + I`` rows instead of ``2B`` (training on ML-100K natural, batch 2048:
        about 2,040 distinct nodes instead of 4,096 pairs). :meth:`forward` and :meth:`cell_scores` use
        it; with dropout in training mode (a mask per pair) the pairs go through the whole tower."""
        if self._per_pair():
            return super().score_indexed(user_rep, item_rep, user_idx, item_idx)
        user_part, item_part = self._node_parts(user_rep, item_rep) if parts is None else parts
        user_idx, item_idx = torch.broadcast_tensors(user_idx, item_idx)
        first = take_rows(user_part, user_idx) + take_rows(item_part, item_idx)
        # only the GMF columns of each pair's rows are read: the MLP columns entered through ``first``
        # (gathering whole rows moved 5x the bytes each way: 320 columns for 64 at the default sizes)
        gmf = self.embedding_dim
        return self._scores_from_parts(take_rows(user_rep[..., :gmf], user_idx), take_rows(item_rep[..., :gmf], item_idx),
                                       first)

    def triplet(self, users: Tensor, pos_items: Tensor, neg_items: Tensor) -> TripletScores:
        r"""As :meth:`Recommender.triplet`, with the first tower layer once per distinct node of the
        batch (:meth:`score_indexed`; the per-pair path with dropout in training mode). The returned
        representation rows are the batch's rows (differentiable w.r.t. the parameters), but the scores
        are computed from the distinct nodes' rows, not from these tensors: to differentiate scores
        w.r.t. representation rows, call :meth:`score_rows` on them (as SGDL does)."""
        if self._per_pair():
            return super().triplet(users, pos_items, neg_items)
        unique_users, user_pos, unique_items, item_pos = self.batch_nodes(users, pos_items, neg_items)
        user_rep, item_rep = self.representations(unique_users, unique_items)
        parts = self._node_parts(user_rep, item_rep)
        num_pos = pos_items.numel()
        pos_idx, neg_idx = item_pos[:num_pos], item_pos[num_pos:].view(neg_items.shape)
        neg_users = user_pos.view(-1, 1) if neg_items.dim() == 2 else user_pos
        pos = self.score_indexed(user_rep, item_rep, user_pos, pos_idx, parts)
        neg = self.score_indexed(user_rep, item_rep, neg_users, neg_idx, parts)
        return TripletScores(pos, neg, take_rows(user_rep, user_pos), take_rows(item_rep, pos_idx),
                             take_rows(item_rep, neg_idx))

    def score_matrix(self, user_rep: Tensor, item_rep: Tensor, out: Optional[Tensor] = None) -> Tensor:
        r"""Scores of every user of ``user_rep`` against every item of ``item_rep``, ``[B, N]``.

        The GMF part :math:`h_G^\top (p_u \odot q_i) = (p_u \odot h_G)^\top q_i` is one matrix product;
        the first tower layer splits into a user and an item term, :math:`W_1 [p \| q] = W_{1p} p + W_{1q}
        q`, each computed once per call (``B`` and ``N`` rows, not ``B * N``), so only the layers after
        it run per pair. Without autograd (evaluation) they run as GEMMs over blocks of
        :attr:`score_block_pairs` pairs into reused buffers (bias, ReLU and the final product in
        place): the cost is the tower's GEMMs, with no Python work per user. With autograd, or with
        dropout in training mode (the first layer then runs on each concatenated pair), blocks hold at
        most :attr:`score_block_elements` first-layer activations.
        """
        if out is None:
            out = user_rep.new_empty(user_rep.size(0), item_rep.size(0))
        dropout = self.training and self.config.dropout > 0
        if torch.is_grad_enabled() or dropout:
            return self._score_blocks(user_rep, item_rep, out, split_first=not dropout)
        user_gmf, user_mlp = user_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        item_gmf, item_mlp = item_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        weight_gmf, weight_mlp = self.predict.weight[0].split([self.embedding_dim, self.widths[-1]])
        torch.addmm(self.predict.bias, user_gmf * weight_gmf, item_gmf.t(), out=out)
        user_part, item_part = self._first_layer_parts(user_mlp, item_mlp)
        linears = [m for m in self.tower[2:] if isinstance(m, nn.Linear)]
        num_users, num_items = out.shape
        block = max(1, self.score_block_pairs // max(1, num_users))
        buffers = [user_rep.new_empty(num_users * min(block, num_items), w) for w in self.widths[1:]]
        for start in range(0, num_items, block):
            stop = min(num_items, start + block)
            rows = num_users * (stop - start)
            hidden = buffers[0][:rows]
            torch.add(user_part[:, None, :], item_part[None, start:stop, :],
                      out=hidden.view(num_users, stop - start, -1)).relu_()
            for linear, buf in zip(linears, buffers[1:]):
                hidden = torch.addmm(linear.bias, hidden, linear.weight.t(), out=buf[:rows]).relu_()
            out[:, start:stop] += (hidden @ weight_mlp).view(num_users, stop - start)
        return out

    def _first_layer_parts(self, user_mlp: Tensor, item_mlp: Tensor) -> Tuple[Tensor, Tensor]:
        r""":math:`W_{1p} p_u` per user ``[B, h1]`` and :math:`W_{1q} q_i + b_1` per item ``[N, h1]``."""
        first = self.tower[1]
        weight_user, weight_item = first.weight.split([self.mlp_dim, self.mlp_dim], dim=1)
        return user_mlp @ weight_user.t(), torch.addmm(first.bias, item_mlp, weight_item.t())

    def _score_blocks(self, user_rep: Tensor, item_rep: Tensor, out: Tensor, split_first: bool) -> Tensor:
        """The differentiable form of :meth:`score_matrix` (item blocks, results copied into ``out``)."""
        num_users, num_items = out.shape
        user_gmf, user_mlp = user_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        item_gmf, item_mlp = item_rep.split([self.embedding_dim, self.mlp_dim], dim=-1)
        weight_gmf, weight_mlp = self.predict.weight[0].split([self.embedding_dim, self.widths[-1]])
        if split_first:
            user_part, item_part = self._first_layer_parts(user_mlp, item_mlp)
        block = max(1, self.score_block_elements // max(1, num_users * self.widths[1]))
        for start in range(0, num_items, block):
            stop = min(num_items, start + block)
            if split_first:
                hidden = self.tower[2:](user_part[:, None, :] + item_part[None, start:stop, :])
            else:
                pairs = torch.cat([user_mlp[:, None, :].expand(-1, stop - start, -1),
                                   item_mlp[None, start:stop, :].expand(num_users, -1, -1)], dim=-1)
                hidden = self.tower(pairs)
            scores = torch.addmm(self.predict.bias, user_gmf * weight_gmf, item_gmf[start:stop].t())
            out[:, start:stop] = scores + hidden @ weight_mlp
        return out

    @property
    def full_rank_cost(self) -> int:
        """Multiply-adds per pair in :meth:`score_matrix` over those of a ``representation_dim`` dot
        product (about 130 with the defaults)."""
        macs = self.widths[1] + sum(a * b for a, b in zip(self.widths[1:-1], self.widths[2:]))
        macs += self.widths[-1] + self.embedding_dim
        return max(1, math.ceil(macs / self.representation_dim))

    def regularization(self, users: Tensor, pos_items: Tensor, neg_items: Tensor, scores=None) -> Tensor:
        r"""L2 of the GMF and MLP embeddings used by a batch, :math:`\frac{1}{2B}\sum \|\cdot\|^2`."""
        sq = 0.0
        for user_table, item_table in (self.embedding_tables(), self.mlp_embedding_tables()):
            sq = sq + (user_table[users].pow(2).sum() + item_table[pos_items].pow(2).sum()
                       + item_table[neg_items].pow(2).sum())
        return 0.5 * sq / max(users.numel(), 1)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", mlp_embedding_dim={self.mlp_dim}, "
                f"tower={self.widths}, dropout={self.config.dropout}")
