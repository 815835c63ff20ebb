r"""PLD, from Zhang, Cao, Wu, Sun, Shen and Cheng, "Personalized Denoising Implicit Feedback for Robust
Recommender System", WWW 2025, https://arxiv.org/abs/2502.00348.

Noisy and normal interactions overlap in the GLOBAL loss distribution (more so under BPR than BCE)
but separate within a user's PERSONAL loss distribution. PLD therefore resamples the positive it
trains on: for each user :math:`u` of a batch, a candidate pool :math:`\mathcal C_u` of :math:`k`
training items (drawn without replacement when :math:`n_u \ge k`) is scored against the user's
negative :math:`j` without gradients, and one candidate is drawn from the user's personal loss
distribution

.. math::
    P(c \mid u) = \frac{\exp(-\ell(u, c, j)/\tau)}{\sum_{c' \in \mathcal C_u} \exp(-\ell(u, c', j)/\tau)},
    \qquad \ell(u, c, j) = -\ln\sigma(\hat y_{uc} - \hat y_{uj})

and the step minimises :math:`\operatorname{mean}_u \ell(u, c^*_u, j_u)` plus the trainer's L2 term.
The first ``begin_epoch`` epochs train plain BPR on a uniform positive. ``objective='bce'`` uses the
pointwise loss instead (pool ranked by :math:`-\ln\sigma(\hat y_{uc})`, trained with BCE on
:math:`(u, c^*)` and :math:`(u, j)`), the paper's pointwise comparison; the code is BPR only.

:meth:`PLD.weights` reports, per triplet, :math:`m\,P(i \mid u)` over the query's triplets of the same
user (:math:`m` of them), i.e. how much more often than uniform PLD would pick the positive.

Defaults: the authors' (``meta_config.py:29-45``, ``utls/model_config.py:33-39``): ``item_num 5``
(our ``num_candidates``), ``temp 0.1``, ``begin_adv 5`` (``begin_epoch``).

Reference: ``Kaike-Zhang/PLD`` @ dd7b14f, ``utls/trainer.py:211-273``, ``utls/mydataset.py:133-157``.
Deviations:

1. ``users='uniform'`` (default) draws each batch's users uniformly, as the authors
   (``mydataset.py:137``), among users with at least one training item (their data keeps users with
   >= 10), with the negative from the trainer's proposal (uniform, rejected against training items,
   as theirs); the number of batches per epoch is the trainer's, which equals theirs
   (``len(dataset) / batch_size``). ``users='batch'`` uses the trainer's triplets instead (users
   weighted by degree, the batch's positive as the warm-up positive).
2. The L2 term is the trainer's :math:`\lambda\frac{1}{2B}\sum(\|p_u\|^2+\|q_i\|^2+\|q_j\|^2)` and the
   optimiser its Adam; the authors use AdamW and ``weight_decay`` times their models' squared-norm term.
3. Model selection is the trainer's (validation every ``eval_every``); the authors validate every 20
   epochs from epoch 40 on (``trainer.py:55-90``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.graph import num_users_items, train_edges
from ..models.base import TripletScores
from ..sampling import TripletBatch
from ..utils import InteractionIndex, take_rows
from .base import METHODS, Method, MethodConfig, SamplingSpec, l2_term
from ..config import check_fields
from .losses import bpr_terms
from .memory import segment_softmax


def draw_offsets(counts: Tensor, k: int, generator: torch.Generator) -> Tensor:
    r"""``[B, k]`` offsets into each user's items: without replacement where ``counts >= k`` (the
    ``t``-th draw picks the ``r``-th offset not yet chosen), with replacement elsewhere
    (``mydataset.py:141-144``). ``counts`` must be positive."""
    n = counts.view(-1, 1).to(torch.float64)
    rand = torch.rand(counts.numel(), k, generator=generator, dtype=torch.float64)
    with_repl = (rand * n).long()
    if k == 1:  # one draw: with and without replacement coincide
        return with_repl
    chosen = torch.empty(counts.numel(), 0, dtype=torch.long)
    for t in range(k):
        r = (rand[:, t: t + 1] * (n - t).clamp(min=1)).long()
        for c in range(t):  # ascending previous picks: skip each one at or below r
            r = r + (r >= chosen[:, c: c + 1]).long()
        chosen = torch.cat([chosen, r], 1).sort(1).values
        with_repl[:, t: t + 1] = torch.where(counts.view(-1, 1) >= k, r, with_repl[:, t: t + 1])
    return with_repl


def candidate_losses(pos: Tensor, neg: Tensor, objective: str) -> Tensor:
    r"""The loss that ranks (and trains) a positive: BPR :math:`-\ln\sigma(\hat y_{uc} - \hat y_{uj})`
    or the positive's BCE :math:`-\ln\sigma(\hat y_{uc})`."""
    return bpr_terms(pos, neg) if objective == "bpr" else F.softplus(-pos)


def resample(losses: Tensor, temperature: float, generator: torch.Generator) -> Tensor:
    r"""One index per row of ``losses`` ``[B, k]``, drawn from :math:`\operatorname{softmax}(-\ell/\tau)`."""
    prob = torch.softmax(-losses.detach().double() / temperature, dim=1)
    return torch.multinomial(prob.cpu(), 1, generator=generator).view(-1).to(losses.device)


