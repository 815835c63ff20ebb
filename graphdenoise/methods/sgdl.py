r"""SGDL, from Gao, Du, Hu, Chen, Zhu, Fang and Zheng, "Self-Guided Learning to Denoise for Robust
Recommendation", SIGIR 2022, https://arxiv.org/abs/2204.06832 (https://doi.org/10.1145/3477495.3532059).

Two phases, switched automatically at the *memorization point*:

**Phase I, memorization** (plain BPR). After every epoch, (a) the clean ratio is estimated by a
two-component Gaussian mixture fitted on every training edge's BPR loss (one fresh uniform negative
each), min-max normalised within each user: :math:`\hat\rho = 1 - \operatorname{mean} P(\text{high-loss
component})`; (b) the memorization test ranks, per user :math:`u`, its :math:`n_u` positives among
them plus :math:`n_u` sampled non-positives: a positive ranked in the top :math:`n_u` is memorized
this epoch; it is *memorized* when this held in at least half of the last ``history_len`` epochs.
When the memorized share reaches :math:`\hat\rho`, the memorized edges are frozen as clean data
:math:`\mathcal C` and Phase II starts.

**Phase II, self-guided learning.** A learning-to-weight net :math:`\mathcal W_\phi` (MLP
:math:`1 \to 100 \to 1`, ReLU, sigmoid) weights each sample by its loss; per step, with the trainer's
(noisy) batch :math:`\mathcal T` and a clean batch :math:`C \subset \mathcal C` of ``clean_batch_size``:

1. scheduler input: per clean sample, its loss :math:`\ell_k(\theta)` and the cosine similarity of its
   gradient at :math:`\theta` and at the assumed step
   :math:`\hat\theta = \theta - \eta\nabla_\theta \tfrac1{|C|}\sum_C \ell\,\mathcal W_\phi(\ell)`;
2. the scheduler (a bi-LSTM over the cosines and one over the losses, summed over directions, then
   :math:`40 \to 20 \to 1` with tanh) gives :math:`p = \operatorname{softmax}_C(z)`, from which
   :math:`|C|` clean samples are drawn by hard Gumbel-softmax (straight-through, temperature ``tau``);
3. assumed update on the noisy batch,
   :math:`\theta'(\phi) = \theta - \eta\nabla_\theta \tfrac1{|\mathcal T|}\sum_{\mathcal T} \ell\,\mathcal W_\phi(\ell)`
   (``create_graph``), and the meta loss: BPR at :math:`\theta'` on the drawn clean samples; one
   Adam step of :math:`\phi` and of the scheduler on it (:meth:`SGDL.outer_losses`);
4. the real step: :math:`\tfrac1{|\mathcal T|}\sum_{\mathcal T} \ell\,\mathcal W_\phi(\ell)` with the
   weights detached, plus the trainer's L2 term (the code computes an L2 term and never adds it).

The scheduler and the Adams of :math:`\phi` and of the scheduler are re-created at every Phase-II
epoch, as in the code (``training.py:254-259``); :math:`\phi` persists.

Defaults (``code/parse.py:11-57``): ``history_len 10``, ``meta_lr 5e-4``, ``schedule_lr 5e-3``,
``tau 1.0``, LTW hidden 100, batch 128 (our ``clean_batch_size``; the noisy batch is the trainer's),
``lr 5e-4`` (the trainer's). GMM: ``max_iter 100``, ``tol 1e-2``, ``reg_covar 5e-4`` (``training.py:97``).

Reference: ``ZJU-DAILY/SGDL`` @ 718ced9, ``code/main.py:21-98``, ``code/training.py:51-101,252-400,
490-534``, ``code/scheduler.py``, ``code/dataloader.py:67-110``, ``code/model.py:201-269``. Deviations:

1. **Gradient-similarity features at the representation level** (default). The code's feature is, per
   clean sample and per parameter tensor, the cosine of its per-sample gradients at :math:`\theta` and
   :math:`\hat\theta` (a Python loop of :math:`2|C|` backward passes per step, ``training.py:300-334``).
   By default the per-sample gradients are taken with respect to the sample's user and item
   REPRESENTATIONS (one vectorised backward; user rows, and the positive and negative item rows
   together), giving the same two features as the code's two LightGCN tables. For MF the
   representations are the table rows, so the features are exact; for LightGCN, NeuMF and other
   backbones they are an approximation (per-sample gradients through propagation do not batch).
   ``gradient_features='tables'`` computes the code's two per-table features exactly on backbones
   whose representations are linear in their tables (MF, LightGCN), through the Gram matrix of the
   representation map on the clean batch's nodes (:func:`table_gradient_cosines`), still without a
   per-sample loop.
2. Phase I trains with the trainer's learning rate by default; the code divides it by 5 in Phase I
   (``main.py:21,46``): ``memorization_lr_scale=0.2`` does the same (through :meth:`lr_scale`). The
   trainer's Adam persists across the phases and epochs (the code creates one for Phase I and
   re-creates one at each Phase-II epoch).
3. Clean batches are drawn uniformly with replacement from :math:`\mathcal C` with fresh uniform
   negatives (the code cycles a shuffled epoch of them); :math:`\mathcal C` lives in memory (the
   code writes and re-reads a file).
4. The GMM is fitted by EM from the 25th/75th percentiles (sklearn starts from k-means); a user
   whose losses are all equal normalises to 0 (the code divides by zero).
5. The end-of-epoch tests run at the first step of the next epoch (same model state). An optional
   ``max_memorization_epochs`` forces the switch (the code has none).
6. Model selection is the trainer's over both phases (the code: validation Recall@5 every
   ``eval_freq`` epochs of Phase II only, ``code/main.py:50-83``; ``phase_two_selection=True`` selects
   among Phase-II evaluations only); early stopping, as there, only in Phase II (:meth:`SGDL.may_stop`),
   so a Phase I that peaks early still reaches Phase II.
   The REINFORCE scheduler variant (``training.py:104-249``) is not implemented.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..datasets.graph import num_users_items, train_edges
from ..models.base import representations_at, row_slice_of, rows_at
from ..utils import take_rows
from .base import METHODS, Method, MethodConfig, SamplingSpec, l2_term
from ..config import check_fields
from .losses import bpr_terms
from .memory import EpochClock
from .reweighting import WeightStats


class LearningToWeight(nn.Module):
    r""":math:`\mathcal W_\phi(\ell) = \sigma(W_2\,\mathrm{ReLU}(W_1 \ell))` (``model.py:253-269``)."""

    def __init__(self, hidden: int = 100):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(1, hidden), nn.Linear(hidden, 1)

    def forward(self, loss: Tensor) -> Tensor:
        return torch.sigmoid(self.lin2(F.relu(self.lin1(loss.reshape(-1, 1))))).view(loss.shape)


class DenoisingScheduler(nn.Module):
    r"""SGDL's scheduler (``scheduler.py:7-28``): bi-LSTMs over the gradient cosines ``[C, N]`` and
    the losses ``[C]`` (each sample a sequence of length 1, as the code's ``reshape(1, C, -1)``),
    summed over directions, then :math:`40 \to 20 \to 1` with tanh; returns ``[C]`` scores."""

    def __init__(self, num_features: int = 2, hidden: int = 10):
        super().__init__()
        self.grad_lstm = nn.LSTM(num_features, hidden, 1, bidirectional=True)
        self.loss_lstm = nn.LSTM(1, hidden, 1, bidirectional=True)
        self.fc1, self.fc2 = nn.Linear(4 * hidden, 2 * hidden), nn.Linear(2 * hidden, 1)

    def reset_parameters(self):
        for module in (self.grad_lstm, self.loss_lstm, self.fc1, self.fc2):
            module.reset_parameters()

    def forward(self, loss: Tensor, cosines: Tensor) -> Tensor:
        grad_out = self.grad_lstm(cosines.reshape(1, cosines.size(0), -1))[0].sum(0)
        loss_out = self.loss_lstm(loss.reshape(1, loss.numel(), 1))[0].sum(0)
        return self.fc2(torch.tanh(self.fc1(torch.cat([grad_out, loss_out], 1)))).view(-1)


def hard_gumbel_softmax(log_p: Tensor, tau: float, generator: torch.Generator) -> Tensor:
    r"""``[C, C]``: :math:`C` straight-through one-hot draws from :math:`\operatorname{softmax}(\log p)`
    with Gumbel noise (``scheduler.py:41-67``)."""
    logits = log_p.unsqueeze(0).expand(log_p.numel(), -1)
    u = torch.rand(logits.shape, generator=generator).to(logits.device)
    soft = torch.softmax((logits - torch.log(-torch.log(u + 1e-20) + 1e-20)) / tau, dim=-1)
    hard = (soft == soft.max(1, keepdim=True).values).to(soft.dtype)
    return (hard - soft).detach() + soft


def fit_two_gaussians(x: Tensor, max_iter: int = 100, tol: float = 1e-2, reg_covar: float = 5e-4) -> Tensor:
    r"""EM for a 1-D two-component Gaussian mixture; returns each point's posterior of the component
    with the larger mean (``training.py:97-100``)."""
    x = x.double().view(-1, 1)
    mean = torch.quantile(x.view(-1), torch.tensor([0.25, 0.75], dtype=x.dtype)).view(1, 2)
    var = (x.var() + reg_covar).expand(1, 2).clone()
    weight = torch.full((1, 2), 0.5, dtype=x.dtype)
    previous = -float("inf")
    for _ in range(max_iter):
        log_prob = -0.5 * ((x - mean) ** 2 / var + torch.log(2 * torch.pi * var)) + torch.log(weight)
        norm = torch.logsumexp(log_prob, 1, keepdim=True)
        resp = (log_prob - norm).exp()
        total = resp.sum(0, keepdim=True) + 1e-12
        weight, mean = total / x.size(0), (resp * x).sum(0, keepdim=True) / total
        var = (resp * (x - mean) ** 2).sum(0, keepdim=True) / total + reg_covar
        bound = float(norm.mean())
        if abs(bound - previous) < tol:
            break
        previous = bound
    return resp[:, int(mean.argmax())].float()


def per_user_minmax(values: Tensor, users: Tensor, num_users: int) -> Tensor:
    """Min-max normalisation within each user's values (users with one value keep it)."""
    low = torch.full((num_users,), float("inf")).scatter_reduce(0, users, values, "amin")
    high = torch.full((num_users,), float("-inf")).scatter_reduce(0, users, values, "amax")
    count = torch.bincount(users, minlength=num_users)
    span = (high - low)[users]
    scaled = torch.where(span > 0, (values - low[users]) / span.clamp(min=1e-30), torch.zeros_like(values))
    return torch.where(count[users] > 1, scaled, values)


def rank_within_user(scores: Tensor, users: Tensor) -> Tensor:
    """0-based rank of each score (descending) among the scores of the same user."""
    order = torch.sort(scores, descending=True, stable=True).indices
    order = order[torch.sort(users[order], stable=True).indices]
    sorted_users = users[order]
    start = torch.searchsorted(sorted_users, sorted_users, right=False)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel()) - start
    return rank


