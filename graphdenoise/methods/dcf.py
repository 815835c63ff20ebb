r"""DCF, the Double Correction Framework of He, Wang, Yang, Sun, Wu, Bai, Gong, Hong and Zhang, "Double
Correction Framework for Denoising Recommendation", KDD 2024, https://arxiv.org/abs/2405.11272.

T-CE drops the largest-loss positives of each batch; DCF judges a positive by its loss OVER TIME,
damped against outliers, and lower-bounds it with a concentration inequality so that hard but
uncertain samples are kept (sample-dropping correction); a share of the highest-bound samples is
"relabelled" instead of dropped (progressive label correction). Per positive :math:`(u,i)` in epoch
:math:`e` (:math:`s = e + 1`), with :math:`\ell` its BCE loss:

.. math::
    \psi(x) = \ln\!\bigl(1 + x + x^2/2\bigr) \qquad \text{(damping)}

.. math::
    \mu_{ui} \leftarrow \frac{s\,\mu_{ui} + \psi(\ell_{ui})}{s + 1} \qquad \text{(time-averaged loss, Eq. 2)}

.. math::
    \underline{\ell}_{ui} = \Bigl[\mu_{ui} - \frac{\lambda_e\,(s + \lambda_e \ln(2s)/s^2)}{(n_{ui} + 1) - \lambda_e}\Bigr]_+
    \qquad \text{(lower confidence bound, Eq. 4)}

with :math:`n_{ui}` the times the sample was not in the relabel band, :math:`\lambda_e` = ``co_lambda``
decaying linearly to 0 over the run's epochs (or ``lambda_epochs``), and both :math:`\mu, n` reset every
``time_step`` epochs. The batch's :math:`N` samples (positives and negatives, whose bound is 0) are sorted
by :math:`\underline\ell`; with the T-CE rate :math:`\varepsilon(t)` (iterations) and relabel ratio
:math:`r`, the lowest :math:`\lfloor(1-\varepsilon)N\rfloor` are kept, those above
:math:`\lfloor(1 - r\varepsilon)N\rfloor` are relabelled, the band between is dropped, and the loss is the
mean BCE over kept and relabelled samples. Plus the trainer's L2 term (the authors use none).

Relabelling (``relabel``): the authors' code re-reads the ORIGINAL labels (``loss.py:38``: the
training matrix is returned unchanged), so the relabel band is merely not dropped: ``'keep'``
(default, the code). ``'flip'`` trains it with label 0 in that step, our reading of the paper's
progressive label correction (the paper's exact correction rule could not be checked).

Defaults: the authors' argparse (``main.py:32-101``): ``drop_rate 0.2``, ``num_gradual 30000``,
``exponent 1``, ``time_step 3``, ``co_lambda 1e-4``, ``relabel_ratio 0.05``; :math:`\lambda` decays over the
run's ``--epochs`` (``main.py:56-59,171``; the study: ``code/main.py:234``), so ``lambda_epochs=None``
(default) takes the trainer's epoch budget. The RecSys'25 study (``bachml/EvalDenoisingRec``,
``code/experiments_config/ml100k/*-DCF.yaml``) uses ``time_step 1``, ``num_gradual 3500``, and
``co_lambda 0``, ``relabel_ratio 0.05`` (GMF/NeuMF) or ``co_lambda 1e-4``, ``relabel_ratio 0`` (LightGCN).

Reference: ``bruno686/DCF`` @ 873cee3, ``loss.py:7-41``, ``main.py:171,238-284`` (identical to
``bachml/EvalDenoisingRec`` @ a36a902 ``code/loss.py:74-109``, ``code/main.py:233-234,253-287,355-359``).
Deviations:

1. The state :math:`(\mu, n)` is kept PER TRAINING EDGE (``TripletBatch.edge_ids``); the code slices
   it by position in the shuffled loader (``main.py:253-254,264``), so position :math:`k` holds a
   different sample each epoch and the "loss over time" is not a sample's. Negatives, re-drawn every
   epoch, have no history: :math:`\mu = 0`, key 0 (the code gives them the previous occupant's).
2. :math:`\mu, n` are updated in place as each edge is visited (each edge once per epoch), which
   equals the code's end-of-epoch swap (``main.py:281-284``).
3. Not a deviation: :math:`\lambda_e = \lambda (1 - e/(E-1))` (``linspace(1, 0, E)[e]``, ``main.py:171``)
   with :math:`E` the trainer's epoch budget (:attr:`SetupContext.epochs`) or ``lambda_epochs``. A run
   resumed with a LARGER budget keeps the :math:`E` it started with (a buffer of the checkpoint), so
   :math:`\lambda = 0` in the added epochs (the code's schedule has no epochs past :math:`E`).
4. The drop-rate ramp spans ``num_gradual`` steps (:class:`~graphdenoise.methods.reweighting.LinearDropRate`),
   the code ``num_gradual - 1``; ties of the sort key are broken by position (stable sort), the code's
   ``np.argsort`` is not stable.
5. Model selection is the trainer's validation ranking metric, not the validation BCE (``main.py:188-210``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..datasets.graph import num_users_items, train_edges
from .base import METHODS, Method, MethodConfig, l2_term
from ..config import check_fields
from .losses import bce_terms
from .memory import EdgeLookup, EpochClock
from .reweighting import LinearDropRate, WeightStats, masked_mean, num_kept, pointwise_logits


def damp(loss: Tensor) -> Tensor:
    r"""The damping function :math:`\psi(x) = \ln(1 + x + x^2/2)` (``loss.py:7-9``)."""
    return torch.log1p(loss + loss * loss / 2)


def time_averaged_loss(previous: Tensor, damped: Tensor, epoch: int) -> Tensor:
    r"""Eq. 2: :math:`(s\,\mu + \psi(\ell))/(s+1)` with :math:`s = e + 1` (``loss.py:15,21``)."""
    s = epoch + 1.0
    return (previous * s + damped) / (s + 1.0)


def confidence_bound(count: Tensor, epoch: int, lam: float) -> Tensor:
    r"""Eq. 4's radius :math:`\lambda(s + \lambda\ln(2s)/s^2)/((n+1) - \lambda)` (``loss.py:22``)."""
    s = epoch + 1.0
    return lam * (s + lam * math.log(2.0 * s) / (s * s)) / ((count + 1.0) - lam)


