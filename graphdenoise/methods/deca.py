r"""DeCA and DeCA(p), from Wang, Xin, Meng, Jose, Feng and He, "Learning Robust Recommenders through
Cross-Model Agreement", WWW 2022, https://arxiv.org/abs/2105.09605
(https://doi.org/10.1145/3485447.3512202).

A generative view of implicit feedback: the true preference :math:`r_{ui} \sim \mathrm{Bern}(f(u,i))`
is latent, and the observation :math:`\tilde y_{ui}` is drawn given it, with
:math:`P(\tilde y = 1 \mid r = 0) = h_1(u,i)` (false-positive rate) and
:math:`P(\tilde y = 1 \mid r = 1) = h_2(u,i)`. Training maximises a lower bound of the likelihood of
the observations in which the target recommender :math:`f` is the variational posterior and a
second model :math:`g` the prior: different models agree on clean examples and disagree on noisy
ones, so the bound's KL term pulls :math:`f` towards what :math:`g` also believes (Sec. 4 of the
paper). Per sample, with :math:`\lg x = \ln(x + 10^{-5})` (the authors' ``log``):

.. math::
    \mathcal L_{ui} = \underbrace{\alpha\,\mathrm{KL}(g\|f) + (1-\alpha)\,\mathrm{KL}(f\|g)}_{
    \text{agreement } A} - \ell(\tilde y_{ui}), \qquad
    \mathrm{KL}(a\|b) = a\lg a - a\lg b + (1-a)\lg(1-a) - (1-a)\lg(1-b)

and the expected log-likelihood :math:`\ell` alternates between two sub-tasks, one per iteration:

* DP ("denoise positives": no false negatives): :math:`\ell^+ = (1-f)\lg h_1`,
  :math:`\ell^- = (1-f)\lg(1-h_1) - C_1 f`;
* DN ("denoise negatives": no false positives): :math:`\ell^+ = f\lg h_2 - C_2(1-f)`,
  :math:`\ell^- = f\lg(1-h_2)`

(:math:`C_1, C_2` stand in for :math:`-\ln 0`). The batch loss (on triplets; on CDAE's users' rows see deviation 7) is
:math:`\operatorname{mean}_{+}\mathcal L + L\cdot\operatorname{mean}_{-}\mathcal L
+ \lambda_0\,\tfrac12\sum_{\theta\in f}\|\theta\|^2/|\mathcal U|` with :math:`L` negatives per
positive, plus the trainer's L2 term (set ``l2=0`` for the authors' objective). One backward pass;
then :math:`f` steps (the trainer), and the method's declared optimisers step :math:`h_1` unless the
step was DN, :math:`h_2` unless it was DP (the idle one's gradients are cleared in
:meth:`DeCA.after_backward`), and :math:`g` in DeCA; the sub-task then toggles.

* **DeCA**: :math:`g` is a fresh MF (``aux_dim`` factors) trained jointly, through :math:`A` only.
* **DeCA(p)**: :math:`g` is a copy of :math:`f` with the same initial weights, pre-trained with plain
  BCE (``pretrain_epochs``) and then frozen (detached in :math:`A`).

:math:`h_1, h_2` (and DeCA's :math:`g`) are MF models :math:`\sigma(p_u^\top q_i)`, N(0, 0.01²)
initialised, each with its own Adam. Inference uses :math:`f` only. :meth:`DeCA.weights` reports the
model's posterior that an observed positive is truly preferred,
:math:`P(r=1\mid\tilde y=1) = f h_2 / (f h_2 + (1-f) h_1)` (for noise-detection AUC).

Defaults are the authors' CLI defaults (``main.py:107-110,124-126``): ``C_1 1000``, ``C_2 10``,
``alpha 1``, ``lambda0 1.0``, ``emb_dim 32``; their per-(model, dataset) values are in
``configs.py:1-29,115-143`` (e.g. GMF on ML-100K: ``C_2 1000``, ``lambda0 0.1``).

Reference: ``wangyu-ustc/DeCA`` @ 8b04aa8, ``train.py``. Deviations:

1. :math:`f`'s output is ``sigmoid(score)`` of the backbone's logit (the authors' models end in a
   sigmoid: ``model.py:110``, ``LightGCN.py:197``); the same probability.
2. The negatives are the trainer's (uniform, rejected against training positives, ``num_negatives``
   per positive) rather than drawn inside the loss (``train.py:79-106``): the same distribution.
3. The first iteration's mode is ``initial_mode`` (default ``'both'``, the authors' start,
   ``train.py:40,382-406``; its positive term uses :math:`\lg(1-h)`, which looks like a slip but is
   reproduced); the sub-task is a function of the global step, so a resume continues the alternation.
4. DeCA(p)'s pre-training runs for a fixed ``pretrain_epochs`` over the training edges (the authors
   pre-train for the main run's epoch count with validation-loss early stopping, ``train.py:333-348``,
   ``:42``; STUDY without it) on the method's own sampler, at the first training step (flagged in the
   method's state, so a resumed run does not repeat it). It is not cached on disk.
5. Model selection is the trainer's (validation ranking metric); the authors test the final model
   (``train.py:362-371``).
6. DeCA(p)'s frozen :math:`g` is evaluated in eval mode (the authors leave it in train mode; the
   same without dropout, their default).
7. On CDAE, ``batches='auto'`` (the default) or ``'users'`` trains as the authors' CDAE path
   (``train.py:206-300``), through :class:`~graphdenoise.sampling.UserBatchSampler`: a step takes a
   batch of USERS (the trainer's ``batch_size`` counts users; users without training items are
   skipped, ``:232-235``), every training cell of their rows is a positive, and ``num_negatives``
   (the authors' ``NSR``) times as many cells are drawn without replacement among the batch's zero
   cells pooled over its users (``:247-250,277-282``); CDAE encodes each row once; the loss is
   :math:`\operatorname{mean}_{+}\mathcal L + \operatorname{mean}_{-}\mathcal L` (no ``NSR`` factor) plus
   :math:`\lambda_0\sum_\theta\|\theta_f\|_2`, the UN-squared norm of every parameter tensor of
   :math:`f` (``:272-294``), plus the trainer's L2 (0 for the authors). DeCA(p)'s :math:`g` is
   pre-trained on such batches with the SUM of the cells' BCE plus :math:`\lambda_0\sum\|\theta_g\|_2`
   (``:240-259``) and read on the step's rows in training mode, i.e. with its own corruption
   (``:263-264``; deviation 6 holds for the triplet path only). Remaining differences: (a) the
   authors permute ALL users and drop the empty ones from each batch (smaller batches,
   :math:`\lceil |\mathcal U| / B\rceil` of them); here they are left out before batching; (b) the
   draws come from the sampler's seeded generator, not Python's ``random``; (c) the authors' own CDAE
   (``CDAE.py:24-70``: tanh, corruption 0.5, input normalised by :math:`\sqrt{\|x_u\|\,\|x_{\cdot i}\|}`
   with item norms over the batch) is the backbone's choice here (``activation='tanh'``,
   ``corruption=0.5``, ``input_norm='batch'`` of :class:`~graphdenoise.models.CDAE`); (d) they
   never switch CDAE to eval mode, so their validation and test rank with corruption on; here
   evaluation reads uncorrupted rows. ``batches='triplets'`` keeps the generic path (the trainer's
   triplets) on CDAE; ``'users'`` on another backbone is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..datasets.graph import num_users_items
from ..sampling import TripletSampler, UserBatch, UserBatchSampler
from .base import BATCHES, METHODS, Method, MethodConfig, SamplingSpec, l2_term
from ..config import check_fields
from .reweighting import WeightStats, cell_logits

MODES = ("both", "DP", "DN")


class BernoulliMF(nn.Module):
    r"""DeCA's auxiliary models :math:`\sigma(p_u^\top q_i)`, embeddings N(0, 0.01²) (``model.py:124-141``).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        dim (int): Factors. (default: :obj:`32`)

    Shapes:
        - **input:** users ``[B]``, items ``[B]`` or ``[B, L]``
        - **output:** probabilities of the items' shape
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 32):
        super().__init__()
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.user.weight, std=0.01)
        nn.init.normal_(self.item.weight, std=0.01)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        u = self.user(users)
        if items.dim() == users.dim() + 1:
            u = u.unsqueeze(-2)
        return torch.sigmoid((u * self.item(items)).sum(-1))