def representation_gradients(model, user: Tensor, pos: Tensor, neg: Tensor, split: bool = False):
    r"""Per-sample gradients of :math:`\ell_{\mathrm{BPR}}` w.r.t. the sample's user row and its item rows
    (positive and negative concatenated): ``([C, d_u], [C, 2 d_i])``, one vectorised backward
    (``split``: the three ``[C, d]`` row gradients ``(user, positive, negative)``)."""
    rows = [t.detach().requires_grad_(True) for t in (user, pos, neg)]
    with torch.enable_grad():
        out = model.score_rows(*rows)
        g_user, g_pos, g_neg = torch.autograd.grad(bpr_terms(out.pos, out.neg).sum(), rows)
    if split:
        return g_user, g_pos, g_neg
    return g_user, torch.cat([g_pos, g_neg], -1)


def _table_slices(model) -> Tuple[Tuple[str, int, int], ...]:
    """``(parameter name, first row, end row)`` of the user and of the item table (LightGCN stacks both
    in one parameter)."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = []
    for table in model.embedding_tables():
        base, first = row_slice_of(table)
        if id(base) not in names:
            raise ValueError(f"{type(model).__name__}'s embedding tables are not row slices of its parameters")
        out.append((names[id(base)], first, first + table.size(0)))
    return tuple(out)


def table_gradient_cosines(model, clean: Tuple[Tensor, Tensor, Tensor], now, later, eps: float = 1e-8) -> Tensor:
    r"""``[C, 2]``: per clean sample, the cosine of its per-sample gradients at :math:`\theta` and
    :math:`\hat\theta` w.r.t. the user table and w.r.t. the item table: the code's feature exactly
    (``training.py:300-334``: one backward per sample and parameter tensor), for a backbone whose
    representations are a linear map of its tables, :math:`r = M E` (MF, LightGCN).

    A sample's gradient w.r.t. table :math:`T` is :math:`M_T^\top H` with :math:`H` its
    representation-row gradients (``now`` / ``later``: ``(user, positive, negative)`` rows, ``[C, d]``
    each), which are non-zero on its three nodes only. So every inner product is
    :math:`\sum_{r,s} G^T_{rs}\langle h_r, h'_s\rangle` over the sample's nodes, with the Gram matrix
    :math:`G^T = M_T M_T^\top` of the clean batch's distinct nodes (:math:`M` is the same at
    :math:`\theta` and :math:`\hat\theta`). :math:`M`'s rows at those nodes come from ONE backward of
    the (row-restricted) representation map evaluated at zero tables of width ``n`` (the number of
    distinct nodes) with one-hot cotangents; no per-sample loop."""
    users, pos, neg = clean
    user_ids, user_slot = torch.unique(users, return_inverse=True)
    item_ids, item_slot = torch.unique(torch.cat([pos, neg]), return_inverse=True)
    n_u, n = user_ids.numel(), user_ids.numel() + item_ids.numel()
    slices = _table_slices(model)
    zeros = {name: torch.zeros(p.size(0), n, dtype=p.dtype, device=p.device, requires_grad=True)
             for name, p in model.named_parameters() if name in {s[0] for s in slices}}
    with torch.enable_grad():
        rows = representations_at(model, zeros, user_ids, item_ids)
        eye = torch.eye(n, dtype=rows[0].dtype, device=rows[0].device)
        # M^T times one-hot cotangents: column c of each gradient is node c's dependence on that table
        grads = dict(zip(zeros, torch.autograd.grad(rows[:2], list(zeros.values()), (eye[:n_u], eye[n_u:]),
                                                    allow_unused=True)))
    num = users.numel()
    slots = torch.stack([user_slot, n_u + item_slot[:num], n_u + item_slot[num:]], 1)  # [C, 3]
    h_now, h_later = torch.stack(now, 1), torch.stack(later, 1)                        # [C, 3, d]
    cross, own_now, own_later = (h_now @ h_later.transpose(1, 2), h_now @ h_now.transpose(1, 2),
                                 h_later @ h_later.transpose(1, 2))
    cosines = []
    for name, first, end in slices:
        part = grads[name]
        part = torch.zeros(end - first, n, dtype=h_now.dtype, device=h_now.device) if part is None else part[first:end]
        part = part[part.abs().sum(1) > 0]  # the rows any of the nodes depend on
        gram = part.t() @ part                                                          # [n, n]
        pair = gram[slots.unsqueeze(2), slots.unsqueeze(1)]                            # [C, 3, 3]
        dot = (pair * cross).sum((1, 2))
        norms = [(pair * own).sum((1, 2)).clamp(min=0).sqrt().clamp(min=eps) for own in (own_now, own_later)]
        cosines.append(dot / (norms[0] * norms[1]))
    return torch.stack(cosines, 1)


@dataclass
class SGDLConfig(MethodConfig):
    """Options of :class:`SGDL` (the authors' defaults)."""

    history_len: int = 10
    """Epochs of memorization history; an edge is memorized in at least half of them."""
    clean_batch_size: int = 128
    """Clean (memorized) samples per step (the authors' batch size)."""
    meta_lr: float = 5e-4
    """Adam learning rate of the learning-to-weight net."""
    schedule_lr: float = 5e-3
    """Adam learning rate of the scheduler."""
    ltw_hidden: int = 100
    """Hidden width of the learning-to-weight net."""
    tau: float = 1.0
    """Temperature of the Gumbel-softmax draws."""
    gmm_max_iter: int = 100
    """EM iterations of the clean-ratio mixture."""
    gmm_tol: float = 1e-2
    """Stop EM when the mean log-likelihood changes less."""
    gmm_reg_covar: float = 5e-4
    """Added to the mixture's variances."""
    max_memorization_epochs: Optional[int] = None
    """Force the switch to Phase II after this many epochs (None: only at the memorization point)."""
    gradient_features: str = "representations"
    """The scheduler's gradient-similarity features: ``'representations'`` (default) the cosines of each
    sample's gradients w.r.t. its user row and its item rows (exact on MF, an approximation on graph
    backbones, deviation 1); ``'tables'`` the code's per-table cosines exactly, through the Gram matrix
    of the linear representation map (:func:`table_gradient_cosines`; MF and LightGCN)."""
    memorization_lr_scale: float = 1.0
    """Factor on the recommender's learning rate in Phase I: 1 trains it at the trainer's lr (the paper
    states one lr); ``0.2`` is the authors' code, whose Phase-I Adam runs at ``lr / 5``
    (``code/main.py:21``; Phase II at ``lr``, ``:46``)."""
    phase_two_selection: bool = False
    """Select the reported state among Phase-II evaluations only, as the authors' code validates
    (``code/main.py:50-83``); by default the trainer selects over both phases (Phase II may lose to
    Phase I). Early stopping waits for Phase II either way (:meth:`SGDL.may_stop`)."""

    def __post_init__(self):
        check_fields(self, history_len=">= 1", clean_batch_size=">= 1", meta_lr="> 0", schedule_lr="> 0",
                     ltw_hidden=">= 1", tau="> 0", gmm_max_iter=">= 1", gmm_tol="> 0", gmm_reg_covar=">= 0",
                     max_memorization_epochs=">= 1", memorization_lr_scale="> 0",
                     gradient_features=("representations", "tables"))


@METHODS.register("sgdl")
class SGDL(Method):
    r"""SGDL: memorization, then self-guided meta-learning on the memorized data (module docstring).

    Args:
        config (SGDLConfig, optional): ``history_len`` (default: 10), ``clean_batch_size``
            (default: 128), ``meta_lr`` (default: 5e-4), ``schedule_lr`` (default: 5e-3),
            ``ltw_hidden`` (default: 100), ``tau`` (default: 1.0), ``gmm_max_iter`` (default: 100),
            ``gmm_tol`` (default: 1e-2), ``gmm_reg_covar`` (default: 5e-4),
            ``max_memorization_epochs`` (default: :obj:`None`), ``memorization_lr_scale`` (default: 1.0),
            ``phase_two_selection`` (default: :obj:`False`), ``gradient_features`` (default: ``"representations"``).

    Shapes:
        - :meth:`weights`: ``[B]``, :math:`\mathcal W_\phi(\ell)` (ones in Phase I).
    """

    Config = SGDLConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.ltw: Optional[LearningToWeight] = None
        self.scheduler: Optional[DenoisingScheduler] = None
        self.register_buffer("phase", torch.zeros((), dtype=torch.bool))
        self.clock, self.pointer, self.generator = EpochClock(), -1, torch.Generator()
        self._outer: dict = {}
        self.edges: Optional[Tensor] = None
        self._clean_ids: Optional[Tuple[Tuple[int, int], Tensor]] = None
        self.stats, self.ratios = WeightStats(), {}

    def sampling(self):
        return SamplingSpec(num_negatives=1)

    def setup(self, model, data, ctx):
        if self.config.gradient_features == "tables" and not model.linear_representations:
            raise ValueError(f"SGDL gradient_features='tables' needs a backbone whose representations are linear "
                             f"in its embedding tables (mf, lightgcn); {type(model).__name__} is not: use "
                             f"gradient_features='representations'")
        self.edges = train_edges(data)
        self.num_users = num_users_items(data)[0]
        self.negatives = ctx.negatives
        # the same stream on every rank: the memorization test, and so the switch to Phase II, must agree
        self.generator = torch.Generator().manual_seed(ctx.seed + 15485863)
        device = next(model.parameters()).device
        self.ltw = LearningToWeight(self.config.ltw_hidden).to(device)  # built here: after the run's seeding
        self.scheduler = DenoisingScheduler(2).to(device)
        self.register_buffer("memory", torch.zeros(self.edges.size(1), self.config.history_len, dtype=torch.bool,
                                                   device=device))
        self.register_buffer("clean", torch.zeros(self.edges.size(1), dtype=torch.bool, device=device))
        # foreach: the same updates, bit for bit, as the per-tensor loop, in fewer kernel calls
        self._outer = {"ltw": torch.optim.Adam(self.ltw.parameters(), lr=self.config.meta_lr, foreach=True),
                       "scheduler": torch.optim.Adam(self.scheduler.parameters(), lr=self.config.schedule_lr,
                                                     foreach=True)}

    def outer_optimizers(self):
        return dict(self._outer)

    def extra_state(self) -> dict:
        return {"epoch": self.clock.epoch, "pointer": self.pointer, "generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.clock.epoch, self.pointer = state.get("epoch"), state.get("pointer", -1)
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def _require_setup(self):
        if self.edges is None:
            raise RuntimeError("SGDL needs setup(model, data, ctx) before use (the trainer calls it)")

    # ------------------------------------------------------------------ phase I
    def begin_step(self, model, ctx) -> None:
        """At an epoch's first step: Phase I's end-of-epoch tests, and Phase II's per-epoch restart of
        the scheduler and of both Adams (in place, so the trainer keeps stepping the same objects)."""
        self._require_setup()
        if not self.clock.tick(ctx.epoch):
            return
        if not bool(self.phase):
            self.memorization_point(model, ctx.epoch)
        if bool(self.phase):
            self.scheduler.reset_parameters()
            for opt in self._outer.values():
                opt.state.clear()

    @torch.no_grad()
    def edge_scores(self, model, *items: Tensor) -> Tuple[Tensor, ...]:
        """Scores of every training edge's user against each of ``items`` (each ``[E]``), in chunks, from
        one evaluation of the representations (one propagation on a graph backbone)."""
        was_training = model.training
        model.eval()
        user_rep, item_rep = model.representations()
        users, out = self.edges[0].to(user_rep.device), [[] for _ in items]
        for start in range(0, users.numel(), 1 << 16):
            part = slice(start, start + (1 << 16))
            rows = take_rows(user_rep, users[part])
            for scores, targets in zip(out, items):
                scores.append(model.score_pairs(rows, take_rows(item_rep, targets[part].to(user_rep.device))))
        model.train(was_training)
        return tuple(torch.cat(scores).cpu() for scores in out)

    def memorization_point(self, model, epoch: int) -> None:
        """Clean-ratio estimate (GMM) and memorization test after a Phase-I epoch; switch when reached."""
        cfg, users = self.config, self.edges[0]
        draws = [self.negatives.sample(users, self.generator, 1)[0].view(-1) for _ in range(2)]
        pos, neg, other = self.edge_scores(model, self.edges[1], *draws)
        normalised = per_user_minmax(F.softplus(neg - pos), users, self.num_users)
        clean_ratio = 1.0 - float(fit_two_gaussians(normalised, cfg.gmm_max_iter, cfg.gmm_tol, cfg.gmm_reg_covar).mean())
        rank = rank_within_user(torch.cat([pos, other]), torch.cat([users, users]))[: users.numel()]
        self.pointer = (self.pointer + 1) % cfg.history_len
        self.memory[:, self.pointer] = (rank < torch.bincount(users, minlength=self.num_users)[users]).to(self.memory.device)
        memorized = self.memory.sum(1) >= cfg.history_len / 2
        mem_ratio = float(memorized.float().mean())
        self.ratios = {"clean_ratio": clean_ratio, "memorized_ratio": mem_ratio}
        forced = cfg.max_memorization_epochs is not None and epoch >= cfg.max_memorization_epochs
        if memorized.any() and (mem_ratio >= clean_ratio or forced):
            self.clean.copy_(memorized)
            self.phase.fill_(True)

    # ------------------------------------------------------------------ phase II
    def clean_ids(self) -> Tensor:
        """Indices of :math:`\\mathcal C` (on the CPU), cached until the ``clean`` buffer is written (the
        switch, or a loaded state: both bump its version counter)."""
        version = (self.clean.data_ptr(), self.clean._version)
        if self._clean_ids is None or self._clean_ids[0] != version:
            self._clean_ids = (version, self.clean.nonzero().view(-1).cpu())
        return self._clean_ids[1]

    def clean_batch(self, device) -> Tuple[Tensor, Tensor, Tensor]:
        """``clean_batch_size`` memorized edges, uniformly with replacement, with fresh negatives."""
        ids = self.clean_ids()
        pick = ids[torch.randint(ids.numel(), (self.config.clean_batch_size,), generator=self.generator)]
        users, items = self.edges[0][pick], self.edges[1][pick]
        neg = self.negatives.sample(users, self.generator, 1)[0].view(-1)
        return users.to(device), items.to(device), neg.to(device)

    def scheduler_inputs(self, model, params: dict, clean, lr: float) -> Tuple[Tensor, Tensor]:
        r"""``(losses [C], cosines [C, 2])``: the clean samples' losses at :math:`\theta` and the cosine of
        their representation gradients at :math:`\theta` and :math:`\hat\theta` (steps 1 of the docstring)."""
        out = model.triplet(*clean)
        losses = bpr_terms(out.pos, out.neg)
        weighted = (losses * self.ltw(losses.detach())).sum() / losses.numel()
        names = list(params)
        grads = torch.autograd.grad(weighted, [params[n] for n in names], allow_unused=True)
        step = {n: params[n].detach() - lr * g if g is not None else params[n].detach() for n, g in zip(names, grads)}
        with torch.no_grad():
            ahead = rows_at(model, step, *clean)
        tables = self.config.gradient_features == "tables"
        now = representation_gradients(model, out.user, out.pos_item, out.neg_item, split=tables)
        later = representation_gradients(model, *ahead, split=tables)
        if tables:
            cosines = table_gradient_cosines(model, clean, now, later)
        else:
            cosines = torch.stack([F.cosine_similarity(a, b, dim=-1, eps=1e-8) for a, b in zip(now, later)], 1)
        return losses.detach(), cosines.detach()

    def assumed_update(self, model, params: dict, batch, lr: float) -> dict:
        r""":math:`\theta'(\phi) = \theta - \eta\nabla_\theta \frac1{|\mathcal T|}\sum \ell\,\mathcal W_\phi(\ell)`
        on the noisy batch, differentiable in :math:`\phi` (step 3)."""
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        losses = bpr_terms(out.pos, out.neg)
        weighted = (losses * self.ltw(losses.detach())).sum() / losses.numel()
        names = list(params)
        grads = torch.autograd.grad(weighted, [params[n] for n in names], create_graph=True, allow_unused=True)
        return {n: params[n] - lr * g if g is not None else params[n] for n, g in zip(names, grads)}

    def meta_loss(self, model, batch, ctx) -> Tensor:
        """BPR at the assumed parameters on the scheduler's Gumbel draws of a clean batch (steps 1-3)."""
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        clean = self.clean_batch(batch.users.device)
        losses, cosines = self.scheduler_inputs(model, params, clean, ctx.lr)
        log_p = torch.log(torch.softmax(self.scheduler(losses, cosines), 0) + 1e-20)
        draws = hard_gumbel_softmax(log_p, self.config.tau, self.generator)
        user, pos, neg = rows_at(model, self.assumed_update(model, params, batch, ctx.lr), *clean)
        user, pos, neg = draws @ user, draws @ pos, draws @ neg
        return bpr_terms(model.score_pairs(user, pos), model.score_pairs(user, neg)).mean()

    def outer_losses(self, model, batch, ctx):
        """Phase II: one meta loss per step, minimised by the learning-to-weight net and the scheduler."""
        self.begin_step(model, ctx)
        if bool(self.phase):
            yield self.meta_loss(model, batch, ctx)

    def loss(self, model, batch, ctx):
        self.begin_step(model, ctx)
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        losses = bpr_terms(out.pos, out.neg)
        if bool(self.phase):
            with torch.no_grad():
                weight = self.ltw(losses.detach())
            self.stats.update(weight)
            loss = (losses * weight).sum() / losses.numel()
        else:
            loss = losses.mean()
        return loss + l2_term(model, batch, ctx, out), {"sgdl": loss.detach()}

    def lr_scale(self) -> float:
        return 1.0 if bool(self.phase) else self.config.memorization_lr_scale

    def may_stop(self) -> bool:
        """Early stopping only in Phase II (the authors validate, select and stop in Phase II only,
        ``code/main.py:50-83``): a Phase I that peaks early would otherwise end the run as plain BPR
        before the denoising starts."""
        return bool(self.phase)

    def may_select(self) -> bool:
        return bool(self.phase) or not self.config.phase_two_selection

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        if not bool(self.phase):
            return torch.ones(users.shape, device=users.device)
        out = model.triplet(users, pos_items, neg_items)
        neg = out.neg if out.neg.dim() == out.pos.dim() else out.neg[..., 0]
        return self.ltw(bpr_terms(out.pos, neg)).view(users.shape)

    def epoch_stats(self):
        stats = {**self.ratios, "phase": float(bool(self.phase))}
        stats.update(self.stats.read("weight"))
        self.ratios = {}
        return stats
