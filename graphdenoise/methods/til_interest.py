r"""The interest and cluster models behind TIL's state :math:`s_{uij}` (Wu et al., CIKM 2022,
Section 4.2-4.3), one object per variant; :class:`~graphdenoise.methods.TIL` composes one of them:

* :class:`UserInterest` -- no clusters: :math:`s^{UI}` with the user interest :math:`\eta_u` (Eq. 4-5);
* :class:`LearnedCentres` -- learned centres :math:`\Phi` (K-means initialisation, then trained with
  the clustering loss :math:`\gamma\,\mathrm{KL}(T\|Q)`, Eq. 7-9, 13) in :math:`s^{MI}` (Eq. 6);
* :class:`KMeansCentres` -- the ablation of Section 5.6.4: centres recomputed by K-means, no loss;
* :class:`ClusterMeans` -- TIL-MI as the authors' code runs it (``main_MF_cluster.py``): K-means ids
  every few epochs, centres the mean of each cluster's current item embeddings, the state of
  ``--state 19``; see :class:`ClusterMeans`.

Every object answers the same calls: :meth:`UserInterest.prepare` (before a batch's forward: the
cluster schedule), :meth:`UserInterest.state`, :meth:`UserInterest.active` (whether TIL's weighting
runs at this epoch), :meth:`UserInterest.loss` (an extra inner objective), :meth:`UserInterest.optimizers`
and :meth:`UserInterest.after_step`.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..models.sparse import SparseOperator
from ..utils import kmeans, take_rows
from .clustering import clustering_loss, hard_assignment


def user_interest(model, users: Tensor, detach: bool = True, nodes: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
    r""":math:`\eta_u` (Eq. 4) of ``users``: the mean of their training items' embeddings.

    A scatter-mean over the distinct users' training edges (read in CSR order from the training
    index), with the gather of the item rows and the per-user mean fused in
    ``embedding_bag(mode="mean")``: no per-user loop, no dense user x item matrix, and no
    ``[edges, d]`` intermediate. On Gowalla batches (4.2k distinct users, 211k edges, one thread)
    it ran 2.5-3x faster than a row-restricted sparse product with the row-normalised matrix.
    ``detach=False`` keeps the gradient to the item table (the authors' code, ``model/MF.py:40-51``),
    through the row-normalised training matrix as a :class:`~graphdenoise.models.sparse.SparseOperator`
    (twice differentiable, which ``embedding_bag`` is not; its sparse products replaced a gather and
    an ``index_add`` of the ``[edges, d]`` rows, about 1.2x off an authors-code step on Gowalla).
    ``nodes``: ``torch.unique(users, return_inverse=True)`` when the caller has it.
    """
    item_table = model.embedding_tables()[1]
    unique, inverse = nodes if nodes is not None else torch.unique(users, return_inverse=True)
    items, counts = model.train_index.concat_rows(unique, compact=detach)
    if detach:  # the sums divided by the counts: bit for bit mode="mean", which ran 1.3x slower
        offsets = torch.cumsum(counts, 0, dtype=counts.dtype) - counts
        sums = F.embedding_bag(items, item_table.detach(), offsets, mode="sum")
        return take_rows(sums.div_(counts.unsqueeze(1).to(sums.dtype)), inverse)
    return take_rows(interest_operator(model.train_index, item_table)(item_table, unique), inverse)


def interest_operator(index, table: Tensor) -> SparseOperator:
    """The row-normalised user x item operator of the training ``index`` (its CSR order as is), on
    ``table``'s device and dtype, built once per index."""
    op = getattr(index, "_interest_operator", None)
    if op is None or not op.placed(table.device, table.dtype):
        value = index.counts.clamp(min=1).to(table.dtype).reciprocal().repeat_interleave(index.counts)
        matrix = torch.sparse_csr_tensor(index.indptr, index.items, value, (index.num_users, index.num_items),
                                         check_invariants=False)
        op = index._interest_operator = SparseOperator(matrix.to(table.device))
    return op


def ego_rows(model, users: Tensor, pos_items: Tensor, neg_items: Tensor, detach: bool) -> Tuple[Tensor, ...]:
    """The ego rows ``(p_u, q_i, q_j)`` of the batch, from the backbone's embedding tables."""
    user_table, item_table = model.embedding_tables()
    if detach:
        user_table, item_table = user_table.detach(), item_table.detach()
    return take_rows(user_table, users), take_rows(item_table, pos_items), take_rows(item_table, neg_items)


class UserInterest(nn.Module):
    r"""No clusters: :math:`s^{UI}_{uij} = [q_i\odot(p_u + \eta_u) \,\|\, q_j\odot(p_u + \eta_u)]` (Eq. 5
    as the text reads; also the authors' ``--state 12``, ``main_MF.py:196-199``)."""

    @classmethod
    def build(cls, model, config, ctx) -> "UserInterest":
        """The object for ``model`` with TIL's resolved ``config`` and the trainer's :class:`SetupContext`."""
        return cls()

    def prepare(self, model, epoch: int) -> None:
        """Before a batch's forward at ``epoch`` (cluster schedules)."""

    def active(self, epoch: int) -> bool:
        """Whether TIL's weighting runs at ``epoch`` (before: plain BPR)."""
        return True

    def weighting(self) -> bool:
        """Whether :meth:`state` is meaningful now (outside training: clusters exist)."""
        return True

    def item_term(self, rows: Tensor, items: Tensor, out: Optional[Tensor] = None) -> Tensor:
        """The item factor of the state for ego ``rows`` of ``items`` (here the rows themselves); a
        variant that computes a new tensor may write it into ``out``."""
        return rows

    def state(self, model, users: Tensor, pos_items: Tensor, neg_items: Tensor, ego=None,
              detach: bool = True) -> Tensor:
        """``s_uij``, ``[B, 2d]``; ``ego``: the rows ``(p_u, q_i, q_j)`` when already looked up;
        ``detach``: cut the state from the recommender (the paper's data weights)."""
        p_u, q_i, q_j = ego if ego is not None else ego_rows(model, users, pos_items, neg_items, detach)
        nodes = model.batch_nodes(users, pos_items, neg_items)[:2]  # kept for the look-ahead's slots
        interest = user_interest(model, users, detach, nodes).add_(p_u)
        sides = ((q_i, pos_items), (q_j, neg_items))
        if interest.requires_grad or q_i.requires_grad:
            return torch.cat([self.item_term(rows, items) * interest for rows, items in sides], dim=1)
        # the two halves written in place: no product temporaries and no concatenation
        dim = interest.size(1)
        state = interest.new_empty(interest.size(0), 2 * dim)
        for side, (rows, items) in enumerate(sides):
            half = state[:, side * dim:(side + 1) * dim]
            torch.mul(self.item_term(rows, items, half), interest, out=half)
        return state

    def loss(self, model, batch) -> Optional[Tuple[Tensor, float]]:
        """An extra term of the inner objective and its weight (logged unscaled), or None."""
        return None

    def optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        return {}

    def after_step(self, model) -> None:
        """After the optimiser steps of a batch."""


class LearnedCentres(UserInterest):
    r"""Learned centres :math:`\Phi\in\mathbb R^{K\times d}` (Section 4.3): initialised by K-means on
    the item embeddings at ``pretrain_epochs`` (before, the UI state is used and no clustering loss
    applies, Section 5.4), trained with :math:`\gamma\,\mathrm{KL}(T\|Q)` over the batch's items by
    their own Adam (the recommender's learning rate); hard ids :math:`c_i=\arg\max_k Q_{ik}` refreshed
    every ``refresh_every`` iterations. The state is
    :math:`[(q_i + \alpha\mu_{c_i})\odot(p_u + \eta_u) \,\|\, (q_j + \alpha\mu_{c_j})\odot(p_u + \eta_u)]` (Eq. 6).

    Args:
        num_items (int): Items of the backbone.
        dim (int): Embedding size.
        config (TILConfig): ``num_clusters``, ``alpha``, ``gamma``, ``tau``, ``pretrain_epochs``,
            ``refresh_every``, ``kmeans_iters``.
        lr (float): Learning rate of the centres' Adam.
        device (torch.device): Where the centres live.
    """

    learned = True

    def __init__(self, num_items: int, dim: int, config, lr: float, device):
        super().__init__()
        if config.num_clusters > num_items:
            raise ValueError(f"num_clusters={config.num_clusters} exceeds the number of items ({num_items})")
        self.config = config
        self.centres = nn.Parameter(torch.zeros(config.num_clusters, dim, device=device), requires_grad=self.learned)
        self.register_buffer("cluster_ids", torch.zeros(num_items, dtype=torch.long, device=device))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool, device=device))
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long, device=device))
        self.optimizer = torch.optim.Adam([self.centres], lr=lr) if self.learned else None

    @classmethod
    def build(cls, model, config, ctx) -> "LearnedCentres":
        item_table = model.embedding_tables()[1]
        return cls(model.num_items, item_table.size(1), config, ctx.lr, item_table.device)

    def prepare(self, model, epoch: int) -> None:
        if not bool(self.ready) and epoch >= self.config.pretrain_epochs:
            self.initialise(model)

    def item_term(self, rows, items, out=None):
        """:math:`q + \\alpha\\mu_c` (the scaled centres gathered: the same numbers as scaling the gathered ones)."""
        if not bool(self.ready):
            return rows
        scaled = self.config.alpha * self.centres.detach()
        return torch.add(rows, take_rows(scaled, take_rows(self.cluster_ids, items)), out=out)

    def loss(self, model, batch) -> Optional[Tuple[Tensor, float]]:
        if not (self.learned and bool(self.ready) and self.config.gamma > 0):
            return None
        items = model.batch_nodes(batch.users, batch.pos_items, batch.neg_items)[2]
        return clustering_loss(model.item_rows(items), self.centres, self.config.tau), self.config.gamma

    def optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        return {} if self.optimizer is None else {"centre_optimizer": self.optimizer}

    @torch.no_grad()
    def initialise(self, model) -> None:
        items = model.embedding_tables()[1].detach()
        self.centres.data.copy_(kmeans(items, self.config.num_clusters, self.config.kmeans_iters))
        self.ready.fill_(True)
        self.refresh(model)

    @torch.no_grad()
    def refresh(self, model) -> None:
        """New hard cluster ids from the current item embeddings."""
        self.cluster_ids.copy_(hard_assignment(model.embedding_tables()[1].detach(), self.centres.detach()))

    def after_step(self, model) -> None:
        self.step_count += 1
        if bool(self.ready) and int(self.step_count) % self.config.refresh_every == 0:
            self.refresh(model)


