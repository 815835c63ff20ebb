r"""BSL, the Bilateral SoftMax Loss of Wu, Chen, Wu, Shi, Zhang and Wang, "BSL: Understanding and
Improving Softmax Loss for Recommendation", ICDE 2024, https://arxiv.org/abs/2312.12882.

The softmax loss (SL) of a positive :math:`(u, i)` against negatives :math:`j_1..j_M` is a
log-expectation-exp over the negatives, which the paper reads as distributionally robust
optimisation (DRO) over the negative distribution: hard negatives get exponentially larger weights.
BSL applies the same log-expectation-exp to the POSITIVE side, with its own temperature, so that a
positive the model scores low (likely a noisy one) gets an exponentially SMALLER weight:

.. math::
    \mathcal L_{\mathrm{SL}}(u, i) = -\frac{f(u,i)}{\tau_1}
        + \log \sum_{m=1}^{M} \exp\!\Big(\frac{f(u,j_m)}{\tau_1}\Big)

    \mathcal L_{\mathrm{BSL}}(u) = -\log \mathop{\mathbb E}_{i \sim \mathcal P_u}
        \exp\!\Big(\frac{f(u,i)}{\tau_1}\Big)
        + \tau_2 \log \mathop{\mathbb E}_{j \sim \mathcal N_u} \exp\!\Big(\frac{f(u,j)}{\tau_1}\Big)

with :math:`f` the cosine similarity of the user and item representations. :math:`\tau_2 = 1` is SL
(up to a constant); dividing by :math:`\tau_2` shows that :math:`1/\tau_2` is the temperature ratio of
the positive to the negative side, i.e. the "separate temperature on positives" of the paper. The
positive expectation runs over the user's positives in the batch (``mode='multi'``); ``mode='reweight'``
keeps one positive per row and sums over the negatives (:math:`\tau_2 \log\sum_m`), the authors'
LightGCN setting. Their gradient weights each positive by
:math:`w_b = \exp(f(u,i_b)/\tau_1) / \overline{\exp(f(u,i)/\tau_1)}` (mean 1 per user and batch): the
per-epoch statistics ``pos_weight_mean`` / ``pos_weight_std`` report it.

We could not read the paper's full text: the formulas above follow the authors' code, which we read
(``junkangwu/BSL`` @ 89e0267), and equation numbers are not cited:

* ``utils/losses.py:19-35``: ``multi`` is :math:`-\log \operatorname{mean}_{b': u_{b'} = u_b}
  e^{s^+_{b'}/\tau_1} + \tau_2 \log \operatorname{mean}_m e^{s^-_m/\tau_1}`; ``reweight`` is
  :math:`-s^+/\tau_1 + \tau_2 \log \sum_m e^{s^-_m/\tau_1}`; batch mean;
* ``modules/MF_Frame.py:82-93``: :math:`f` is the cosine of the normalised representations (with
  ``--u_norm --i_norm``); L2 on the raw embeddings of the batch, :math:`\lambda\frac{1}{2B}(\|E_u\|^2 +
  \|E_i\|^2 + \|E_j\|^2)`, which is our trainer's ``l2`` term;
* ``main.py:156-159``: ``n_negs`` uniform negatives per positive, with replacement, positives NOT
  excluded (``reject_positives=False`` here; our default rejects them, :math:`j \sim \mathcal N_u` as
  the formula reads);
* the log-sum-exps are computed stably in log space (the code exponentiates directly); equal in
  exact arithmetic.

**A bounded score.** The loss is bounded below only when :math:`f` is. Adding a constant :math:`c` to every
score changes it by :math:`(\tau_2 - 1)\,c/\tau_1`; multiplying every score by :math:`c` sends it to
:math:`-\infty` as :math:`c` grows wherever a user's best positive outscores :math:`\tau_2` times its best
negative (the negative side has no positive in its log-sum-exp, unlike a cross-entropy, so :math:`\tau_2 = 1`
is unbounded too). A model that can shift or scale all its scores lowers the loss without end, whatever it
ranks. The cosine of MF and LightGCN lies in :math:`[-1, 1]`; a backbone with a learned output layer has no
such bound (GMF's :math:`h^\top(p \odot q) + b`, NeuMF's tower): on NeuMF (ml-100k-natural, lr 1e-3) the loss
fell to :math:`-6 \times 10^6` by epoch 10 while validation Recall@20 fell from 9.1% (epoch 3) to 4.8% (epoch
9); on GMF the drift is slow (Adam moves :math:`b` and :math:`h` by about the learning rate a step). :meth:`BSL.setup` warns on such a backbone;
``score_bound='tanh'`` (our option, not the authors': their backbones score by the cosine) scores
:math:`\tanh f`, the cosine's range.

Defaults: :math:`\tau_1 = 0.11`, :math:`\tau_2 = 1.10`, ``mode='multi'`` (the README's MF setting on
Yelp2018); 128 negatives per positive (the scripts use 800 with batches of 1024-2048: raise
``softmax_negatives`` and lower the trainer's ``batch_size`` to match them). For backbones whose score is
not an inner product (NeuMF) :math:`f` is the backbone's score of the normalised representations
(``cosine=False`` scores the raw ones).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..sampling import UniformNegatives
from .base import METHODS, Method, MethodConfig, SamplingSpec, l2_term
from ..config import check_fields
from ..utils import take_rows
from .reweighting import WeightStats


@dataclass
class BSLConfig(MethodConfig):
    """Options of :class:`BSL` (the authors' MF defaults on Yelp2018 where they give them)."""

    temperature: float = 0.11
    r""":math:`\tau_1`, the softmax temperature of both sides."""
    temperature_2: float = 1.10
    r""":math:`\tau_2`; 1 is the plain softmax loss."""
    mode: str = "multi"
    """``'multi'`` (log-mean-exp over the user's positives in the batch) or ``'reweight'`` (one positive
    per row, log-sum-exp over the negatives)."""
    softmax_negatives: int = 128
    """Uniform negatives per positive (the authors' scripts: 800)."""
    reject_positives: bool = True
    """Draw negatives among the user's non-positives (False: over all items, as the authors' code)."""
    cosine: bool = True
    """Score L2-normalised representations (cosine similarity for inner-product backbones)."""
    score_bound: str = "none"
    r"""``'tanh'``: train on :math:`\tanh f`, bounded like the cosine, for backbones whose score is not
    (a learned output layer: GMF, NeuMF; see the module docstring). ``'none'``: :math:`f` as it is."""

    def __post_init__(self):
        check_fields(self, temperature="> 0", temperature_2="> 0", mode=("multi", "reweight"),
                     softmax_negatives=">= 1", score_bound=("none", "tanh"))


def bounded_scores(model, cosine: bool) -> bool:
    """Whether ``model``'s score of L2-normalised representations is bounded: the plain inner product
    (:attr:`~graphdenoise.models.base.Recommender.inner_product_scores`: MF, LightGCN) is, a learned output
    layer is not."""
    return cosine and model.inner_product_scores


def grouped_log_mean_exp(values: Tensor, groups: Tensor) -> Tensor:
    r""":math:`\log \operatorname{mean}_{b': g_{b'} = g_b} e^{x_{b'}}` for every entry ``b`` of ``values``
    (``[B]``), stably and in :math:`O(B)`: a per-group maximum, one ``index_add`` of the shifted exps."""
    unique, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    peak = values.new_full((unique.numel(),), float("-inf")).scatter_reduce(0, inverse, values.detach(), "amax")
    total = values.new_zeros(unique.numel()).index_add(0, inverse, (values - peak[inverse]).exp())
    return (total.log() + peak - counts.to(values.dtype).log())[inverse]


@METHODS.register("bsl")
class BSL(Method):
    r"""Bilateral softmax loss (see the module docstring).

    Args:
        config (BSLConfig, optional): ``temperature`` (default: 0.11), ``temperature_2``
            (default: 1.10), ``mode`` (default: ``'multi'``), ``softmax_negatives`` (default: 128),
            ``reject_positives`` (default: :obj:`True`), ``cosine`` (default: :obj:`True`),
            ``score_bound`` (default: ``'none'``).

    Shapes:
        - **batch:** users and positives ``[B]``, negatives ``[B, M]``.
    """

    Config = BSLConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.pos_weight = WeightStats()

    def sampling(self) -> SamplingSpec:
        cfg = self.config
        return SamplingSpec(negatives=lambda index: UniformNegatives(index, reject_positives=cfg.reject_positives),
                            num_negatives=cfg.softmax_negatives)

    def setup(self, model, data, ctx):
        super().setup(model, data, ctx)
        cfg = self.config
        if cfg.score_bound == "none" and not bounded_scores(model, cfg.cosine):
            why = "a learned output layer" if cfg.cosine else "cosine=False"
            warnings.warn(f"BSL on {type(model).__name__}: its score is not bounded ({why}), so the loss has no "
                          "lower bound (a model lowers it without end by shifting or scaling every score); "
                          "score_bound='tanh' (method 'bsl-tanh') bounds it like the cosine (see "
                          "graphdenoise.methods.bsl)", UserWarning, stacklevel=2)

    def scores(self, model, batch) -> Tuple[Tensor, Tensor]:
        r"""Scores of the batch's positives ``[B]`` and negatives ``[B, M]`` (with ``cosine``: of the
        L2-normalised representations), each representation normalised once. When the backbone scores
        by an inner product (``full_rank_cost == 1``: MF, GMF, LightGCN) and a ``[B, items]`` score
        matrix is no larger than the ``[B, M, d]`` negative rows (ML-100K, ``M = 128``: 1,682 x 2,048
        scores instead of 128 x 64 x 2,048 row entries), the negatives are gathered from
        :meth:`~graphdenoise.models.base.Recommender.score_matrix` against every item; otherwise the
        batch's distinct items are represented and scored at the pairs through
        :meth:`~graphdenoise.models.base.Recommender.score_indexed` (NeuMF: its first tower layer once per
        distinct node; large catalogues)."""
        num = batch.users.numel()
        neg_items = batch.neg_items.view(num, -1)
        dense = (getattr(model, "full_rank_cost", None) == 1
                 and model.num_items <= neg_items.size(1) * model.representation_dim)
        if dense:
            users, user_pos = torch.unique(batch.users, return_inverse=True)
            user_rep, item_rep = model.representations(users, None)
            pos_idx = batch.pos_items
        else:
            users, user_pos, items, item_pos = model.batch_nodes(batch.users, batch.pos_items, batch.neg_items)
            user_rep, item_rep = model.representations(users, items)
            pos_idx, neg_items = item_pos[:num], item_pos[num:].view(num, -1)
        if self.config.cosine:
            user_rep, item_rep = F.normalize(user_rep, dim=-1), F.normalize(item_rep, dim=-1)
        pos = model.score_indexed(user_rep, item_rep, user_pos, pos_idx)
        if dense:
            neg = model.score_matrix(take_rows(user_rep, user_pos), item_rep).gather(1, neg_items)
        else:
            neg = model.score_indexed(user_rep, item_rep, user_pos.view(-1, 1), neg_items)
        return (pos.tanh(), neg.tanh()) if self.config.score_bound == "tanh" else (pos, neg)

    def loss(self, model, batch, ctx):
        cfg = self.config
        pos, neg = self.scores(model, batch)
        pos, neg = pos / cfg.temperature, neg / cfg.temperature          # [B], [B, M]
        negative = torch.logsumexp(neg, dim=1)
        if cfg.mode == "multi":
            positive = grouped_log_mean_exp(pos, batch.users)
            negative = negative - math.log(neg.size(1))
            self.pos_weight.update((pos - positive).detach().exp())
        else:
            positive = pos
        bsl = (cfg.temperature_2 * negative - positive).mean()
        return bsl + l2_term(model, batch, ctx), {"bsl": bsl.detach()}

    def epoch_stats(self):
        return self.pos_weight.read("pos_weight")


@dataclass
class BSLTanhConfig(BSLConfig):
    """:class:`BSLConfig` with ``score_bound='tanh'``."""

    score_bound: str = "tanh"


@METHODS.register("bsl-tanh")
class BSLTanh(BSL):
    r"""BSL on :math:`\tanh f` (``score_bound='tanh'``), for backbones whose score has no bound (GMF,
    NeuMF; see the module docstring); the registered name lets the CLI, ``fit`` and the experiments run
    it beside plain BSL."""

    Config = BSLTanhConfig
