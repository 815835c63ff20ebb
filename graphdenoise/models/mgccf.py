r"""MGCCF (Sun, Zhang, Ma, Coates, Guo, Tang, He, "Multi-Graph Convolution Collaborative Filtering",
ICDM 2019, https://arxiv.org/abs/2001.00267).

Three parallel encoders of every node, fused per node (users shown; items are symmetric with their own
parameters :math:`W_i, Q_i, M_i, S_i`):

.. math::
    \text{Bipar-GCN:}\quad h^k_{N(u)} = \frac{1}{|N(u)|}\sum_{i \in N(u)} e^{k-1}_i, \qquad
    e^k_u = \tanh\!\big(W^k_u\, [\, e^{k-1}_u \,\|\, h^k_{N(u)} \,]\big), \quad k = 1..K

    \text{Multi-Graph Encoding:}\quad z_u = \tanh\!\Big(M_u \sum_{u' \in N_{UU}(u)} s_{uu'}\, e^0_{u'}\Big)

    \text{skip connection:}\quad s_u = \tanh(S_u\, e^0_u)

    e^*_u = e^K_u + z_u + s_u \ \ (\texttt{fusion='sum'}) \quad\text{or}\quad
    [\, e^K_u \,\|\, z_u \,\|\, s_u \,] \ \ (\texttt{fusion='concat'}), \qquad
    \hat y_{ui} = \langle e^*_u, e^*_i \rangle

:math:`N(u)` are the user's TRAINING items (a row-normalised user->item operator gives the mean),
:math:`N_{UU}(u)` its ``top_k`` cosine-nearest users with similarity :math:`s_{uu'}`
(:class:`~graphdenoise.models.similarity.AddSimilarityEdges`); ``similarity_aggr='mean'`` divides the
sum by :math:`|N_{UU}(u)|`. All weight matrices are square ``d x d`` (``2d x d`` for :math:`W`), have no
bias, and are Xavier-uniform, as are the ego embeddings :math:`e^0`.

Reading of the paper: there is no public code. The
equations above follow our reading of the paper's description: separate user and item parameters in
Bipar-GCN, a one-hop sum aggregator on the similarity graphs, a skip connection on the ego embedding,
element-wise-sum fusion as the default, inner-product score. Deviations, stated plainly: the paper's
Bipar-GCN samples a fixed-size neighbourhood (GraphSAGE style) and may apply its own weight and
non-linearity inside the aggregator, :math:`h^k_{N(u)} = \sigma(\mathrm{mean}(e^{k-1}_i)\, Q^k_u)`;
here the full neighbourhood is averaged (deterministic, no sampling) and :math:`Q` is off by default
(``aggregator_weight=True`` turns it on, with :math:`\sigma = \tanh`). Dropout is not used.

Only the requested rows are computed: the last Bipar-GCN layer, the similarity aggregation and the skip
connection touch the rows of the batch's users and items (:class:`SparseOperator` with ``rows``); earlier
Bipar-GCN layers (``num_layers > 1``) are full. The backward of each product is a full sparse product.

Reference: a dense re-computation of the equations above (``tests/models/test_mgccf.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..datasets.graph import train_edges
from .base import MODELS, EncoderConfig, Recommender, xavier_embedding
from .similarity import SIMILAR, AddSimilarityEdges
from .sparse import SparseConv, SparseOperator, csr_from_coo, mean_operator

FUSIONS = ("sum", "concat")
AGGREGATIONS = ("sum", "mean")


@dataclass
class MGCCFConfig(EncoderConfig):
    num_layers: int = 1
    """Bipar-GCN layers ``K`` (the TIL paper's backbone uses 1)."""

    fusion: str = "sum"
    """How Bipar-GCN, Multi-Graph Encoding and the skip connection are fused: ``'sum'`` (element-wise,
    the paper's default) or ``'concat'`` (representations of size ``3 * embedding_dim``)."""

    similarity_aggr: str = "sum"
    """Aggregation over the similarity graph: ``'sum'`` of similarity-weighted neighbours (the paper's
    sum aggregator) or ``'mean'`` (the same sum divided by the number of neighbours)."""

    similarity_top_k: int = 10
    """Neighbours per node of the similarity graphs, used only when the data does not carry them."""

    aggregator_weight: bool = False
    """Apply a weight and ``tanh`` inside the Bipar-GCN aggregator, ``tanh(Q mean(e_i))``."""

    def __post_init__(self):
        super().__post_init__()
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.similarity_aggr not in AGGREGATIONS:
            raise ValueError(f"similarity_aggr must be one of {AGGREGATIONS}, got {self.similarity_aggr!r}")
        if self.similarity_top_k <= 0:
            raise ValueError(f"similarity_top_k must be positive, got {self.similarity_top_k}")


def similarity_operator(edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int,
                        aggr: str = "sum") -> SparseOperator:
    r"""``[num_nodes, num_nodes]`` operator of a similarity graph in ``source_to_target`` form
    (``edge_index[0]`` neighbour, ``edge_index[1]`` node): ``A[t, s] = s_ts`` (divided by the
    in-degree of ``t`` for ``aggr='mean'``)."""
    source, target = edge_index[0].long(), edge_index[1].long()
    value = torch.ones(source.numel()) if edge_weight is None else edge_weight.float().cpu()
    if aggr == "mean":
        value = value / torch.bincount(target, minlength=num_nodes).float()[target]
    return SparseOperator(csr_from_coo(target, source, value, (num_nodes, num_nodes)))


def _linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim, bias=False)
    nn.init.xavier_uniform_(layer.weight)
    return layer