def lower_bound(previous: Tensor, count: Tensor, pos_terms: Tensor, epoch: int, lam: float) -> Tuple[Tensor, Tensor]:
    r"""``(bound, mu)``: Eq. 4's :math:`[\mu - \text{radius}]_+` and Eq. 2's new mean of the positives
    (``loss.py:17-24``), from their history ``(previous, count)`` and current BCE ``pos_terms``."""
    mu = time_averaged_loss(previous, damp(pos_terms.detach()), epoch)
    return torch.relu(mu - confidence_bound(count, epoch, lam)), mu


def lambda_schedule(co_lambda: float, epochs: int, epoch: int) -> float:
    r""":math:`\lambda_e`, ``co_lambda * np.linspace(1, 0, epochs)[epoch]`` (``main.py:171``), 0 from
    ``epoch = epochs`` on."""
    if epoch >= epochs:
        return 0.0
    if epochs == 1:
        return co_lambda
    return co_lambda * (1.0 - epoch / (epochs - 1))


def band_masks(key: Tensor, drop_rate: float, relabel_ratio: float) -> Tuple[Tensor, Tensor]:
    r"""``(kept, relabelled)`` boolean masks over the batch's samples sorted by ``key`` (ascending):
    ranks below :math:`\lfloor(1-\varepsilon)N\rfloor` are kept, ranks from
    :math:`\lfloor((1-r) + r(1-\varepsilon))N\rfloor` on are relabelled (``loss.py:27-36``)."""
    n = key.numel()
    order = torch.sort(key.detach(), stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n, device=key.device)
    remember = 1.0 - drop_rate
    high = int(((1.0 - relabel_ratio) + relabel_ratio * remember) * n)
    relabelled = rank >= high
    return (rank < num_kept(n, drop_rate)) | relabelled, relabelled


