r"""BOD, from Wang, Xu, Chen, Zhang, Ma, Yin and Zhang (H. Yin group), "Efficient Bi-Level Optimization
for Recommendation Denoising", KDD 2023, https://arxiv.org/abs/2210.10321
(https://doi.org/10.1145/3580305.3599324).

Denoising as a bi-level problem. A weight generator :math:`G_\phi` gives every training interaction
:math:`(u, i)` a weight :math:`w_{ui} = G_\phi(e_u, e_i) \in (0, 1)` on the fly (no :math:`|\mathcal R|`
weight table); it is an MLP over the concatenated user and item representations,
:math:`\sigma(W_3 W_2 \operatorname{ReLU}(W_1 [e_u \| e_i]))` with widths :math:`2d \to 64 \to 64 \to 1`,
as in the authors' code.

**Inner level** (:meth:`BOD.loss`, every batch): the recommender :math:`\theta` minimises the weighted
DirectAU-style objective, weights detached,

.. math::
    \mathcal L_{\mathrm{in}} = \gamma_b \frac1B \sum_{(u,i,j)} w_{ui}\,\ell_{\mathrm{BPR}}(u,i,j)
    + \gamma_a \frac1B \sum_{(u,i)} w_{ui} \|\tilde e_u - \tilde e_i\|^2
    + \gamma_u \tfrac14\bigl(2\,\mathcal U(E_u) + \mathcal U(E_i) + \mathcal U(E_j)\bigr) + \text{L2},
    \qquad \mathcal U(X) = \ln \frac{1}{|X|^2}\!\sum_{a,b} e^{-t\|\tilde x_a - \tilde x_b\|^2}

(:math:`\tilde e` the L2-normalised representation, :math:`t = 2`; :math:`\mathcal U` over the pairs of
the first ``uniformity_rows`` rows of the batch).

**The loss is negative, by design.** :math:`\mathcal U` is the log of a mean of terms in
:math:`(0, 1]`, so it is :math:`\le 0` (as low as :math:`-t \cdot 4 = -8` for perfectly spread unit
vectors); the DirectAU alignment and uniformity terms trade off, and with the default weights the
total (BPR + alignment + uniformity) usually falls below zero after a few epochs. Lower is still
better; the per-epoch history records the ``bpr``, ``alignment`` and ``uniformity`` parts.

**Outer level** (:meth:`BOD.outer_losses`): instead of unrolling inner training, :math:`\phi` is updated by
one-step gradient matching between the weighted-BPR gradient and the weighted-alignment gradient
with respect to the recommender's parameters (both with ``create_graph=True``, so :math:`\phi`
receives a gradient through the weights):

.. math::
    \mathcal L_{\mathrm{out}}(\phi) = \sum_{\theta_p} \sum_{c} \Bigl(1 - \cos\bigl(
    \nabla_{\theta_p} \mathcal L_{\mathrm{wBPR}}[:, c],\ \nabla_{\theta_p} \mathcal L_{\mathrm{wAlign}}[:, c]\bigr)\Bigr)
    + \frac{\lambda_\phi}{2} \|\phi\|^2

over every trainable parameter tensor :math:`\theta_p` of two or more dimensions (for the embedding
tables, :math:`c` runs over the latent dimensions, each cosine over all rows; rows the batch does not
touch are zero in both gradients and change nothing), one Adam step on :math:`\phi` only.

Schedule: ``outer_loop`` outer iterations per epoch (default 1, the authors'), each on the trainer's
batch at the END of one of ``outer_loop`` evenly spaced stretches of the epoch (with 1: on the epoch's
last batch, just before its inner step; the authors run it after the whole inner pass); or, with
``outer_every``, one every that many steps.

Defaults (the authors' ``conf/BOD.conf``, ``GM_AU``): ``generator_lr 1e-3``, ``generator_reg 1e-3``,
``generator_hidden 64``, ``weight_bpr 1``, ``weight_alignment 1``, ``weight_uniformity 0.5``,
``outer_loop 1``.

Deviations from the authors' code (``CoderWZW/BOD`` @ bab641b, ``model/graph/BOD.py``), the paper's
intent implemented instead:

1. The outer level weighs the real pair, :math:`G(e_u, e_i)`; the code computes :math:`G(e_u, e_u)`.
2. ``generator_reg`` is an L2 penalty on the generator's parameters, which reaches :math:`\phi`; the
   code penalises the embedding norms, which do not depend on :math:`\phi` (no effect).
3. ``weight_on='loss'`` (default) multiplies each interaction's loss terms by :math:`w_{ui}`
   (negatives unweighted: the weight belongs to the interaction); the code weights the SCORES,
   :math:`-\ln\sigma(w_{ui}\hat y_{ui} - w_{uj}\hat y_{uj})`, available as ``weight_on='score'``.
4. Model selection on validation only (the trainer); the code selects on the test set.
5. The outer iteration uses the trainer's batch (a uniform batch without replacement) rather than
   a separately drawn one with replacement.
6. The uniformity term uses the first ``uniformity_rows`` (default 512, the authors' batch size) rows
   of the batch, so its cost does not grow quadratically with our larger batches.
7. :math:`-\ln\sigma(x)` is computed as ``softplus(-x)`` (the code: ``-log(1e-7 + sigmoid(x))``).
8. The generator reads DETACHED representations: the weights are functions of :math:`\phi` only, in
   both levels.
9. Device-agnostic, no anomaly detection; LightGCN depth comes from the backbone's config (the code
   hard-codes 2 layers); the trainer's L2 term applies (set ``l2=0`` for the code's objective).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sampling.aobpr import model_representations
from ..search_space import Float, SearchSpace
from .base import METHODS, Method, MethodConfig, l2_term
from .losses import bpr_terms
from .reweighting import WeightStats
from ..config import check_fields


class WeightGenerator(nn.Module):
    r"""BOD's weight generator :math:`\sigma(W_3 W_2 \operatorname{ReLU}(W_1 [e_u \| e_x]))`.

    Args:
        in_channels (int): Size of the concatenated user and item representations.
        hidden_channels (int): Width of the two hidden layers. (default: :obj:`64`)

    Shapes:
        - **input:** user ``[B, d_u]``, item ``[B, d_i]`` or ``[B, L, d_i]``
        - **output:** ``[B]`` or ``[B, L]``, in ``(0, 1)``
    """

    def __init__(self, in_channels: int, hidden_channels: int = 64):
        super().__init__()
        self.lin1 = nn.Linear(in_channels, hidden_channels)
        self.lin2 = nn.Linear(hidden_channels, hidden_channels)
        self.lin3 = nn.Linear(hidden_channels, 1)

    def reset_parameters(self):
        for lin in (self.lin1, self.lin2, self.lin3):
            lin.reset_parameters()

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        if item.dim() == user.dim() + 1:
            user = user.unsqueeze(-2).expand(*item.shape[:-1], user.size(-1))
        h = self.lin2(F.relu(self.lin1(torch.cat([user, item], dim=-1))))
        return torch.sigmoid(self.lin3(h)).squeeze(-1)


def alignment_terms(user: Tensor, item: Tensor) -> Tensor:
    r"""DirectAU alignment per pair, :math:`\|\tilde e_u - \tilde e_i\|^2` (normalised rows)."""
    return (F.normalize(user, dim=-1) - F.normalize(item, dim=-1)).pow(2).sum(-1)


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""DirectAU uniformity :math:`\ln \operatorname{mean}_{a<b} e^{-t\|\tilde x_a - \tilde x_b\|^2}`."""
    if x.size(0) < 2:
        return x.sum() * 0.0
    return torch.pdist(F.normalize(x, dim=-1), p=2).pow(2).mul(-t).exp().mean().log()