@dataclass
class PLDConfig(MethodConfig):
    """Options of :class:`PLD` (the authors' defaults)."""

    num_candidates: int = 5
    """:math:`k`, candidate positives per user (the authors' ``item_num``)."""
    temperature: float = 0.1
    """:math:`\\tau` of the personal loss distribution (``temp``)."""
    begin_epoch: int = 5
    """Epochs of plain training before resampling starts (``begin_adv``)."""
    users: str = "uniform"
    """``'uniform'`` (authors: users drawn uniformly per batch) or ``'batch'`` (the trainer's triplets)."""
    objective: str = "bpr"
    """``'bpr'`` (the code) or ``'bce'`` (pointwise, with the batch's negatives)."""

    def __post_init__(self):
        check_fields(self, num_candidates=">= 1", temperature="> 0", begin_epoch=">= 0", users=("uniform", "batch"),
                     objective=("bpr", "bce"))


@METHODS.register("pld")
class PLD(Method):
    r"""PLD: resampling the positive from the user's personal loss distribution (module docstring).

    Args:
        config (PLDConfig, optional): ``num_candidates`` (default: 5), ``temperature``
            (default: 0.1), ``begin_epoch`` (default: 5), ``users`` (default: ``'uniform'``),
            ``objective`` (default: ``'bpr'``).

    Shapes:
        - :meth:`weights`: ``[B]``, :math:`m\,P(i\mid u)` within each user's triplets of the query.
    """

    Config = PLDConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.index: Optional[InteractionIndex] = None
        self.generator = torch.Generator()

    def sampling(self) -> SamplingSpec:
        return SamplingSpec(num_negatives=1)

    def setup(self, model, data, ctx):
        num_users, num_items = num_users_items(data)
        self.index = InteractionIndex(train_edges(data), num_users, num_items)
        self.active_users = (self.index.counts > 0).nonzero().view(-1)
        self.negatives = ctx.negatives
        self.generator = torch.Generator().manual_seed(ctx.seed + 104729)

    def extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def _require_setup(self):
        if self.index is None:
            raise RuntimeError("PLD needs setup(model, data, ctx) before use (the trainer calls it)")

    # ------------------------------------------------------------------ sampling
    def uniform_users(self, batch: TripletBatch) -> TripletBatch:
        """``len(batch)`` users drawn uniformly (with at least one item), one uniform positive each, and a
        negative from the trainer's proposal (``mydataset.py:133-157``)."""
        pick = torch.randint(self.active_users.numel(), (len(batch),), generator=self.generator)
        users = self.active_users[pick]
        pos = self.candidates(users, 1).view(-1)
        neg, _ = self.negatives.sample(users, self.generator, 1)
        device = batch.users.device
        return TripletBatch(users.to(device), pos.to(device), neg.view(-1).to(device),
                            torch.full_like(users, -1).to(device), None)

    def candidates(self, users: Tensor, k: int) -> Tensor:
        """``[B, k]`` training items of each user (without replacement when it has at least ``k``)."""
        users = users.cpu()
        offsets = draw_offsets(self.index.counts[users], k, self.generator)
        return take_rows(self.index.items, self.index.indptr[users].unsqueeze(1) + offsets)

    # ------------------------------------------------------------------ objective
    def loss(self, model, batch, ctx):
        self._require_setup()
        cfg = self.config
        if cfg.users == "uniform":
            batch = self.uniform_users(batch)
        if ctx.epoch < cfg.begin_epoch:
            out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        else:
            batch, out = self.resampled(model, batch)
        loss = self.objective(out.pos, out.neg)
        return loss + l2_term(model, batch, ctx, out), {"pld": loss.detach()}

    def objective(self, pos: Tensor, neg: Tensor) -> Tensor:
        if self.config.objective == "bpr":
            return bpr_terms(pos, neg).mean()
        return torch.cat([F.softplus(-pos), F.softplus(neg)]).mean()

    def resampled(self, model, batch: TripletBatch):
        """The batch with each positive replaced by a draw from the user's pool, and its scores (one
        propagation: the candidates are scored as the "negatives" of a triplet call)."""
        cfg = self.config
        pool = self.candidates(batch.users, cfg.num_candidates).to(batch.users.device)
        rows = torch.arange(pool.size(0), device=pool.device)
        if model.representations_are_embeddings:  # cheap lookups: score the pool without gradients
            with torch.no_grad():
                probe = model.triplet(batch.users, batch.neg_items, pool)
            pick = resample(candidate_losses(probe.neg, probe.pos.unsqueeze(-1), cfg.objective),
                            cfg.temperature, self.generator)
            batch = dataclasses.replace(batch, pos_items=pool[rows, pick])
            return batch, model.triplet(batch.users, batch.pos_items, batch.neg_items)
        both = model.triplet(batch.users, batch.neg_items, pool)
        pick = resample(candidate_losses(both.neg.detach(), both.pos.detach().unsqueeze(-1), cfg.objective),
                        cfg.temperature, self.generator)
        batch = dataclasses.replace(batch, pos_items=pool[rows, pick])
        out = TripletScores(both.neg[rows, pick], both.pos, both.user, both.neg_item[rows, pick], both.pos_item)
        return batch, out

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        out = model.triplet(users, pos_items, neg_items)
        neg = out.neg if out.neg.dim() == 1 else out.neg[:, 0]
        flat = users.reshape(-1)
        uniq, group = torch.unique(flat, return_inverse=True)
        prob = segment_softmax(-candidate_losses(out.pos, neg, self.config.objective).reshape(-1)
                               / self.config.temperature, group, uniq.numel())
        size = torch.bincount(group, minlength=uniq.numel())[group]
        return (prob * size).view(users.shape)