class KMeansCentres(LearnedCentres):
    """Section 5.6.4's ablation: the centres are recomputed by K-means (warm-started from the previous
    ones) every ``refresh_every`` iterations instead of learned; no clustering loss."""

    learned = False

    @torch.no_grad()
    def refresh(self, model) -> None:
        items = model.embedding_tables()[1].detach()
        self.centres.data.copy_(kmeans(items, self.config.num_clusters, self.config.kmeans_iters,
                                       init=self.centres.detach()))
        super().refresh(model)


class ClusterMeans(UserInterest):
    r"""TIL-MI as the authors' code runs it (``main_MF_cluster.py``, ``model/MF_cluster.py``).

    * plain BPR while ``epoch < pretrain_epochs`` (``check_iter_condition = iter >= 100``, :281, and
      the ``bl == 'N' or not check_iter_condition`` branch, :308-320);
    * hard ids by K-means on the item table at the first TIL epoch and every ``recluster_epochs``
      epochs after (``iter % 10 == 0``, :291-299); no learned centres, no clustering loss;
    * the centre :math:`c_k` of a cluster is the mean of its items' *current* embeddings, recomputed
      at every batch and not detached (``compute_cluster_center``, ``model/MF_cluster.py:42-49``,
      used by ``forward_person_plus`` :105-107);
    * the state is ``--state 19`` (default, :43; :224-227):
      :math:`[p_u\odot q_i + p_u\odot c_{c_i} + c_{c_i}\odot q_i \,\|\, p_u\odot q_j + p_u\odot c_{c_j} + c_{c_j}\odot q_j]`:
      :math:`\eta_u` is computed there (``uni_center``, :110-113) but not in the state.

    Departures: our :func:`~graphdenoise.utils.kmeans` (k-means++ seeding, ``kmeans_iters`` Lloyd
    iterations) instead of ``kmeans_pytorch`` (random initialisation, run to tolerance); an empty
    cluster's centre is zero (theirs is the mean of nothing, NaN). Their ``bpr_loss_plus`` adds the
    centres to the scores with ``scale1 = 0`` by default (:45, ``model/MF_cluster.py:71-89``), i.e.
    plain BPR, which is what we train.
    """

    def __init__(self, num_items: int, config, device):
        super().__init__()
        if config.num_clusters > num_items:
            raise ValueError(f"num_clusters={config.num_clusters} exceeds the number of items ({num_items})")
        self.config = config
        self.register_buffer("cluster_ids", torch.zeros(num_items, dtype=torch.long, device=device))
        self.register_buffer("last_clustered", torch.full((), -1, dtype=torch.long, device=device))

    @classmethod
    def build(cls, model, config, ctx) -> "ClusterMeans":
        return cls(model.num_items, config, model.embedding_tables()[1].device)

    def active(self, epoch: int) -> bool:
        return epoch >= self.config.pretrain_epochs

    def weighting(self) -> bool:
        return int(self.last_clustered) >= 0

    @torch.no_grad()
    def prepare(self, model, epoch: int) -> None:
        cfg, last = self.config, int(self.last_clustered)
        if not self.active(epoch) or epoch == last:
            return
        if last < 0 or (epoch - cfg.pretrain_epochs) % cfg.recluster_epochs == 0:
            centres = kmeans(model.embedding_tables()[1].detach(), cfg.num_clusters, cfg.kmeans_iters)
            self.cluster_ids.copy_(hard_assignment(model.embedding_tables()[1].detach(), centres))
            self.last_clustered.fill_(epoch)

    def centres(self, item_table: Tensor) -> Tensor:
        """The mean of each cluster's current item rows, ``[K, d]`` (differentiable)."""
        num, ids = self.config.num_clusters, self.cluster_ids
        sums = item_table.new_zeros(num, item_table.size(1)).index_add(0, ids, item_table)
        counts = torch.bincount(ids, minlength=num).clamp_(min=1).to(item_table.dtype)
        return sums / counts.unsqueeze(1)

    def state(self, model, users, pos_items, neg_items, ego=None, detach: bool = True) -> Tensor:
        p_u, q_i, q_j = ego if ego is not None else ego_rows(model, users, pos_items, neg_items, detach)
        item_table = model.embedding_tables()[1]
        centres = self.centres(item_table.detach() if detach else item_table)
        c_i, c_j = take_rows(centres, self.cluster_ids[pos_items]), take_rows(centres, self.cluster_ids[neg_items])
        return torch.cat([p_u * q_i + p_u * c_i + c_i * q_i, p_u * q_j + p_u * c_j + c_j * q_j], dim=1)
