r"""TIL's bilevel step (Wu et al., CIKM 2022, Section 4.4), in the two recipes TIL offers:

* :class:`PaperRecipe` -- Eq. 12-15 as the paper writes them: detached states, sigmoid weights, the
  mean weighted BPR plus the batch L2 as the inner objective, and the exact hypergradient of the
  outer loss at the look-ahead :math:`\tilde\Theta = \Theta - \alpha g` carried to :math:`\Lambda`
  (:class:`ExactHypergradient`); the recommender's update is the inner gradient alone.
* :class:`AuthorsCodeRecipe` -- the training dynamics of the authors' ``main_MF.py`` /
  ``main_MF_cluster.py`` (see its docstring for every line it follows).

A recipe's :meth:`PaperRecipe.inner` runs in the method's ``loss`` and returns the objective the
trainer back-propagates plus an :class:`InnerStep` record; :meth:`PaperRecipe.outer` runs in
``after_backward`` with the recommender's gradients in ``p.grad``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from ..sampling import TripletBatch
from ..models.base import Recommender, _Rows, accumulate_row_gradients, row_slice_of, rows_at
from ..utils import take_rows
from .base import StepContext, l2_term
from .losses import bpr_terms


class WeightHead(nn.Sequential):
    r"""The importance generator :math:`f(s;\Lambda)`: ``Linear(2d -> hidden) -> ReLU ->
    Linear(hidden -> 1) -> activation``, returning ``[B]`` weights.

    Args:
        in_dim (int): Width of the state (2d).
        hidden (int): Width of the hidden layer.
        activation (str): ``"sigmoid"`` (the paper, Eq. 3) or ``"softplus"`` (the authors' code).
        bias (bool): Bias of the output layer. (default: :obj:`True`)
        xavier (bool): Xavier-uniform weights and zero biases instead of PyTorch's default
            initialisation. (default: :obj:`True`)
    """

    def __init__(self, in_dim: int, hidden: int, activation: str, bias: bool = True, xavier: bool = True):
        super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1, bias=bias))
        self.activation = {"sigmoid": torch.sigmoid, "softplus": F.softplus}[activation]
        if xavier:
            for layer in (self[0], self[2]):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def forward(self, state: Tensor) -> Tensor:
        return self.activation(super().forward(state)).view(-1)


@dataclass
class InnerStep:
    """What the inner step of a batch hands to its outer step (the same batch, checked)."""

    batch: TripletBatch
    weight: Tensor
    """The weights used in the inner loss, differentiable w.r.t. Λ."""
    ego: Optional[Tuple[Tensor, ...]] = None
    """The batch's ego rows when the inner forward looked them up."""
    reps: Optional[Tuple[Tensor, ...]] = None
    """The batch's representation rows ``(u, i, j)`` of the inner forward, detached."""
    grads: Optional[Tuple[Optional[Tensor], ...]] = None
    """The inner gradient with its graph (authors-code recipe)."""


def _normalised(weight: Tensor, normalize: bool) -> Tensor:
    return weight / weight.mean().clamp(min=1e-12) if normalize else weight


class _TripletCall(_Rows):
    """Lets :func:`torch.func.functional_call` run ``model.triplet`` with substituted parameters: its BPR terms."""

    def forward(self, users, pos_items, neg_items):
        out = self.model.triplet(users, pos_items, neg_items)
        return bpr_terms(out.pos, out.neg)


def _rows_are_parameters(model) -> bool:
    """Whether ``model``'s parameters are exactly its two embedding tables, looked up row by row."""
    if not getattr(model, "representations_are_embeddings", False):
        return False
    tables = {id(t) for t in model.embedding_tables()}
    params = list(model.parameters())
    return len(params) == 2 and {id(p) for p in params} == tables and all(p.grad is not None for p in params)


def add_weight_decay(model, decay: float) -> None:
    """Adam's coupled weight decay on the recommender: ``p.grad += decay * p`` (what
    ``torch.optim.Adam(weight_decay=decay)`` does before its moments)."""
    if decay:
        for param in model.parameters():
            if param.grad is not None:
                param.grad.add_(param.detach(), alpha=decay)


def _carrying(value: Tensor, params, grads) -> Tensor:
    """A scalar equal to ``value`` whose gradient w.r.t. ``params`` is ``grads`` (detached): the
    trainer's backward then writes the inner gradient :math:`g` already computed with ``create_graph``
    into ``.grad`` without a second backward through (and without freeing) the graph the outer
    loss still needs."""
    # one read of each table, and a backward of one product g * 1 per table (the product-then-sum
    # form wrote and read a table-sized temporary more, each way)
    carried = [torch.dot(p.reshape(-1), g.detach().reshape(-1)) for p, g in zip(params, grads) if g is not None]
    if not carried:
        return value
    total = torch.stack(carried).sum()
    return value + (total - total.detach())


class PaperRecipe:
    r"""The paper's recipe (Eq. 2-3, 12-15). Per batch, the inner objective
    :math:`\frac1B\sum_k w_k\ell_k + R(\Theta)` with :math:`w = \sigma(f(s))` of the *detached* state
    (data weights for :math:`\Theta`); the trainer's backward gives :math:`g`; then the exact
    hypergradient of :class:`ExactHypergradient` goes to :math:`\Lambda`, and OPT\ :sub:`Θ` applies
    :math:`g` alone."""

    name = "paper"
    activation, output_bias, xavier = "sigmoid", True, True

    def __init__(self):
        self.hypergradient = ExactHypergradient()

    def inner(self, method, model, batch: TripletBatch, ctx: StepContext):
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        terms = bpr_terms(out.pos, out.neg)
        # the look-ahead reuses the representation rows; MF's are its ego rows, which the state reuses
        reps = (out.user.detach(), out.pos_item.detach(), out.neg_item.detach())
        ego = reps if model.representations_are_embeddings else None
        weight = method.weights(model, batch.users, batch.pos_items, batch.neg_items, ego)
        used = _normalised(weight, method.settings.normalize_weights)
        weighted = (used.detach() * terms).mean()
        loss = weighted + l2_term(model, batch, ctx, out)
        method.record_weights(weight.detach())
        return loss, {"weighted_bpr": weighted.detach()}, InnerStep(batch, used, ego, reps)

    def outer(self, method, model, step: InnerStep, ctx: StepContext) -> Dict[str, Tensor]:
        """The look-ahead: Λ's gradient from the hypergradient (the trainer then steps OPT_Λ)."""
        batch = step.batch
        hyper = self.hypergradient(model, batch, method.outer_batch(batch, ctx), method.lookahead_lr(ctx),
                                   ctx.world, step.reps)
        step.weight.backward(hyper)
        return {"hypergradient_norm": hyper.detach().norm()}


class AuthorsCodeRecipe(PaperRecipe):
    r"""The training dynamics of the authors' code (``haolun-wu/TIL``: ``main_MF.py``, ``model/MF.py``;
    TIL-MI: ``main_MF_cluster.py``, ``model/MF_cluster.py``, see
    :class:`~graphdenoise.methods.til_interest.ClusterMeans`), on our data pipeline, sampler and
    evaluator. What it follows, by line of ``main_MF.py`` unless said otherwise:

    * weight head ``Linear(2d -> 64) -> ReLU -> Linear(64 -> 1, bias=False) -> softplus``, PyTorch's
      default initialisation (``model/MF.py:118-130``; the sigmoid is commented out at :127): weights
      are unbounded above;
    * the state ``--state 12`` (default, :42; :196-199): :math:`[(p_u + \eta_u)\odot q_i \,\|\,
      (p_u + \eta_u)\odot q_j]`, with :math:`\eta_u` the mean of the user's training item embeddings
      (``community_ui``, ``model/MF.py:40-51``), **not detached**: the weights' gradient reaches the
      embeddings;
    * inner loss ``sum(bpr * w)`` (summed, :291-293); inner gradient :math:`g` with ``create_graph``
      (:300-301), and ``in_loss.backward(retain_graph=True)`` (:302) leaves :math:`g` in the
      recommender's ``.grad`` (here: the trainer's backward of a scalar carrying :math:`g`; the
      weight head's share of that backward is discarded in their code, :325, and not formed here);
    * look-ahead :math:`\tilde\Theta = \Theta - \alpha g` with :math:`\alpha = 10^{-3}` (:315-317;
      ``lookahead_lr``) on the rows of the batch's users and items only (:305-312; their LightGCN
      script does the same, ``main_Graph_cluster.py:320-321``), through the backbone's own forward
      (propagation included); parameters other than the two ego tables (NeuMF's tower, which their
      code does not have) move entirely;
    * outer loss ``sum`` BPR on the **same batch** at :math:`\tilde\Theta` (:320-323), back-propagated
      through :math:`g` (second order) into the weight head *and* into the recommender:
      ``model.user_embeddings.requires_grad = False`` (:326-327) sets an attribute of the ``Module``
      and freezes nothing, so ``out_loss.backward()`` adds the outer gradient to the inner one
      (:328); the weight head's gradient is only the outer one (``weight_optimizer.zero_grad()``, :325);
    * Adam with coupled weight decay: the recommender's ``wd1 = 1e-2`` (:46, :238;
      ``weight_decay``) instead of a batch L2 (the trainer's ``l2`` is not used), the head's
      ``lr2 = 1e-3`` and ``wd2 = 1e-1`` (:47-48, :239; ``weight_lr``, ``weight_net_decay``); the
      recommender's optimiser steps on inner + outer gradient (:331-332).

    Not reproduced (our protocol stays): their evaluation scores the ``agg_*`` snapshot tables written
    in ``out_forward`` (:97-99, 103-107), masks training items with 0, runs unseeded and selects
    nothing; their batches are drawn with replacement (``helper/sampler.py:18``), ours are the
    trainer's epochs (each training edge once per epoch); their batch size is 1024 (:53: pass
    ``batch_size=1024``). Reproduced as an option: their negatives from a 500-candidate pool per user
    redrawn every 10 epochs (:60-71, 228, 370-373), ``candidate_pool`` (500 by default in this
    recipe, :class:`~graphdenoise.sampling.CandidatePoolNegatives`). Data-parallel training is refused.

    On CPU the head's weights (decay 1e-1) and their Adam moments drift into float denormals over a
    long run (Gowalla, TIL-MI, 90 epochs: 167 of 8,192 first-layer weights), which made each epoch 3x
    slower and growing; :func:`~graphdenoise.utils.flush_denormals` (``--flush-denormal``) avoids it.
    """

    name = "authors-code"
    activation, output_bias, xavier = "softplus", False, False

    def inner(self, method, model, batch: TripletBatch, ctx: StepContext):
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        terms = bpr_terms(out.pos, out.neg)
        if not method.interest.active(ctx.epoch):  # TIL-MI's warm-up: plain summed BPR (main_MF_cluster.py:308-320)
            loss = terms.sum()
            return loss, {"bpr": loss.detach()}, None
        ego = (out.user, out.pos_item, out.neg_item) if model.representations_are_embeddings else None
        weight = method.weight_net(method.interest.state(model, batch.users, batch.pos_items, batch.neg_items,
                                                         ego, detach=False))
        used = _normalised(weight, method.settings.normalize_weights)
        loss = (used * terms).sum()
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        method.record_weights(weight.detach())
        return (_carrying(loss.detach(), params, grads), {"weighted_bpr": loss.detach()},
                InnerStep(batch, used, grads=grads))

    def outer(self, method, model, step: InnerStep, ctx: StepContext) -> Dict[str, Tensor]:
        alpha, batch = method.lookahead_lr(ctx), step.batch
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        rows = _batch_rows(model, batch)
        lookahead = {f"model.{n}": p if g is None else _step(p, g, rows.get(id(p)), alpha)
                     for (n, p), g in zip(named, step.grads)}
        out_loss = functional_call(_TripletCall(model), lookahead, (batch.users, batch.pos_items, batch.neg_items)).sum()
        head = list(method.weight_net.parameters())
        for param in head:  # the head learns from the outer loss only (main_MF.py:325)
            param.grad = None
        out_loss.backward(inputs=[p for _, p in named] + head)
        return {"outer_bpr": out_loss.detach()}


def _step(param: Tensor, grad: Tensor, rows: Optional[Tensor], alpha: float) -> Tensor:
    """``param - alpha * grad * rows`` in one fused (twice-differentiable) ``addcmul`` per table."""
    if rows is None:
        return torch.add(param, grad, alpha=-alpha)
    return torch.addcmul(param, grad, rows, value=-alpha)


def _batch_rows(model, batch: TripletBatch) -> Dict[int, Tensor]:
    """``[rows, 1]`` 0/1 masks of the batch's users and items on the two ego tables, by ``id`` of the
    table: the authors' look-ahead moves only those rows (``main_MF.py:305-317``,
    ``main_Graph_cluster.py:320-321``)."""
    masks: Dict[int, Tensor] = {}
    item_ids = torch.cat([batch.pos_items, batch.neg_items.reshape(-1)])
    for table, ids in zip(model.embedding_tables(), (batch.users, item_ids)):
        base, first = row_slice_of(table)  # LightGCN stacks users and items in one parameter
        mask = masks.get(id(base))
        if mask is None:
            mask = masks[id(base)] = torch.zeros(base.size(0), 1, dtype=table.dtype, device=table.device)
        mask.index_fill_(0, ids + first, 1.0)
    return masks


RECIPES = {recipe.name: recipe for recipe in (PaperRecipe, AuthorsCodeRecipe)}


class ExactHypergradient:
    r"""``∂ J_outer(Θ̃) / ∂ w_k`` for every triplet of the inner batch, exact, without differentiating
    through the backward pass: with :math:`\mathcal J_{inner} = \frac1B\sum_k w_k\ell_k + R(\Theta)`,

    .. math::
        \frac{\partial \mathcal J_{outer}(\tilde\Theta)}{\partial w_k}
        = -\frac{\alpha}{B}\,\big\langle \nabla_\Theta \ell_k(\Theta),\,
          \nabla_\Theta \mathcal J_{outer}(\tilde\Theta)\big\rangle,

    one backward pass at :math:`\tilde\Theta` and one forward-mode (JVP) pass at :math:`\Theta` give all
    :math:`B` inner products.

    Reads the inner gradient :math:`g` from ``p.grad`` (the trainer's backward has just run, and
    averaged it over ranks); in data-parallel training the outer gradient at :math:`\tilde\Theta` is
    averaged over ranks too, so every rank differentiates the same global outer objective.

    Three paths compute the same numbers (tested equal to 1e-6 against a frozen copy of the first
    implementation, ``tests/methods/test_til_hypergradient.py``):

    * :meth:`rows` -- MF-like backbones (representations are rows of the two tables, no other
      parameters): look-ahead, outer gradient and JVP tangent on the touched rows only, the
      representation rows of the inner forward reused;
    * :meth:`linear` -- backbones whose representations are a linear map :math:`M` of their parameters
      (:attr:`~graphdenoise.models.base.Recommender.linear_representations`, LightGCN): by linearity
      the outer batch's representations at :math:`\tilde\Theta` are :math:`M\Theta - \alpha Mg`, so
      with ``outer="same-batch"`` the inner forward's representations ``reps`` are reused and only
      :math:`Mg` is propagated (one row-restricted product); the outer gradient
      :math:`M^\top h` is its vector-Jacobian product, and the JVP tangent of the inner batch one more
      row-restricted product :math:`M(M^\top h)`, the scores' derivatives being taken on the
      representation rows;
    * :meth:`full` -- any other backbone and data-parallel runs, through
      :func:`~torch.func.functional_call` over every parameter.

    ``reps``: the inner batch's (detached) representation rows ``(u, i, j)`` when the caller has them.
    """

    def __init__(self):
        self._lookahead: Dict[str, Tensor] = {}

    def __call__(self, model, batch: TripletBatch, outer: TripletBatch, alpha: float, world=None,
                 reps=None) -> Tensor:
        distributed = world is not None and world.world_size > 1
        if not distributed and _rows_are_parameters(model):
            return self.rows(model, batch, outer, alpha, reps)
        if not distributed and _linear_with_gradients(model):
            return self.linear(model, batch, outer, alpha, reps)
        return self.full(model, batch, outer, alpha, world)

    def full(self, model, batch, outer, alpha, world=None) -> Tensor:
        call = _TripletCall(model)
        params = {f"model.{n}": p for n, p in model.named_parameters() if p.requires_grad}
        lookahead = self._lookahead_buffers(params, alpha)
        # first order only: the outer backward may accumulate row-sparse into the buffers' .grad
        functional_call(call, lookahead, (outer.users, outer.pos_items, outer.neg_items)).mean().backward()
        grads = [buffer.grad for buffer in lookahead.values()]
        if world is not None:
            world.all_reduce_mean(grads)
        with fwAD.dual_level():
            duals = {n: fwAD.make_dual(p.detach(), g)
                     for (n, p), g in zip(params.items(), grads)}
            terms = functional_call(call, duals, (batch.users, batch.pos_items, batch.neg_items))
            directional = fwAD.unpack_dual(terms).tangent
        if directional is None:  # the outer loss does not depend on the batch's parameters
            directional = torch.zeros_like(terms)
        return -alpha * directional.reshape(batch.users.numel(), -1).sum(1) / batch.users.numel()

    def _lookahead_buffers(self, params: Dict[str, Tensor], alpha: float) -> Dict[str, Tensor]:
        r""":math:`\tilde\Theta = \Theta - \alpha g` written into leaves kept across steps, their ``.grad``
        zeroed: no table-sized allocation (and page faults) per step, for one extra copy of the
        parameters and their gradient in memory. A parameter without a gradient is not moved."""
        buffers, out = self._lookahead, {}
        for name, param in params.items():
            buffer = buffers.get(name)
            if buffer is None or buffer.shape != param.shape or buffer.device != param.device \
                    or buffer.dtype != param.dtype:
                buffer = torch.empty_like(param, requires_grad=True)
                buffer.grad = torch.zeros_like(param)
            with torch.no_grad():
                if param.grad is None:
                    buffer.copy_(param)
                else:
                    torch.add(param, param.grad, alpha=-alpha, out=buffer)
                buffer.grad.zero_()
            out[name] = buffer
        self._lookahead = out
        return out

    def rows(self, model, batch, outer, alpha, reps=None) -> Tensor:
        r"""The hypergradient of an embedding-lookup backbone on touched rows only.

        :math:`\tilde\Theta` matters only on the outer batch's rows :math:`R` (the outer loss reads
        nothing else), so :math:`\nabla_{\tilde\Theta}\mathcal J_{outer}` is zero off :math:`R`: it
        is summed per distinct row (:func:`_slots`), and the JVP tangent of each inner row is read
        from those sums (zero where an inner row is not in :math:`R`): no table-sized tensor per step.
        """
        tables = model.embedding_tables()
        same = outer is batch
        outer_ids, inner_ids = _triplet_ids(outer), _triplet_ids(batch)
        if reps is None:
            reps = [take_rows(tables[t].detach(), ids) for t, ids in zip(_TABLE_OF, inner_ids)]
        # the look-ahead rows Θ - α g of the outer batch (with outer="same-batch": the inner rows)
        rows = reps if same else [take_rows(tables[t].detach(), ids) for t, ids in zip(_TABLE_OF, outer_ids)]
        looked = [torch.add(r, take_rows(tables[t].grad, ids), alpha=-alpha)
                  for r, t, ids in zip(rows, _TABLE_OF, outer_ids)]
        users, items = _slots(model, outer, batch)
        h_u, h_i, h_j = _outer_gradient(model, looked)
        num_pos, d = outer.pos_items.numel(), h_u.size(-1)
        user_sum = h_u.new_zeros(users[0], d).index_add_(0, users[1], h_u)
        item_sum = h_u.new_zeros(items[0], d).index_add_(0, items[1][:num_pos], h_i).index_add_(
            0, items[1][num_pos:], h_j.reshape(-1, d))
        inner_pos = batch.pos_items.numel()
        tangents = [take_rows(user_sum, users[2]), take_rows(item_sum, items[2][:inner_pos]),
                    take_rows(item_sum, items[2][inner_pos:]).view(reps[2].shape)]
        return _hypergradient(model, reps, tangents, alpha)

    def linear(self, model, batch, outer, alpha, reps=None) -> Tensor:
        r"""The hypergradient of a backbone whose representations are linear in its parameters
        (:math:`r = M\Theta`): see the class docstring."""
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        outer_ids, inner_ids = _triplet_ids(outer), _triplet_ids(batch)
        if reps is None:
            with torch.no_grad():
                reps = rows_at(model, {n: p.detach() for n, p in params.items()}, *inner_ids)
        if outer is batch:  # M Θ̃ = reps - α M g: propagate g alone
            sources = {n: p.grad.detach().requires_grad_() for n, p in params.items()}
            moved = rows_at(model, sources, *outer_ids)
            looked = [torch.add(r, m.detach(), alpha=-alpha) for r, m in zip(reps, moved)]
        else:
            sources = {n: p.detach().requires_grad_() for n, p in self._lookahead_buffers(params, alpha).items()}
            moved = rows_at(model, sources, *outer_ids)
            looked = [m.detach() for m in moved]
        # ∇_Θ̃ J_outer = M^T h: the vector-Jacobian product of the (linear) representation map, the
        # row lookups' share added in place into the product's (no table-sized zeros and sum per step)
        with accumulate_row_gradients():
            torch.autograd.backward(moved, _outer_gradient(model, looked), inputs=list(sources.values()))
        with torch.no_grad():
            tangents = rows_at(model, {n: torch.zeros_like(p) if a.grad is None else a.grad
                                       for (n, p), a in zip(params.items(), sources.values())}, *inner_ids)
        return _hypergradient(model, reps, tangents, alpha)


def _slots(model, outer: TripletBatch, batch: TripletBatch) -> Tuple[Tuple[int, Tensor, Tensor], ...]:
    """For the users and for the items: the number of distinct ids among the outer (and, unless the
    batches are the same, the inner) ones, and each outer and inner id's slot among them. With the
    same batch: the batch's nodes the state has already asked for
    (:meth:`~graphdenoise.models.base.Recommender.batch_nodes`)."""
    if outer is batch:
        users, user_pos, items, item_pos = model.batch_nodes(batch.users, batch.pos_items, batch.neg_items)
        return (users.numel(), user_pos, user_pos), (items.numel(), item_pos, item_pos)
    outer_items = torch.cat([outer.pos_items, outer.neg_items.reshape(-1)])
    inner_items = torch.cat([batch.pos_items, batch.neg_items.reshape(-1)])
    return _merged_slots(outer.users, batch.users), _merged_slots(outer_items, inner_items)


def _merged_slots(outer_ids: Tensor, inner_ids: Tensor) -> Tuple[int, Tensor, Tensor]:
    unique, inverse = torch.unique(torch.cat([outer_ids, inner_ids]), return_inverse=True)
    return unique.numel(), inverse[: outer_ids.numel()], inverse[outer_ids.numel():]


_TABLE_OF = (0, 1, 1)  # the table of users, positives and negatives in ``embedding_tables()``


def _triplet_ids(batch: TripletBatch) -> Tuple[Tensor, Tensor, Tensor]:
    return batch.users, batch.pos_items, batch.neg_items


def _linear_with_gradients(model) -> bool:
    """Whether ``model``'s representations are linear in its parameters, every one with a gradient."""
    return getattr(model, "linear_representations", False) and all(
        p.grad is not None for p in model.parameters() if p.requires_grad)


def _inner_product(model) -> bool:
    """Whether ``model`` scores a triplet by plain inner products of its representation rows."""
    return type(model).score_rows is Recommender.score_rows and model.inner_product_scores


def _outer_gradient(model, looked) -> Tuple[Tensor, ...]:
    r""":math:`h`: the gradient of the outer batch's mean BPR w.r.t. its representation rows
    ``(u, i, j)``; for inner-product scores in closed form, :math:`\partial/\partial u =
    \sigma(s)(j - i)/B`, :math:`\partial/\partial j = -\partial/\partial i = \sigma(s)\,u/B` with
    :math:`s = u\cdot(j - i)` (``bpr_terms`` is :math:`\mathrm{softplus}(s)`)."""
    if _inner_product(model) and looked[2].dim() == 2:
        u, i, j = looked
        diff = j - i
        scale = torch.sigmoid((u * diff).sum(-1)).div_(u.size(0)).unsqueeze(-1)
        grad_j = u * scale
        return diff.mul_(scale), grad_j.neg(), grad_j
    leaves = [r.detach().requires_grad_() for r in looked]
    scores = model.score_rows(*leaves)
    return torch.autograd.grad(bpr_terms(scores.pos, scores.neg).mean(), leaves)


def _hypergradient(model, reps, tangents, alpha: float) -> Tensor:
    r""":math:`-\frac{\alpha}{B}` times the JVP of each inner triplet's BPR term at its representation
    rows ``reps`` along ``tangents`` (the outer gradient carried to those rows); for inner-product
    scores in closed form, :math:`\sigma(s)\,[t_u\cdot(j - i) + u\cdot(t_j - t_i)]`."""
    num = reps[0].size(0)
    if _inner_product(model) and reps[2].dim() == 2:
        (u, i, j), (t_u, t_i, t_j) = reps, tangents
        diff = j - i
        directional = (t_u * diff).add_(u * (t_j - t_i)).sum(-1).mul_(torch.sigmoid((u * diff).sum(-1)))
    else:
        with fwAD.dual_level():
            scores = model.score_rows(*(fwAD.make_dual(r, t) for r, t in zip(reps, tangents)))
            directional = fwAD.unpack_dual(bpr_terms(scores.pos, scores.neg)).tangent.reshape(num, -1).sum(1)
    return directional.mul_(-alpha / num)