def lg(x: Tensor, eps: float = 1e-5) -> Tensor:
    r"""The authors' :math:`\ln(x + \epsilon)` (``train.py:15-16``)."""
    return torch.log(x + eps)


def bernoulli_kl(a: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    r""":math:`\mathrm{KL}(\mathrm{Bern}(a)\|\mathrm{Bern}(b))` with :func:`lg` (``train.py:445-447``)."""
    return a * lg(a, eps) - a * lg(b, eps) + (1 - a) * lg(1 - a, eps) - (1 - a) * lg(1 - b, eps)


def agreement(f: Tensor, g: Tensor, alpha: float, eps: float = 1e-5) -> Tensor:
    r"""The agreement term :math:`\alpha\,\mathrm{KL}(g\|f) + (1-\alpha)\,\mathrm{KL}(f\|g)` (``train.py:408-416``)."""
    return alpha * bernoulli_kl(g, f, eps) + (1 - alpha) * bernoulli_kl(f, g, eps)


def positive_log_likelihood(f: Tensor, h1: Tensor, h2: Tensor, mode: str, c2: float, eps: float = 1e-5) -> Tensor:
    r""":math:`\ell^+` of an observed positive under sub-task ``mode`` (``train.py:382-389``)."""
    if mode == "DP":
        return lg(h1, eps) * (1 - f)
    if mode == "DN":
        return lg(h2, eps) * f - c2 * (1 - f)
    return lg(1 - h1, eps) * (1 - f) + lg(1 - h2, eps) * f


def negative_log_likelihood(f: Tensor, h1: Tensor, h2: Tensor, mode: str, c1: float, eps: float = 1e-5) -> Tensor:
    r""":math:`\ell^-` of a sampled negative under sub-task ``mode`` (``train.py:399-406``)."""
    if mode == "DP":
        return lg(1 - h1, eps) * (1 - f) - f * c1
    if mode == "DN":
        return lg(1 - h2, eps) * f
    return lg(1 - h1, eps) * (1 - f) + lg(1 - h2, eps) * f


def mode_at(step: int, initial: str, iterative: bool = True) -> str:
    """The sub-task of global step ``step``: ``initial`` first, then DP and DN alternate (``train.py:149-150``)."""
    if not iterative or step == 0:
        return initial
    first = "DN" if initial == "DP" else "DP"
    return first if (step - 1) % 2 == 0 else ("DP" if first == "DN" else "DN")


def parameter_l2(module: nn.Module, num_users: int) -> Tensor:
    r""":math:`\tfrac12\sum_\theta\|\theta\|^2 / |\mathcal U|` over every parameter (``train.py:173-176``)."""
    return 0.5 * sum(p.pow(2).sum() for p in module.parameters()) / float(num_users)


def parameter_norm(module: nn.Module) -> Tensor:
    r""":math:`\sum_\theta\|\theta\|_2`, the UN-squared norm of every parameter tensor (the authors' CDAE
    path, ``train.py:255-256,293-294``)."""
    return sum(p.norm() for p in module.parameters())


@dataclass
class DeCAConfig(MethodConfig):
    """Options of :class:`DeCA` (the authors' CLI defaults)."""

    alpha: float = 1.0
    """Weight of :math:`\\mathrm{KL}(g\\|f)` against :math:`\\mathrm{KL}(f\\|g)`, in [0, 1]."""
    C_1: float = 1000.0
    """The large constant of DP for negatives the model predicts preferred."""
    C_2: float = 10.0
    """The large constant of DN for positives the model predicts not preferred."""
    lambda0: float = 1.0
    """Weight of :math:`\\tfrac12\\sum\\|\\theta_f\\|^2/|U|` (the authors' ``lambda0``)."""
    aux_dim: int = 32
    """Factors of the MF models :math:`h_1, h_2` (and DeCA's :math:`g`) (the authors' ``emb_dim``)."""
    aux_lr: Optional[float] = None
    """Adam learning rate of the auxiliary models (None: the recommender's, as the authors)."""
    initial_mode: str = "both"
    """Sub-task of the first iteration: ``'both'`` (authors), ``'DP'`` or ``'DN'``."""
    iterative: bool = True
    """Alternate DP and DN every iteration (False: keep ``initial_mode``)."""
    eps: float = 1e-5
    """The :math:`\\epsilon` of :math:`\\ln(x + \\epsilon)`."""
    batches: str = "auto"
    """``'auto'`` (the authors' protocol: batches of users' rows on CDAE, triplets elsewhere),
    ``'users'`` (CDAE only) or ``'triplets'`` (the generic path on every backbone)."""

    def __post_init__(self):
        check_fields(self, alpha="[0, 1]", C_1=">= 0", C_2=">= 0", lambda0=">= 0", aux_dim=">= 1", aux_lr="> 0",
                     initial_mode=tuple(MODES), eps="> 0", batches=BATCHES)


@METHODS.register("deca")
class DeCA(Method):
    r"""DeCA: denoising by cross-model agreement with a jointly trained MF prior (see the module docstring).

    Args:
        config (DeCAConfig, optional): ``alpha`` (default: 1), ``C_1`` (default: 1000), ``C_2``
            (default: 10), ``lambda0`` (default: 1.0), ``aux_dim`` (default: 32), ``aux_lr``
            (default: the recommender's), ``initial_mode`` (default: ``'both'``), ``iterative``
            (default: :obj:`True`), ``eps`` (default: 1e-5).

    Shapes:
        - :meth:`weights`: ``[B]``, :math:`P(r=1\mid\tilde y=1)` of the positives.
    """

    Config = DeCAConfig
    pairwise = False
    prior_is_trained = True

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.h1: Optional[BernoulliMF] = None
        self.h2: Optional[BernoulliMF] = None
        self.prior: Optional[nn.Module] = None
        self._optimizers: dict = {}
        self.num_users = 1
        self.mode = self.config.initial_mode
        self.stats = WeightStats()

    # ------------------------------------------------------------------ setup and state
    def sampling(self) -> SamplingSpec:
        """Triplets, or on CDAE (``batches``) users' rows with negatives pooled over the batch (``train.py:277-282``)."""
        return SamplingSpec(batches=self.config.batches, user_negatives="pooled")

    def setup(self, model, data, ctx):
        self.num_users, num_items = num_users_items(data)
        self.lr, self.seed, self.batches = ctx.lr, ctx.seed, ctx.batches
        self.num_negatives = ctx.num_negatives
        device = next(model.parameters()).device
        self.h1 = BernoulliMF(self.num_users, num_items, self.config.aux_dim).to(device)
        self.h2 = BernoulliMF(self.num_users, num_items, self.config.aux_dim).to(device)
        self.prior = self.build_prior(model, data, num_items).to(device)
        lr = self.config.aux_lr or ctx.lr
        self._optimizers = {"h1": torch.optim.Adam(self.h1.parameters(), lr=lr),
                            "h2": torch.optim.Adam(self.h2.parameters(), lr=lr)}
        if self.prior_is_trained:
            self._optimizers["prior"] = torch.optim.Adam(self.prior.parameters(), lr=lr)

    def optimizers(self):
        """Adam of :math:`h_1`, :math:`h_2` and (DeCA) :math:`g`, stepped by the trainer with :math:`f`'s."""
        return dict(self._optimizers)

    def build_prior(self, model, data, num_items) -> nn.Module:
        """DeCA's :math:`g`: a fresh MF of ``aux_dim`` factors."""
        return BernoulliMF(self.num_users, num_items, self.config.aux_dim)

    def _require_setup(self):
        if self.h1 is None:
            raise RuntimeError(f"{type(self).__name__} needs setup(model, data, ctx) before use (the trainer calls it)")

    # ------------------------------------------------------------------ objective
    def prior_probabilities(self, users: Tensor, pos_items: Tensor, neg_items: Tensor):
        """:math:`g` on the positives and negatives (trained through the agreement term in DeCA)."""
        return self.prior(users, pos_items), self.prior(users, neg_items)

    def prior_cells(self, batch: UserBatch, rows: Tensor, items: Tensor) -> Tensor:
        """:math:`g` on the cells of a user batch (DeCA: the MF prior on each (user, item))."""
        return self.prior(batch.users[rows], items)

    def terms(self, f_pos, f_neg, g_pos, g_neg, pos_pairs, neg_pairs):
        r"""Per-sample :math:`A - \ell^+` and :math:`A - \ell^-` under the current sub-task, and the
        positives' agreement; ``pos_pairs`` / ``neg_pairs`` are the ``(users, items)`` the noise models read."""
        cfg, eps, mode = self.config, self.config.eps, self.mode
        h1_pos, h2_pos = self.h1(*pos_pairs), self.h2(*pos_pairs)
        h1_neg, h2_neg = self.h1(*neg_pairs), self.h2(*neg_pairs)
        agree_pos = agreement(f_pos, g_pos, cfg.alpha, eps)
        pos = agree_pos - positive_log_likelihood(f_pos, h1_pos, h2_pos, mode, cfg.C_2, eps)
        neg = agreement(f_neg, g_neg, cfg.alpha, eps) - negative_log_likelihood(f_neg, h1_neg, h2_neg, mode, cfg.C_1, eps)
        self.stats.update(posterior_clean(f_pos, h1_pos, h2_pos))
        return pos, neg, agree_pos

    def loss(self, model, batch, ctx):
        self._require_setup()
        cfg = self.config
        self.mode = mode_at(ctx.step, cfg.initial_mode, cfg.iterative)
        if isinstance(batch, UserBatch):
            return self.rows_loss(model, batch, ctx)
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        f_pos, f_neg = torch.sigmoid(out.pos), torch.sigmoid(out.neg)
        g_pos, g_neg = self.prior_probabilities(batch.users, batch.pos_items, batch.neg_items)
        pos, neg, agree = self.terms(f_pos, f_neg, g_pos, g_neg, (batch.users, batch.pos_items),
                                     (batch.users, batch.neg_items))
        ratio = out.neg.numel() // max(out.pos.numel(), 1)
        deca = pos.mean() + ratio * neg.mean()
        reg = cfg.lambda0 * parameter_l2(model, self.num_users) if cfg.lambda0 else torch.zeros((), device=deca.device)
        logs = {"deca": deca.detach(), "agreement": agree.detach().mean()}
        return deca + reg + l2_term(model, batch, ctx, out), logs

    def rows_loss(self, model, batch: UserBatch, ctx):
        r"""The authors' CDAE step (``train.py:260-297``) on a batch of users' rows:
        :math:`\operatorname{mean}_{+}\mathcal L + \operatorname{mean}_{-}\mathcal L + \lambda_0\sum_\theta\|\theta_f\|_2`,
        the negatives pooled over the batch and not weighted by their ratio, the norm not squared."""
        cfg = self.config
        logits, _, rows = cell_logits(model, batch)
        items, num_pos = torch.cat([batch.pos_items, batch.neg_items]), batch.pos_rows.numel()
        f, g = torch.sigmoid(logits), self.prior_cells(batch, rows, items)
        pos, neg, agree = self.terms(f[:num_pos], f[num_pos:], g[:num_pos], g[num_pos:],
                                     (batch.pos_users, batch.pos_items), (batch.neg_users, batch.neg_items))
        deca = pos.mean() + neg.mean()
        reg = cfg.lambda0 * parameter_norm(model) if cfg.lambda0 else torch.zeros((), device=deca.device)
        logs = {"deca": deca.detach(), "agreement": agree.detach().mean()}
        return deca + reg + l2_term(model, batch, ctx), logs

    def after_backward(self, model, batch, ctx):
        """The noise model idle in this sub-task (:math:`h_2` in DP, :math:`h_1` in DN) is not stepped:
        its gradients are cleared to None, which Adam skips (``train.py:141-148``)."""
        idle = {"DP": self.h2, "DN": self.h1}.get(self.mode)
        if idle is not None:
            for p in idle.parameters():
                p.grad = None
        return {}

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        self._require_setup()
        f = torch.sigmoid(model(users, pos_items))
        return posterior_clean(f, self.h1(users, pos_items), self.h2(users, pos_items)).view(users.shape)

    def epoch_stats(self):
        return self.stats.read("weight")


def posterior_clean(f: Tensor, h1: Tensor, h2: Tensor) -> Tensor:
    r""":math:`P(r=1\mid\tilde y=1) = f h_2 / (f h_2 + (1-f) h_1)`, detached."""
    f, h1, h2 = f.detach(), h1.detach(), h2.detach()
    return f * h2 / (f * h2 + (1 - f) * h1).clamp(min=1e-12)


@dataclass
class DeCAPConfig(DeCAConfig):
    """Options of :class:`DeCAP`: those of DeCA plus the pre-training of the frozen prior."""

    pretrain_epochs: int = 20
    """Epochs of plain BCE pre-training of :math:`g` (the authors: the main run's epochs)."""
    pretrain_batch_size: int = 2048
    """Positives (users, on the CDAE path) per pre-training batch (the authors' batch size)."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, pretrain_epochs=">= 0", pretrain_batch_size=">= 1")


@METHODS.register("deca-p")
class DeCAP(DeCA):
    r"""DeCA(p): the prior :math:`g` is a copy of the recommender with its initial weights, pre-trained
    with BCE and frozen (see the module docstring).

    Args:
        config (DeCAPConfig, optional): DeCA's options plus ``pretrain_epochs`` (default: 20) and
            ``pretrain_batch_size`` (default: 2048).
    """

    Config = DeCAPConfig
    prior_is_trained = False

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.register_buffer("pretrained", torch.zeros((), dtype=torch.bool))
        self.data = None

    def build_prior(self, model, data, num_items) -> nn.Module:
        """A copy of the recommender, same initial weights (``train.py:55-56``): a new backbone of the same
        class and config (so graph operators are rebuilt, not deep-copied) loaded with its state."""
        self.data = data
        prior = type(model)(data, model.config)
        prior.load_state_dict(model.state_dict())
        return prior

    def train(self, mode: bool = True):
        """The frozen prior stays in eval mode (no dropout in :math:`g`)."""
        super().train(mode)
        if self.prior is not None:
            self.prior.eval()
        return self

    def prior_probabilities(self, users, pos_items, neg_items):
        if not bool(self.pretrained):
            self.pretrain()
        with torch.no_grad():
            out = self.prior.triplet(users, pos_items, neg_items)
        return torch.sigmoid(out.pos), torch.sigmoid(out.neg)

    def prior_cells(self, batch, rows, items):
        """The frozen copy on the batch's rows, read as the authors do (``train.py:263-264``): in training
        mode, i.e. with its own corruption of the rows (CDAE's dropout)."""
        if not bool(self.pretrained):
            self.pretrain()
        self.prior.train()
        try:
            with torch.no_grad():
                return torch.sigmoid(self.prior.cell_scores(batch.users, rows, items))
        finally:
            self.prior.eval()

    def pretrain_sampler(self):
        """The pre-training batches: the main run's kind (``batches``), own seed."""
        cfg, seed = self.config, self.seed + 7919
        if self.batches == "users":
            return UserBatchSampler(self.data, batch_size=cfg.pretrain_batch_size, negatives="pooled",
                                    num_negatives=self.num_negatives, seed=seed)
        return TripletSampler(self.data, batch_size=cfg.pretrain_batch_size, seed=seed)

    def pretrain_loss(self, prior, batch) -> Tensor:
        r"""Plain BCE on :math:`g`. Triplets: :math:`\operatorname{mean}\ell(\text{pos},1) + \operatorname{mean}\ell(\text{neg},0)
        + \lambda_0\tfrac12\sum\|\theta_g\|^2/|U|` (``train.py:181-190``); users' rows: the SUM of the cells'
        BCE + :math:`\lambda_0\sum\|\theta_g\|_2` (``train.py:240-259``)."""
        lambda0 = self.config.lambda0
        if isinstance(batch, UserBatch):
            logits, labels, _ = cell_logits(prior, batch)
            loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
            return loss + lambda0 * parameter_norm(prior) if lambda0 else loss
        out = prior.triplet(batch.users, batch.pos_items, batch.neg_items)
        loss = F.binary_cross_entropy_with_logits(out.pos, torch.ones_like(out.pos)) \
            + F.binary_cross_entropy_with_logits(out.neg, torch.zeros_like(out.neg))
        return loss + lambda0 * parameter_l2(prior, self.num_users) if lambda0 else loss

    def pretrain(self) -> None:
        """``pretrain_epochs`` of :meth:`pretrain_loss` on :math:`g` with its own Adam, then freeze it."""
        cfg, prior = self.config, self.prior
        device = next(prior.parameters()).device
        optimizer = torch.optim.Adam(prior.parameters(), lr=cfg.aux_lr or self.lr)
        sampler = self.pretrain_sampler()
        prior.train()
        for _ in range(cfg.pretrain_epochs):
            for batch in sampler:
                loss = self.pretrain_loss(prior, batch.to(device))
                optimizer.zero_grad(set_to_none=False)
                loss.backward()
                optimizer.step()
        prior.eval()
        for p in prior.parameters():
            p.grad = None
        prior.requires_grad_(False)
        self.pretrained.fill_(True)