def weighted_bod_bpr(pos: Tensor, neg: Tensor, w_pos: Tensor, w_neg: Optional[Tensor], weight_on: str) -> Tensor:
    r"""BOD's weighted BPR: :math:`\frac1n\sum w_{ui}\ell_{\mathrm{BPR}}` (``'loss'``) or
    :math:`\frac1n\sum -\ln\sigma(w_{ui}\hat y_{ui} - w_{uj}\hat y_{uj})` (``'score'``, the code's)."""
    if neg.dim() == pos.dim() + 1:
        pos, w_pos = pos.unsqueeze(-1), w_pos.unsqueeze(-1)
    if weight_on == "loss":
        return (w_pos * bpr_terms(pos, neg)).mean()
    return F.softplus(w_neg * neg - w_pos * pos).mean()


def gradient_matching_distance(grads_a: Sequence[Optional[Tensor]], grads_b: Sequence[Optional[Tensor]]) -> Tensor:
    r""":math:`\sum_p \sum_c (1 - \cos(a_p[:, c], b_p[:, c]))` over tensors of two or more dimensions
    (flattened to ``[shape[0], -1]``; the cosine runs over the first dimension, i.e. over rows, per
    column, as the authors' transposed row-wise cosine); 1-D tensors and missing gradients count 0."""
    total = None
    for a, b in zip(grads_a, grads_b):
        if a is None or b is None or a.dim() < 2:
            continue
        a, b = a.reshape(a.size(0), -1), b.reshape(b.size(0), -1)
        term = (1.0 - F.cosine_similarity(a, b, dim=0)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("no parameter of two or more dimensions received a gradient to match")
    return total


@dataclass
class BODConfig(MethodConfig):
    """Options of :class:`BOD` (the authors' ``GM_AU`` defaults)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {
        "generator_lr": Float(1e-4, 1e-2, log=True), "generator_reg": Float(1e-5, 1e-1, log=True),
        "weight_uniformity": Float(0.1, 2.0, log=True)}

    generator_lr: float = 1e-3
    """Adam learning rate of the weight generator."""
    generator_reg: float = 1e-3
    """L2 penalty :math:`\\lambda_\\phi` on the generator's parameters in the outer loss."""
    generator_hidden: int = 64
    """Width of the generator's hidden layers."""
    weight_bpr: float = 1.0
    """:math:`\\gamma_b`, weight of the weighted BPR term."""
    weight_alignment: float = 1.0
    """:math:`\\gamma_a`, weight of the weighted alignment term."""
    weight_uniformity: float = 0.5
    """:math:`\\gamma_u`, weight of the uniformity term."""
    outer_loop: int = 1
    """Outer (generator) iterations per epoch, at the end of evenly spaced stretches of it."""
    outer_every: Optional[int] = None
    """If set, one outer iteration every this many steps instead of ``outer_loop`` per epoch."""
    weight_on: str = "loss"
    """``'loss'`` (a weight per interaction on its loss terms) or ``'score'`` (the authors' code)."""
    uniformity_rows: Optional[int] = 512
    """Rows of the batch in the uniformity term (None: all; its cost is quadratic)."""
    uniformity_t: float = 2.0
    """Temperature :math:`t` of the uniformity kernel (DirectAU's)."""

    def __post_init__(self):
        check_fields(self, generator_lr="> 0", generator_reg=">= 0", generator_hidden=">= 1",
                     weight_bpr=">= 0", weight_alignment=">= 0", weight_uniformity=">= 0",
                     outer_loop=">= 0", outer_every=">= 1", uniformity_rows=">= 2",
                     uniformity_t="> 0", weight_on=("loss", "score"))


@METHODS.register("bod")
class BOD(Method):
    r"""BOD: a weight generator trained by one-step gradient matching (see the module docstring).

    The generator and its Adam optimiser are built in :meth:`setup` (their sizes depend on the
    backbone's representations); the generator's parameters are in :meth:`state_dict` and the
    optimiser is declared in :meth:`outer_optimizers`: the trainer steps it after each outer loss
    and checkpoints it, so a resumed run continues exactly.

    Args:
        config (BODConfig, optional): ``generator_lr`` (default: 1e-3), ``generator_reg``
            (default: 1e-3), ``generator_hidden`` (default: 64), ``weight_bpr`` (default: 1),
            ``weight_alignment`` (default: 1), ``weight_uniformity`` (default: 0.5), ``outer_loop``
            (default: 1), ``outer_every`` (default: :obj:`None`), ``weight_on`` (default: ``'loss'``),
            ``uniformity_rows`` (default: 512), ``uniformity_t`` (default: 2).

    Shapes:
        - :meth:`weights`: ``[B]``, the interactions' :math:`w_{ui}`.
    """

    Config = BODConfig
    #: Shown once by the trainer's progress display, next to the first (negative) loss.
    loss_note = ("bod's loss is negative by design: its DirectAU uniformity term is the log of a mean of "
                 "values in (0, 1], so <= 0 (history: bpr, alignment, uniformity parts)")

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.weight_net: Optional[WeightGenerator] = None
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.stats, self.neg_stats, self.matching = WeightStats(), WeightStats(), WeightStats()

    # ------------------------------------------------------------------ setup and state
    def setup(self, model, data, ctx):
        probe = torch.zeros(1, dtype=torch.long)
        user_rep, item_rep = model_representations(model, probe, probe)
        if user_rep.size(-1) != item_rep.size(-1):
            raise ValueError(f"BOD's alignment needs user and item representations of one size, got "
                             f"{user_rep.size(-1)} and {item_rep.size(-1)}")
        param = next(model.parameters())
        self.weight_net = WeightGenerator(user_rep.size(-1) + item_rep.size(-1),
                                         self.config.generator_hidden).to(param.device)
        self.optimizer = torch.optim.Adam(self.weight_net.parameters(), lr=self.config.generator_lr)

    def outer_optimizers(self):
        return {} if self.optimizer is None else {"generator_optimizer": self.optimizer}

    def _require_setup(self) -> WeightGenerator:
        if self.weight_net is None:
            raise RuntimeError("BOD needs setup(model, data, ctx) before use (the trainer calls it)")
        return self.weight_net

    # ------------------------------------------------------------------ inner level
    def loss(self, model, batch, ctx):
        cfg, weight_net = self.config, self._require_setup()
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        with torch.no_grad():
            w_pos = weight_net(out.user.detach(), out.pos_item.detach())
            w_neg = weight_net(out.user.detach(), out.neg_item.detach()) if cfg.weight_on == "score" else None
        bpr = weighted_bod_bpr(out.pos, out.neg, w_pos, w_neg, cfg.weight_on)
        align = (w_pos * alignment_terms(out.user, out.pos_item)).mean()
        k = cfg.uniformity_rows
        users, pos_items = out.user[:k], out.pos_item[:k]
        neg_items = out.neg_item.reshape(-1, out.neg_item.size(-1))[:k]
        t = cfg.uniformity_t
        unif = (2 * uniformity(users, t) + uniformity(pos_items, t) + uniformity(neg_items, t)) / 4
        loss = cfg.weight_bpr * bpr + cfg.weight_alignment * align + cfg.weight_uniformity * unif
        self.stats.update(w_pos)
        if w_neg is not None:
            self.neg_stats.update(w_neg)
        logs = {"bpr": bpr.detach(), "alignment": align.detach(), "uniformity": unif.detach()}
        return loss + l2_term(model, batch, ctx, out), logs

    # ------------------------------------------------------------------ outer level
    def outer_iterations(self, ctx) -> int:
        """How many outer iterations run before the inner step ``ctx.step``."""
        cfg = self.config
        if cfg.outer_every is not None:
            return int((ctx.step + 1) % cfg.outer_every == 0)
        num_batches = max(1, ctx.batches_per_epoch)
        position = ctx.step % num_batches
        return sum(1 for k in range(cfg.outer_loop)
                   if max(0, (k + 1) * num_batches // cfg.outer_loop - 1) == position)

    def matching_loss(self, model, batch) -> Tensor:
        r"""The outer objective on ``batch``: gradient-matching distance plus the generator's L2."""
        cfg, weight_net = self.config, self._require_setup()
        params: List[Tensor] = [p for p in model.parameters() if p.requires_grad]
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        user, pos_item = out.user.detach(), out.pos_item.detach()
        w_pos = weight_net(user, pos_item)
        w_neg = weight_net(user, out.neg_item.detach()) if cfg.weight_on == "score" else None
        real = weighted_bod_bpr(out.pos, out.neg, w_pos, w_neg, cfg.weight_on)
        synthetic = (w_pos * alignment_terms(out.user, out.pos_item)).mean()
        g_real = torch.autograd.grad(real, params, create_graph=True, allow_unused=True)
        g_syn = torch.autograd.grad(synthetic, params, create_graph=True, allow_unused=True)
        distance = gradient_matching_distance(g_real, g_syn)
        reg = 0.5 * cfg.generator_reg * sum(p.pow(2).sum() for p in weight_net.parameters())
        return distance + reg

    def outer_losses(self, model, batch, ctx):
        """:meth:`outer_iterations` gradient-matching losses on ``batch``; the trainer steps the
        generator after each (per-epoch means are in :meth:`epoch_stats`)."""
        for _ in range(self.outer_iterations(ctx)):
            loss = self.matching_loss(model, batch)
            self.matching.update(loss.detach().view(1))
            yield loss

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def weights(self, model, users, pos_items, neg_items):
        weight_net = self._require_setup()
        out = model.triplet(users, pos_items, neg_items)
        return weight_net(out.user, out.pos_item)

    def epoch_stats(self):
        stats = self.stats.read("weight")
        stats.update(self.neg_stats.read("neg_weight"))
        matching = self.matching.read("matching_loss")
        if matching:
            stats["matching_loss"] = matching["matching_loss_mean"]
        return stats