@dataclass
class DCFConfig(MethodConfig):
    """Options of :class:`DCF` (the authors' argparse defaults)."""

    drop_rate: float = 0.2
    """:math:`\\varepsilon_{\\max} \\in [0, 1)`, the final drop rate (T-CE's schedule)."""
    num_gradual: int = 30000
    """Iterations over which the drop rate ramps up (the study uses 3500)."""
    exponent: float = 1.0
    """Exponent of the drop-rate schedule."""
    co_lambda: float = 1e-4
    """:math:`\\lambda` of the confidence bound (the authors' "sigma^2"); 0 ranks by the mean loss."""
    lambda_epochs: Optional[int] = None
    """Epochs over which :math:`\\lambda` decays linearly to 0; :obj:`None`: the trainer's epoch budget,
    as the authors (``main.py:171``)."""
    time_step: int = 3
    """The loss history :math:`(\\mu, n)` is reset every this many epochs (the study uses 1)."""
    relabel_ratio: float = 0.05
    """:math:`r \\in [0, 1]`: share of the dropped band, the highest bounds, relabelled instead."""
    relabel: str = "keep"
    """``'keep'`` (the code: original label kept) or ``'flip'`` (label 0 in that step)."""

    def __post_init__(self):
        check_fields(self, drop_rate="[0, 1)", num_gradual=">= 0", exponent="> 0", co_lambda=">= 0",
                     lambda_epochs=">= 1", time_step=">= 1", relabel_ratio="[0, 1]", relabel=("keep", "flip"))