@MODELS.register("mgccf")
class MGCCF(Recommender):
    r"""Multi-Graph Convolution Collaborative Filtering, inner-product score (equations in the module
    docstring).

    The user-user and item-item graphs are read from ``data['user', 'similar', 'user']`` and
    ``data['item', 'similar', 'item']`` (``edge_index``, optional ``edge_weight``), as written by
    :class:`~graphdenoise.models.similarity.AddSimilarityEdges`. When one is missing, the constructor
    builds it from the training edges with ``AddSimilarityEdges(top_k=config.similarity_top_k)``
    without modifying ``data``; when present it is used as is (``similarity_top_k`` is then ignored).

    Args:
        data (HeteroData): The dataset (node counts, training edges, optional similarity graphs).
        config (MGCCFConfig, optional): ``embedding_dim`` (default: 64), ``num_layers`` (default: 1),
            ``fusion`` (default: ``'sum'``), ``similarity_aggr`` (default: ``'sum'``),
            ``similarity_top_k`` (default: 10), ``aggregator_weight`` (default: :obj:`False`).

    Shapes:
        - **input:** ``users`` ``[U]``, ``items`` ``[I]`` node ids (or None for all)
        - **output:** ``[U, D]``, ``[I, D]`` with ``D = representation_dim``
          (``embedding_dim``, or ``3 * embedding_dim`` for ``fusion='concat'``)
    """

    Config = MGCCFConfig

    def __init__(self, data: HeteroData, config: Optional[MGCCFConfig] = None, **overrides):
        super().__init__(data, config, **overrides)
        cfg = self.config
        d = self.embedding_dim
        self.num_layers = cfg.num_layers
        self.fusion = cfg.fusion
        self.similarity_aggr = cfg.similarity_aggr
        self.user_embedding = xavier_embedding(self.num_users, d)
        self.item_embedding = xavier_embedding(self.num_items, d)
        self.user_gcn = nn.ModuleList(_linear(2 * d, d) for _ in range(self.num_layers))
        self.item_gcn = nn.ModuleList(_linear(2 * d, d) for _ in range(self.num_layers))
        if cfg.aggregator_weight:
            self.user_aggregator = nn.ModuleList(_linear(d, d) for _ in range(self.num_layers))
            self.item_aggregator = nn.ModuleList(_linear(d, d) for _ in range(self.num_layers))
        else:
            self.user_aggregator = self.item_aggregator = None
        self.user_mge = _linear(d, d)
        self.item_mge = _linear(d, d)
        self.user_skip = _linear(d, d)
        self.item_skip = _linear(d, d)
        self.conv = SparseConv()

        edges = train_edges(data).cpu()
        self.user_items = mean_operator(edges, self.num_users, self.num_items)
        self.item_users = mean_operator(edges.flip(0), self.num_items, self.num_users)
        counts = {"user": self.num_users, "item": self.num_items}
        builder = AddSimilarityEdges(top_k=cfg.similarity_top_k)
        operators = {}
        for node_type, edge_type in SIMILAR.items():
            if edge_type in data.edge_types and "edge_index" in data[edge_type]:
                edge_index = data[edge_type].edge_index.cpu()
                edge_weight = getattr(data[edge_type], "edge_weight", None)
                if edge_index.numel() and int(edge_index.max()) >= counts[node_type]:
                    raise ValueError(f"{edge_type} has node ids beyond the {counts[node_type]} {node_type}s")
            else:
                edge_index, edge_weight = builder.edges(data, node_type)
            operators[node_type] = similarity_operator(edge_index, edge_weight, counts[node_type],
                                                       self.similarity_aggr)
        self.user_similar, self.item_similar = operators["user"], operators["item"]

    def reset_parameters(self):
        for table in (self.user_embedding, self.item_embedding):
            nn.init.xavier_uniform_(table.weight)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)

    def _move_graph(self, device, dtype):
        for name in ("user_items", "item_users", "user_similar", "item_similar"):
            op = getattr(self, name)
            if not op.placed(device, dtype):
                setattr(self, name, op.to(device, dtype))

    @property
    def representation_dim(self) -> int:
        return 3 * self.embedding_dim if self.fusion == "concat" else self.embedding_dim

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight

    def _side(self, ego: Tensor, rows: Optional[Tensor], gcn: Tensor, mge: nn.Linear, skip: nn.Linear,
              similar: SparseOperator) -> Tensor:
        fused = [gcn, torch.tanh(mge(self.conv(ego, similar, rows))),
                 torch.tanh(skip(ego if rows is None else ego[rows]))]
        return torch.cat(fused, dim=-1) if self.fusion == "concat" else fused[0] + fused[1] + fused[2]

    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None):
        ego_user, ego_item = self.embedding_tables()
        user_rows, user_back = _unique(users)
        item_rows, item_back = _unique(items)
        x_user, x_item = ego_user, ego_item
        for k in range(self.num_layers):
            last = k == self.num_layers - 1
            rows_u, rows_i = (user_rows, item_rows) if last else (None, None)
            h_user = self.conv(x_item, self.user_items, rows_u)  # mean of the user's items
            h_item = self.conv(x_user, self.item_users, rows_i)
            if self.user_aggregator is not None:
                h_user = torch.tanh(self.user_aggregator[k](h_user))
                h_item = torch.tanh(self.item_aggregator[k](h_item))
            self_user = x_user if rows_u is None else x_user[rows_u]
            self_item = x_item if rows_i is None else x_item[rows_i]
            x_user = torch.tanh(self.user_gcn[k](torch.cat([self_user, h_user], dim=-1)))
            x_item = torch.tanh(self.item_gcn[k](torch.cat([self_item, h_item], dim=-1)))
        user_rep = self._side(ego_user, user_rows, x_user, self.user_mge, self.user_skip, self.user_similar)
        item_rep = self._side(ego_item, item_rows, x_item, self.item_mge, self.item_skip, self.item_similar)
        return (user_rep if user_back is None else user_rep[user_back],
                item_rep if item_back is None else item_rep[item_back])

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", num_layers={self.num_layers}, fusion={self.fusion!r}, "
                f"similarity_aggr={self.similarity_aggr!r}, "
                f"similar_edges=(user={self.user_similar.matrix._nnz()}, item={self.item_similar.matrix._nnz()})")


def _unique(ids: Optional[Tensor]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Unique row ids (the sparse backward needs them) and the map back, or ``(None, None)``."""
    if ids is None:
        return None, None
    ids = ids.view(-1).long()
    if ids.numel() <= 1:
        return ids, None
    unique, inverse = torch.unique(ids, return_inverse=True)
    if unique.numel() == ids.numel() and bool((unique == ids).all()):
        return unique, None  # already sorted and unique (what the base class' forward/triplet pass)
    return unique, inverse
