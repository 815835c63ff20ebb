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
   weighted by degree, the batch's positive as the warm-up positive). Under data parallelism each rank
   draws its own users for its share of the batch (rank 0 draws what a single process would).
2. The L2 term is the trainer's :math:`\lambda\frac{1}{2B}\sum(\|p_u\|^2+\|q_i\|^2+\|q_j\|^2)` and the
   optimiser its Adam; the authors use AdamW and ``weight_decay`` times their models' squared-norm term.
3. Model selection is the trainer's (validation every ``eval_every``); the authors validate every 20
   epochs from epoch 40 on (``trainer.py:55-90``).
4. The same distributions, drawn by other means (for speed, not results): the pool by Floyd's algorithm
   (:func:`draw_offsets`; theirs ``np.random.choice``), the candidate by inverting each row's
   distribution at one uniform (:func:`resample`; theirs ``torch.multinomial``), the pool scored from
   one representation of the batch's nodes (they propagate twice). Runs before graphdenoise cc2d811
   drew them otherwise and do not replay bit for bit.
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
    r"""``[B, k]`` offsets into each user's items: a uniform ``k``-subset where ``counts >= k``, with
    replacement elsewhere (``mydataset.py:141-144``). ``counts`` must be positive.

    The subset is Floyd's algorithm (Bentley and Floyd, "Programming pearls: a sample of brilliance",
    CACM 30(9), 1987), vectorised over the rows: for :math:`j = n-k, \dots, n-1` draw :math:`t` uniform
    in :math:`[0, j]` and keep it, or :math:`j` when :math:`t` is already kept. Every subset is
    equally likely (as ``np.random.choice(..., replace=False)``'s); the order within it is not
    uniform, and PLD's draw from the pool does not depend on it. ``k`` steps of a few ``[B]``
    operations, without a sort."""
    n = counts.view(1, -1)  # draws as [k, B]: each step reads and writes contiguous rows
    rand = torch.rand(k, counts.numel(), generator=generator, dtype=torch.float64)
    with_repl = (rand * n).long()
    if k == 1:  # one draw: with and without replacement coincide
        return with_repl.view(-1, 1)
    last = n - k + torch.arange(k).view(-1, 1)  # j of each step, [k, B]
    draws = (rand * (last + 1)).long()  # t uniform in [0, j]
    subset = draws.clone()
    for step in range(1, k):
        t = draws[step]
        kept = (subset[:step] == t).any(0)
        subset[step] = torch.where(kept, last[step], t)
    return torch.where(n >= k, subset, with_repl).t().contiguous()


def candidate_losses(pos: Tensor, neg: Tensor, objective: str) -> Tensor:
    r"""The loss that ranks (and trains) a positive: BPR :math:`-\ln\sigma(\hat y_{uc} - \hat y_{uj})`
    or the positive's BCE :math:`-\ln\sigma(\hat y_{uc})`."""
    return bpr_terms(pos, neg) if objective == "bpr" else F.softplus(-pos)


