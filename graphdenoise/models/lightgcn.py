r"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020, https://arxiv.org/abs/2002.02126).

.. math::
    E^{(k+1)} = \hat A E^{(k)}, \quad \hat A = D^{-1/2} A D^{-1/2}, \quad
    E = \frac{1}{L+1}\sum_{k=0}^{L} E^{(k)}

over the symmetric bipartite user-item graph of the training edges (users first, then items).
Propagation is PyG message passing (:class:`LightGCNConv`) whose sparse ``message_and_aggregate`` is a
pre-normalised CSR product built once. The last layer is computed only for the rows the batch needs
(a training step touches the batch's users and items, not every node); earlier layers are full.

Reference: PyG's ``torch_geometric.nn.models.LightGCN`` (same normalisation and layer mean).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..datasets.graph import train_edges
from ..utils import take_rows
from .base import MODELS, EncoderConfig, Recommender, xavier_embedding
from .sparse import SparseConv, SparseOperator, csr_from_coo
from ..config import check_fields


@dataclass
class LightGCNConfig(EncoderConfig):
    num_layers: int = 1
    """Number of propagation layers (the TIL paper uses 1; the LightGCN paper 3)."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, num_layers=">= 0")


def normalized_bipartite_adjacency(edge_index: Tensor, num_users: int, num_items: int) -> SparseOperator:
    r"""The symmetric :math:`D^{-1/2} A D^{-1/2}` of the user-item graph as a CSR operator."""
    users, items = edge_index[0], edge_index[1] + num_users
    row = torch.cat([users, items])
    col = torch.cat([items, users])
    n = num_users + num_items
    deg = torch.bincount(row, minlength=n).float()
    inv_sqrt = deg.pow(-0.5)
    inv_sqrt[torch.isinf(inv_sqrt)] = 0
    value = inv_sqrt[row] * inv_sqrt[col]
    return SparseOperator(csr_from_coo(row, col, value, (n, n)), symmetric=True)


class LightGCNConv(SparseConv):
    r"""One LightGCN layer, :math:`\hat A x`: PyG sparse message passing (:class:`SparseConv`) over the
    pre-normalised adjacency; ``rows`` restricts the output to those nodes."""


@MODELS.register("lightgcn")
class LightGCN(Recommender):
    r"""LightGCN over the training graph, Xavier-initialised ego embeddings.

    Args:
        data (HeteroData): The dataset (node counts and training edges).
        config (LightGCNConfig, optional): ``embedding_dim`` (default: 64), ``num_layers`` (default: 1).
    """

    Config = LightGCNConfig
    sparse_gradients = True
    linear_representations = True

    def __init__(self, data, config=None, **overrides):
        super().__init__(data, config, **overrides)
        self.num_layers = self.config.num_layers
        # one table for users then items: the propagation reads it without a per-step concatenation
        self.embedding = nn.Parameter(torch.cat([xavier_embedding(self.num_users, self.embedding_dim).weight.data,
                                                 xavier_embedding(self.num_items, self.embedding_dim).weight.data]))
        self.conv = LightGCNConv()
        self.adjacency = normalized_bipartite_adjacency(train_edges(data), self.num_users, self.num_items)

    def reset_parameters(self):
        with torch.no_grad():
            for table in self.embedding_tables():
                nn.init.xavier_uniform_(table)

    def _move_graph(self, device, dtype):
        if not self.adjacency.placed(device, dtype):
            self.adjacency = self.adjacency.to(device, dtype)

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        return self.embedding[: self.num_users], self.embedding[self.num_users:]

    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None):
        ego = self.embedding
        if users is None and items is None:
            nodes = None
        else:
            users = torch.arange(self.num_users, device=ego.device) if users is None else users
            items = torch.arange(self.num_items, device=ego.device) if items is None else items
            nodes = torch.cat([users, items + self.num_users])
        x, total = ego, (ego if nodes is None else self.gather(ego, nodes))
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            x = self.conv(x, self.adjacency, nodes if last else None)
            total = total + (x if last or nodes is None else take_rows(x, nodes))
        out = total / (self.num_layers + 1)
        if nodes is None:
            return out[: self.num_users], out[self.num_users:]
        return out[: users.numel()], out[users.numel():]

    def regularization(self, users: Tensor, pos_items: Tensor, neg_items: Tensor, scores=None) -> Tensor:
        # one lookup into the single table (users, then items offset by num_users)
        nodes = torch.cat([users, pos_items + self.num_users, neg_items.reshape(-1) + self.num_users])
        return 0.5 * self.gather(self.embedding, nodes).pow(2).sum() / max(users.numel(), 1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_layers={self.num_layers}"
