r"""UDT, from Chua, Du, Sun, Wang, Zhang and Ong, "Unified Denoising Training for Recommendation",
RecSys 2024, pp. 612-621 (https://doi.org/10.1145/3640457.3688109), as the RecSys'25 benchmark runs it.

The benchmark (``bachml/EvalDenoisingRec`` @ a36a902, ``code/main.py:235-239,259-261,301-319,361-377``)
calls this method ``UDT`` and ports, line for line, the NCF training loop of the official code
``hyNTU/UDT`` @ cc2c870 (``NCF/main.py:177-251``), whose README names the paper above and maps its
options to the paper's ranges: ``userfact1/userfact2`` = :math:`[a, b]`, ``temp1/temp2`` = :math:`[a', b']`.

Denoising at two levels, recomputed after every epoch from that epoch's BCE losses :math:`\ell`
(pointwise: positives label 1, sampled negatives label 0):

* **user level**: a user's mean loss :math:`\bar\ell_u = \sum_{x} \ell_{ux} / n_u` (over the user's
  positives AND sampled negatives of the epoch, divided by its :math:`n_u` training positives) ranks
  the users, lowest first; the user at rank :math:`k` of :math:`|\mathcal U|` gets
  :math:`\phi_u = \operatorname{linspace}(a, b)[k]` and :math:`\tau_u = \operatorname{linspace}(a', b')[k]`,
  so careless (high-loss) users weigh less (with :math:`a > b`);
* **interaction level**: within a user, a positive weighs by the softmax of its negated loss,

.. math::
    w_{ui} = \phi_u \, n_u\, \frac{\exp(-\ell_{ui}/\tau_u)}{\sum_{i' \in \mathcal I_u} \exp(-\ell_{ui'}/\tau_u)},
    \qquad w_{uj} = \phi_u \ \text{for negatives},

(:math:`n_u` makes a user's mean positive weight :math:`\phi_u`; a weight that underflows to 0 is
reset to :math:`\phi_u`, as in the code). The loss of epoch :math:`e \ge 2` is
:math:`\operatorname{mean}(w \cdot \ell)` with the weights from the end of epoch :math:`e-1`; epochs 0
and 1 train with :math:`w = 1`. Plus the trainer's L2 term (the code has none).

Defaults: the official (and the benchmark's) ``temp1 0.2``, ``temp2 0.5``, ``userfact1 0.5``,
``userfact2 0.0`` (``NCF/main.py:48-63``); the benchmark uses :math:`[a', b'] = [0.1, 0.5]` for LightGCN.

Deviations:

1. The per-positive losses are kept per training edge (``TripletBatch.edge_ids``), the code in a
   dense users x items matrix (``main.py:186,217``): the same values, memory linear in the edges.
2. A user's loss is the SUM of its batch losses (``index_add``); the code's ``user_loss[user] +=
   loss`` (``main.py:206``) keeps one addend per user and batch when a user appears several times.
3. Users without training positives rank last (the code's 0/0 = NaN sorts last as well).
4. Model selection is the trainer's validation ranking metric (the official code: Recall@50, as
   here; the benchmark: the validation BCE).
5. On CDAE, ``batches='auto'`` (the default) or ``'users'`` trains as the benchmark's CDAE step
   (``code/CDAE/main.py:292-376``, a port of ``hyNTU/UDT`` ``CDAE/main_CDAE.py:182-247``), through
   :class:`~graphdenoise.sampling.UserBatchSampler` (``'per_user'``): a step takes a batch of USERS
   (the trainer's ``batch_size`` counts users) with their whole training rows, and per user
   :math:`n_u` (times ``num_negatives``) uniform draws over ALL items, a draw that hits a positive
   being that positive and duplicates collapsing (``:301-316``); BCE per cell; a row's mean loss over
   its cells is stored (``:338-339``) and ranks the users at the end of the epoch (``:374-376``); from
   epoch ``warmup_epochs`` on (the code: 2, ``:342``) a positive weighs the softmax of
   :math:`-\ell/T_u` over its row's positives of the CURRENT step times half the row's number of
   cells, a negative 1, all times the user factor (``:345-352``; underflowed weights are NOT reset,
   unlike the NCF scheme), with :math:`T_u` and the factor from the user's rank in the previous
   epoch; the loss is the mean over the batch's cells (``:362``), plus the trainer's L2. Remaining
   differences: users without training items are left out of the batches (the code feeds them:
   they add no cell, and their NaN mean sorts last; here they rank last too); ties in the ranking
   keep user order; :meth:`UDT.weights` on this path (noise AUC) is the softmax over the user's whole
   row of uncorrupted losses times :math:`n_u` (a step's cell count is random) times the factor.
   ``batches='triplets'`` keeps the NCF scheme above on CDAE; ``'users'`` on another backbone is
   an error. (The benchmark's CDAE DCF branch is empty, ``main.py:327-328``: no DCF on CDAE there.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..datasets.graph import num_users_items, train_edges
from ..sampling import UserBatch
from .base import BATCHES, METHODS, Method, MethodConfig, l2_term
from ..config import check_fields
from .losses import bce_terms
from .memory import EdgeLookup, EpochClock, segment_softmax
from .reweighting import StudyRows, WeightStats, cell_logits, pointwise_logits


def rank_values(user_loss: Tensor, counts: Tensor, low: float, high: float) -> Tensor:
    r"""Per user, ``linspace(low, high, |U|)`` at the user's rank by :math:`\bar\ell_u` ascending
    (``main.py:236-244``); users without positives rank last."""
    mean = torch.where(counts > 0, user_loss / counts.clamp(min=1), torch.full_like(user_loss, float("inf")))
    return rank_levels(mean, low, high)


_LAST = torch.finfo(torch.float32).max
"""The row loss of a user without training items: ranks last, and finite (the trainer's guard checks the
method's buffers for non-finite values)."""


def rank_levels(mean: Tensor, low: float, high: float) -> Tensor:
    r"""Per user, ``linspace(low, high, |U|)`` at the user's rank by ``mean`` ascending (ties in user order)."""
    order = torch.sort(mean, stable=True).indices
    levels = torch.linspace(low, high, mean.numel(), device=mean.device, dtype=mean.dtype)
    out = torch.empty_like(levels)
    out[order] = levels
    return out


def interaction_weights(edge_loss: Tensor, edge_users: Tensor, temperature: Tensor, counts: Tensor) -> Tensor:
    r""":math:`n_u \operatorname{softmax}_{i \in \mathcal I_u}(-\ell_{ui}/\tau_u)` per training edge, zeros
    reset to 1 (``main.py:247-248``)."""
    prob = segment_softmax(-edge_loss / temperature[edge_users], edge_users, counts.numel())
    weight = prob * counts[edge_users].to(prob.dtype)
    return weight.masked_fill(weight == 0, 1.0)


def row_weights(terms: Tensor, rows: Tensor, num_pos: int, cells: Tensor, temperature: Tensor,
                factor: Tensor) -> Tensor:
    r"""The CDAE variant's weights of a user batch's cells (``code/CDAE/main.py:335-362``): a positive
    weighs :math:`\operatorname{softmax}(-\ell/T_u)` over its row's positives times half the row's number
    of cells, a negative 1, all times the user factor; ``terms`` (detached) hold the positives first,
    ``cells`` (each row's number of cells), ``temperature`` and ``factor`` are per batch row."""
    pos_rows = rows[:num_pos]
    prob = segment_softmax(-terms[:num_pos] / temperature[pos_rows], pos_rows, factor.numel())
    weight = torch.cat([prob * cells[pos_rows] / 2.0, torch.ones_like(terms[num_pos:])])
    return weight * factor[rows]


def negative_users(users: Tensor, neg: Tensor) -> Tensor:
    """The user of each negative, flattened like ``neg`` (``[B]`` or ``[B, L]``)."""
    return (users if neg.dim() == users.dim() else users.unsqueeze(-1).expand_as(neg)).reshape(-1)


@dataclass
class UDTConfig(MethodConfig):
    """Options of :class:`UDT` (the official defaults)."""

    temp_low: float = 0.2
    """:math:`a'`: temperature of the lowest-loss user (``temp1``)."""
    temp_high: float = 0.5
    """:math:`b'`: temperature of the highest-loss user (``temp2``)."""
    factor_low: float = 0.5
    """:math:`a`: user factor of the lowest-loss user (``userfact1``)."""
    factor_high: float = 0.0
    """:math:`b`: user factor of the highest-loss user (``userfact2``)."""
    warmup_epochs: int = 2
    """Epochs trained with unit weights before the weights apply (the code: 2)."""
    batches: str = "auto"
    """``'auto'`` (the benchmark's protocol: batches of users' rows on CDAE, triplets elsewhere),
    ``'users'`` (CDAE only) or ``'triplets'`` (the NCF scheme on every backbone)."""

    def __post_init__(self):
        check_fields(self, temp_low="> 0", temp_high="> 0", factor_low=">= 0", factor_high=">= 0",
                     warmup_epochs=">= 1", batches=BATCHES)


@METHODS.register("udt")
class UDT(StudyRows, Method):
    r"""UDT (see the module docstring).

    Args:
        config (UDTConfig, optional): ``temp_low`` (default: 0.2), ``temp_high`` (default: 0.5),
            ``factor_low`` (default: 0.5), ``factor_high`` (default: 0.0), ``warmup_epochs``
            (default: 2).

    Shapes:
        - :meth:`weights`: ``[B]``, the positives' :math:`w_{ui}` the next epoch would use.
    """

    Config = UDTConfig
    pairwise = False

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.clock = EpochClock()
        self.lookup: Optional[EdgeLookup] = None
        self.stats = WeightStats()

    def setup(self, model, data, ctx):
        edges = train_edges(data)
        num_users, num_items = num_users_items(data)
        device = next(model.parameters()).device
        self.batches = ctx.batches
        self.lookup = EdgeLookup(edges, num_items).to(device)
        self.edge_users = edges[0].to(device)
        self.counts = torch.bincount(self.edge_users, minlength=num_users)
        self.register_buffer("user_factor", torch.ones(num_users, device=device))
        if self.batches == "users":  # the latest mean loss of each user's row (no row: ranks last)
            self.register_buffer("row_loss", torch.where(self.counts > 0, 0.0, _LAST).to(device))
            self.register_buffer("user_temperature", torch.ones(num_users, device=device))
            return
        self.register_buffer("user_loss", torch.zeros(num_users, device=device))
        self.register_buffer("edge_loss", torch.full((edges.size(1),), float("inf"), device=device))
        self.register_buffer("edge_weight", torch.ones(edges.size(1), device=device))

    def extra_state(self) -> dict:
        return {"epoch": self.clock.epoch}

    def load_extra_state(self, state: dict) -> None:
        self.clock.epoch = state.get("epoch")

    def _require_setup(self):
        if self.lookup is None:
            raise RuntimeError("UDT needs setup(model, data, ctx) before use (the trainer calls it)")

    def epoch_weights(self) -> Tuple[Tensor, Tensor]:
        """``(edge weights, user factors)`` from the losses accumulated over the last epoch."""
        cfg = self.config
        temperature = rank_values(self.user_loss, self.counts, cfg.temp_low, cfg.temp_high)
        factor = rank_values(self.user_loss, self.counts, cfg.factor_low, cfg.factor_high)
        weight = interaction_weights(self.edge_loss, self.edge_users, temperature, self.counts)
        return weight * factor[self.edge_users], factor

    def end_epoch(self) -> None:
        """Turn the epoch's losses into the next epoch's weights, and clear the accumulators."""
        self.edge_weight, self.user_factor = self.epoch_weights()
        self.user_loss.zero_()
        self.edge_loss.fill_(float("inf"))

    def loss(self, model, batch, ctx):
        self._require_setup()
        if isinstance(batch, UserBatch):
            return self.rows_loss(model, batch, ctx)
        if self.clock.tick(ctx.epoch):
            self.end_epoch()
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        logits, labels = pointwise_logits(out.pos, out.neg)
        terms = bce_terms(logits, labels)
        num_pos, neg_users = out.pos.numel(), negative_users(batch.users, out.neg)
        self.user_loss.index_add_(0, torch.cat([batch.users, neg_users]), terms.detach())
        self.edge_loss[batch.edge_ids] = terms[:num_pos].detach()
        if ctx.epoch < self.config.warmup_epochs:
            loss = terms.mean()
        else:
            weight = torch.cat([self.edge_weight[batch.edge_ids], self.user_factor[neg_users]])
            self.stats.update(weight[:num_pos])
            loss = (weight * terms).mean()
        return loss + l2_term(model, batch, ctx, out), {"udt": loss.detach()}

    def row_ranks(self) -> Tuple[Tensor, Tensor]:
        """``(temperatures, user factors)`` from each user's rank by its latest row loss."""
        cfg = self.config
        return (rank_levels(self.row_loss, cfg.temp_low, cfg.temp_high),
                rank_levels(self.row_loss, cfg.factor_low, cfg.factor_high))

    def rows_loss(self, model, batch: UserBatch, ctx):
        r"""The benchmark's CDAE step (``code/CDAE/main.py:330-362``): BCE over each row's positives and
        distinct draws; a row's mean loss is stored for the ranking at the end of the epoch; from
        epoch ``warmup_epochs`` on, :func:`row_weights` from the current losses, temperatures and
        factors from the previous epoch's ranking (``:374-376``)."""
        if self.clock.tick(ctx.epoch):
            self.user_temperature, self.user_factor = self.row_ranks()
        logits, labels, rows = cell_logits(model, batch)
        terms = bce_terms(logits, labels)
        num_rows, detached = batch.users.numel(), terms.detach()
        cells = torch.bincount(rows, minlength=num_rows).to(terms.dtype)  # each row's masked cell count
        # a user without training items has no cells: it keeps ranking last, not 0 / 0 (ModCloth: 6,378 users)
        sums = terms.new_zeros(num_rows).index_add_(0, rows, detached)
        self.row_loss[batch.users] = torch.where(cells > 0, sums / cells.clamp(min=1), _LAST)
        if ctx.epoch < self.config.warmup_epochs:
            loss = terms.mean()
        else:
            users, num_pos = batch.users, batch.pos_rows.numel()
            weight = row_weights(detached, rows, num_pos, cells, self.user_temperature[users], self.user_factor[users])
            self.stats.update(weight[:num_pos])
            loss = (weight * terms).mean()
        return loss + l2_term(model, batch, ctx), {"udt": loss.detach()}

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        """The positives' weights the next training step would use (1 during the warm-up)."""
        self._require_setup()
        next_epoch = 0 if self.clock.epoch is None else self.clock.epoch + 1
        if next_epoch < self.config.warmup_epochs:
            return torch.ones(users.shape, device=users.device)
        if self.batches == "users":
            return self.rows_weights(model, users, pos_items)
        edge_weight, factor = self.epoch_weights()  # what the next epoch's first step computes
        edge_ids, found = self.lookup(users.reshape(-1), pos_items.reshape(-1))
        return torch.where(found, edge_weight[edge_ids], factor[users.reshape(-1)]).view(users.shape)

    def rows_weights(self, model, users: Tensor, pos_items: Tensor) -> Tensor:
        r"""CDAE variant: a training pair's weight from the softmax over its user's whole row of the
        current (uncorrupted, in eval mode) losses, times :math:`n_u` (the expected half count of a
        row's cells, which depends on a step's draws) and the user factor; other pairs weigh the factor."""
        flat_users, flat_items = users.reshape(-1), pos_items.reshape(-1)
        unique, inverse = torch.unique(flat_users, return_inverse=True)
        rows, items = model.train_index.gather_rows(unique)
        temperature, factor = self.row_ranks()
        if rows.numel() == 0:
            return factor[flat_users].view(users.shape)
        terms = bce_terms(model.cell_scores(unique, rows, items), torch.ones(rows.numel(), device=rows.device))
        prob = segment_softmax(-terms / temperature[unique][rows], rows, unique.numel())
        weight = prob * self.counts[unique][rows] * factor[unique][rows]
        keys, query = rows * model.num_items + items, inverse * model.num_items + flat_items  # keys: sorted (CSR)
        at = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
        return torch.where(keys[at] == query, weight[at], factor[flat_users]).view(users.shape)

    def epoch_stats(self):
        return self.stats.read("weight")