@METHODS.register("dcf")
class DCF(Method):
    r"""DCF (see the module docstring).

    Args:
        config (DCFConfig, optional): ``drop_rate`` (default: 0.2), ``num_gradual`` (default: 30000),
            ``exponent`` (default: 1), ``co_lambda`` (default: 1e-4), ``lambda_epochs``
            (default: :obj:`None`, the trainer's epochs),
            ``time_step`` (default: 3), ``relabel_ratio`` (default: 0.05), ``relabel``
            (default: ``'keep'``).

    Shapes:
        - :meth:`weights`: ``[B]``, 1 for a positive the next step would train on, 0 for a dropped one.
    """

    Config = DCFConfig
    pairwise = False

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.schedule = LinearDropRate(self.config.drop_rate, self.config.num_gradual, self.config.exponent)
        self.clock = EpochClock()
        self.step = 0
        self.lookup: Optional[EdgeLookup] = None
        self.span = 0
        self.kept_stats, self.relabel_stats = WeightStats(), WeightStats()

    def setup(self, model, data, ctx):
        edges = train_edges(data)
        device = next(model.parameters()).device
        self.lookup = EdgeLookup(edges, num_users_items(data)[1]).to(device)
        self.register_buffer("mean_loss", torch.zeros(edges.size(1), device=device))
        self.register_buffer("count", torch.ones(edges.size(1), device=device))
        # the lambda schedule's span, fixed at the run's start (0: unknown, e.g. restored for inference,
        # until the saved state is loaded)
        self.span = self.config.lambda_epochs or ctx.epochs or 0  # a Python copy: no device sync per step
        self.register_buffer("lambda_span", torch.tensor(self.span, device=device))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a state saved before the span was a buffer keeps the span this setup gave (lambda_epochs or
        # the budget; 0 = unknown, which lambda_at reports)
        if hasattr(self, "lambda_span") and prefix + "lambda_span" not in state_dict:
            state_dict[prefix + "lambda_span"] = self.lambda_span.clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if hasattr(self, "lambda_span"):
            self.span = int(self.lambda_span)

    def lambda_at(self, epoch: int) -> float:
        """:math:`\\lambda_e` of the run (:func:`lambda_schedule` over ``lambda_epochs`` or the trainer's
        epochs)."""
        span = self.span
        if span == 0 and self.config.co_lambda > 0:
            raise RuntimeError("DCF's lambda decays over the run's epochs, which this setup did not give "
                               "(SetupContext.epochs is None): set DCF's lambda_epochs")
        return lambda_schedule(self.config.co_lambda, span, epoch)

    def extra_state(self) -> dict:
        return {"epoch": self.clock.epoch, "step": self.step}

    def load_extra_state(self, state: dict) -> None:
        self.clock.epoch, self.step = state.get("epoch"), state.get("step", 0)

    def _require_setup(self):
        if self.lookup is None:
            raise RuntimeError("DCF needs setup(model, data, ctx) before use (the trainer calls it)")

    def history(self, edge_ids: Tensor, epoch: int) -> Tuple[Tensor, Tensor]:
        """:math:`(\\mu, n)` of the edges as read in ``epoch`` (fresh at a ``time_step`` boundary)."""
        if epoch % self.config.time_step == 0 and self.clock.epoch != epoch:
            return torch.zeros_like(edge_ids, dtype=torch.float), torch.ones_like(edge_ids, dtype=torch.float)
        return self.mean_loss[edge_ids], self.count[edge_ids]

    def keys(self, terms: Tensor, num_pos: int, edge_ids: Tensor, epoch: int):
        """``(key [N], mu [B])``: the lower bounds of the batch's samples (negatives 0) and the new means."""
        previous, count = self.history(edge_ids, epoch)
        bound, mu = lower_bound(previous, count, terms[:num_pos], epoch, self.lambda_at(epoch))
        return torch.cat([bound, torch.zeros_like(terms[num_pos:])]), mu

    def loss(self, model, batch, ctx):
        self._require_setup()
        cfg, epoch = self.config, ctx.epoch
        if self.clock.epoch != epoch and epoch % cfg.time_step == 0:
            self.mean_loss.zero_()
            self.count.fill_(1.0)
        self.clock.tick(epoch)
        self.step = ctx.step
        rate = self.schedule(ctx.step)
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        logits, labels = pointwise_logits(out.pos, out.neg)
        terms = bce_terms(logits, labels)
        num_pos = out.pos.numel()
        key, mu = self.keys(terms, num_pos, batch.edge_ids, epoch)
        kept, relabelled = band_masks(key, rate, cfg.relabel_ratio)
        if cfg.relabel == "flip" and relabelled.any():
            terms = bce_terms(logits, labels.masked_fill(relabelled, 0.0))
        loss = masked_mean(terms, kept)
        self.mean_loss[batch.edge_ids] = mu
        self.count[batch.edge_ids] += (~relabelled[:num_pos]).float()
        self.kept_stats.update(kept[:num_pos].float())
        self.relabel_stats.update(relabelled[:num_pos].float())
        logs = {"dcf": loss.detach(), "drop_rate": torch.tensor(rate)}
        return loss + l2_term(model, batch, ctx, out), logs

    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        """Keep (1) or drop (0) of each positive, were the triplets the next training batch."""
        self._require_setup()
        out = model.triplet(users, pos_items, neg_items)
        logits, labels = pointwise_logits(out.pos, out.neg)
        edge_ids, found = self.lookup(users.reshape(-1), pos_items.reshape(-1))
        epoch = 0 if self.clock.epoch is None else self.clock.epoch + 1
        previous, count = self.history(edge_ids, epoch)
        previous, count = previous * found, torch.where(found, count, torch.ones_like(count))
        terms = bce_terms(logits, labels)
        bound, _ = lower_bound(previous, count, terms[: out.pos.numel()], epoch, self.lambda_at(epoch))
        key = torch.cat([bound, torch.zeros_like(terms[out.pos.numel():])])
        kept, _ = band_masks(key, self.schedule(self.step + 1), self.config.relabel_ratio)
        return kept[: out.pos.numel()].float().view(users.shape)

    def epoch_stats(self):
        stats = self.kept_stats.read("kept")
        relabel = self.relabel_stats.read("relabelled")
        out = {}
        if stats:
            out["dropped_positives"] = 1.0 - stats["kept_mean"]
        if relabel:
            out["relabelled_positives"] = relabel["relabelled_mean"]
        return out