def resample(losses: Tensor, temperature: float, generator: torch.Generator) -> Tensor:
    r"""One index per row of ``losses`` ``[B, k]``, drawn from :math:`\operatorname{softmax}(-\ell/\tau)`
    (``trainer.py:257-259``) by inverting each row's cumulative distribution at one uniform draw
    (``torch.multinomial`` draws ``k`` exponentials per row: with it the draw took 0.46 ms at
    ``B = 2048``, ``k = 5``, one thread; 0.15 ms this way)."""
    logits = -losses.detach().double() / temperature
    cdf = (logits - logits.amax(1, keepdim=True)).exp_().cumsum_(1)  # unnormalised
    if not bool(torch.isfinite(cdf[:, -1]).all()):
        raise FloatingPointError("PLD: a candidate's loss is not finite (the model's scores diverged); "
                                 "lower the learning rate")
    u = torch.rand(cdf.size(0), 1, generator=generator, dtype=torch.float64).to(cdf.device)
    return (cdf <= u * cdf[:, -1:]).sum(1).clamp_(max=cdf.size(1) - 1)


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
        # uniform users: the method draws its triplets, the trainer's batches only set their size
        return SamplingSpec(num_negatives=1, draw_negatives=self.config.users == "batch")

    def setup(self, model, data, ctx):
        num_users, num_items = num_users_items(data)
        self.index = InteractionIndex(train_edges(data), num_users, num_items)
        self.active_users = (self.index.counts > 0).nonzero().view(-1)
        self.negatives = ctx.negatives
        # its own users per rank (rank 0 keeps the single-process stream): under data parallelism every
        # rank trains on a different draw, as the trainer's shards differ
        self.generator = torch.Generator().manual_seed(ctx.seed + 104729 + 1_000_003 * ctx.world.rank)

    def extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def _require_setup(self):
        if self.index is None:
            raise RuntimeError("PLD needs setup(model, data, ctx) before use (the trainer calls it)")

    # ------------------------------------------------------------------ sampling
    def uniform_users(self, batch: TripletBatch, positive: bool = True) -> TripletBatch:
        """``len(batch)`` users drawn uniformly (with at least one item), a negative each from the trainer's
        proposal, and (``positive``) one uniform training item each; without it the positives are left
        to :meth:`resampled` (``-1``), as the authors draw none in resampling epochs
        (``mydataset.py:133-157``)."""
        pick = torch.randint(self.active_users.numel(), (len(batch),), generator=self.generator)
        users = self.active_users[pick]
        pos = self.candidates(users, 1).view(-1) if positive else torch.full_like(users, -1)
        neg, _ = self.negatives.sample(users, self.generator, 1)
        device = batch.users.device
        return TripletBatch(users.to(device), pos.to(device), neg.view(-1).to(device),
                            torch.full_like(users, -1).to(device), None)

    def candidates(self, users: Tensor, k: int) -> Tensor:
        """``[B, k]`` training items of each user (a uniform subset when it has at least ``k``)."""
        users = users.cpu()
        offsets = draw_offsets(self.index.counts[users], k, self.generator)
        return take_rows(self.index.items, self.index.indptr[users].unsqueeze(1) + offsets)

    # ------------------------------------------------------------------ objective
    def loss(self, model, batch, ctx):
        self._require_setup()
        cfg = self.config
        warm_up = ctx.epoch < cfg.begin_epoch
        if cfg.users == "uniform":
            batch = self.uniform_users(batch, positive=warm_up)
        if warm_up:
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
        """The batch with each positive replaced by a draw from the user's pool, and its scores.

        The pool and the negative are scored without gradients
        (:meth:`~graphdenoise.models.base.Recommender.rank_scores`, ``trainer.py:236-252``), and the drawn
        triplet with them. On a backbone whose representations are its embeddings (MF, GMF) the pool
        is read from the tables; elsewhere (LightGCN, NeuMF) the batch's nodes, pool included, are
        represented once for both (the authors propagate twice)."""
        cfg, num = self.config, len(batch)
        pool = self.candidates(batch.users, cfg.num_candidates).to(batch.users.device)
        rows = torch.arange(num, device=pool.device)
        if model.representations_are_embeddings:  # cheap lookups: the tables are the representations
            user_rep, item_rep = model.embedding_tables()
            user_idx, neg_idx, pool_idx = batch.users, batch.neg_items, pool
        else:
            unique_users, user_idx, unique_items, item_pos = model.batch_nodes(batch.users, batch.neg_items, pool)
            user_rep, item_rep = model.representations(unique_users, unique_items)
            neg_idx, pool_idx = item_pos[:num], item_pos[num:].view(pool.shape)
        probe = model.rank_scores(user_rep, item_rep, user_idx, torch.cat([neg_idx.unsqueeze(1), pool_idx], 1))
        pick = resample(candidate_losses(probe[:, 1:], probe[:, :1], cfg.objective), cfg.temperature, self.generator)
        batch = dataclasses.replace(batch, pos_items=pool[rows, pick])
        if model.representations_are_embeddings:  # row-sparse lookups with gradients
            return batch, model.triplet(batch.users, batch.pos_items, batch.neg_items)
        pos_idx = pool_idx[rows, pick]
        scores = model.score_indexed(user_rep, item_rep, user_idx.unsqueeze(1), torch.stack([pos_idx, neg_idx], 1))
        return batch, TripletScores(scores[:, 0], scores[:, 1], take_rows(user_rep, user_idx),
                                    take_rows(item_rep, pos_idx), take_rows(item_rep, neg_idx))

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
