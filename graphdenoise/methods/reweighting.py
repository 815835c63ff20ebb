r"""Functional pieces of the re-weighting baselines (T-CE, R-CE and their BPR variants, BOD), after
Wang, Feng, He, Nie and Chua, "Denoising Implicit Feedback for Recommendation", WSDM 2021,
https://arxiv.org/abs/2006.04153 (reference code: ``WenjieWWJ/DenoisingRec`` @ 451779a,
``T_CE/loss.py``, ``R_CE/loss.py``, ``T_CE/main.py``).

* :class:`LinearDropRate` -- T-CE's drop-rate schedule, counted in ITERATIONS;
* :func:`truncation_mask` / :func:`masked_mean` -- leave the largest-loss samples out;
* :func:`rce_weights` -- R-CE's detached confidence weights;
* :func:`bpr_confidence_weights` -- the same on the BPR loss;
* :func:`pointwise_logits` -- a triplet batch as pointwise samples (positives label 1, negatives 0);
* :func:`cell_logits` -- the same for a batch of users' rows (CDAE);
* :class:`WeightStats` -- running mean / std of weights for ``epoch_stats``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ..config import check_fields
from ..sampling import UserBatch
from .base import SamplingSpec


@dataclass
class LinearDropRate:
    r"""T-CE's drop-rate schedule, in iterations (mini-batches), not epochs:

    .. math::
        \varepsilon(t) = \begin{cases} \varepsilon_{\max}^{e} \cdot t / N & t < N \\
        \varepsilon_{\max} & t \ge N \end{cases}

    with :math:`N` = ``num_gradual`` and :math:`e` = ``exponent``. With :math:`e = 1` this is the
    paper's :math:`\min(t/N, 1)\,\varepsilon_{\max}`. The authors' code ramps with
    ``np.linspace(0, max_rate ** exponent, N)[t]`` (i.e. over :math:`N-1` steps) and jumps to
    :math:`\varepsilon_{\max}` at :math:`t = N` when :math:`e \ne 1`; we keep the jump but ramp over
    :math:`N` steps, as the paper's formula does.

    Args:
        max_rate (float): :math:`\varepsilon_{\max} \in [0, 1)`. (default: :obj:`0.2`)
        num_gradual (int): :math:`N`, iterations of the ramp. (default: :obj:`30000`)
        exponent (float): :math:`e`. (default: :obj:`1.0`)
    """

    max_rate: float = 0.2
    num_gradual: int = 30000
    exponent: float = 1.0

    def __post_init__(self):
        check_fields(self, max_rate="[0, 1)", num_gradual=">= 0", exponent="> 0")

    def __call__(self, step: int) -> float:
        if step >= self.num_gradual:
            return self.max_rate
        return self.max_rate ** self.exponent * step / self.num_gradual


def num_kept(count: int, drop_rate: float) -> int:
    r"""Samples kept out of ``count``: ``int((1 - drop_rate) * count)``, the authors' rounding."""
    return int((1.0 - drop_rate) * count)


def truncation_mask(terms: Tensor, drop_rate: float, candidates: Optional[Tensor] = None,
                    scope: str = "batch") -> Tensor:
    r"""Boolean keep-mask that leaves out the largest ``terms`` among ``candidates``.

    The number dropped is ``count - int((1 - drop_rate) * count)`` where ``count`` is the number of
    ALL samples (``scope='batch'``, the authors' T-CE code: negatives count but are never chosen while
    candidates remain) or the number of candidates (``scope='candidates'``, the per-positive reading).
    The ranking uses the detached ``terms``.

    Args:
        terms (Tensor): Per-sample losses, any shape.
        drop_rate (float): Fraction to drop, in ``[0, 1)``.
        candidates (Tensor, optional): Boolean mask of the samples that may be dropped (the
            positives); all when :obj:`None`.
        scope (str): ``'batch'`` or ``'candidates'``.
    """
    if scope not in ("batch", "candidates"):
        raise ValueError(f"scope must be 'batch' or 'candidates', got {scope!r}")
    flat = terms.detach().reshape(-1)
    cand = None if candidates is None else candidates.reshape(-1)
    count = flat.numel() if scope == "batch" or cand is None else int(cand.sum())
    num_drop = count - num_kept(count, drop_rate)
    keep = torch.ones_like(flat, dtype=torch.bool)
    if num_drop > 0:
        key = flat if cand is None else flat.masked_fill(~cand, float("-inf"))
        keep[key.topk(min(num_drop, flat.numel())).indices] = False
    return keep.view(terms.shape)


def masked_mean(terms: Tensor, keep: Tensor) -> Tensor:
    """Mean of ``terms[keep]`` (a zero that keeps the graph when nothing is kept)."""
    return terms[keep].mean() if keep.any() else terms.sum() * 0.0


def pointwise_logits(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
    r"""A triplet batch as pointwise samples: ``(logits [n], labels [n])`` with the ``B`` positives
    (label 1) first, then the ``B`` or ``B*L`` negatives (label 0)."""
    logits = torch.cat([pos.reshape(-1), neg.reshape(-1)])
    labels = torch.zeros_like(logits)
    labels[: pos.numel()] = 1.0
    return logits, labels


def cell_logits(model, batch) -> Tuple[Tensor, Tensor, Tensor]:
    r"""A :class:`~graphdenoise.sampling.UserBatch` as pointwise samples: ``(logits, labels, rows)`` of
    its cells, positives first, from ONE encoding of each user's row (:meth:`Recommender.cell_scores`)."""
    rows, items, labels = batch.cells()
    return model.cell_scores(batch.users, rows, items), labels, rows


def batch_logits(model, batch):
    r"""``(logits, labels, num_pos, scores)`` of a triplet batch (:func:`pointwise_logits`; ``scores``
    the :class:`TripletScores` for the L2 term) or of a user batch (:func:`cell_logits`; ``scores`` None)."""
    if isinstance(batch, UserBatch):
        logits, labels, _ = cell_logits(model, batch)
        return logits, labels, batch.pos_rows.numel(), None
    out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    logits, labels = pointwise_logits(out.pos, out.neg)
    return logits, labels, out.pos.numel(), out


class StudyRows:
    """Mixin of the pointwise losses the RecSys'25 study also runs on CDAE (ERM = T-CE at drop rate 0,
    T-CE, R-CE, UDT): the config's ``batches`` asks for users' rows with the study's per-user draws
    (``code/CDAE/main.py:301-325``), and :func:`batch_logits` reads either kind of batch."""

    def sampling(self) -> SamplingSpec:
        return SamplingSpec(batches=self.config.batches, user_negatives="per_user")


def rce_weights(logits: Tensor, labels: Tensor, beta: float, reweight_negatives: bool = True) -> Tensor:
    r"""R-CE's detached weights: :math:`\sigma(\hat y)^\beta` for positives and
    :math:`(1-\sigma(\hat y))^\beta` for negatives (1 when ``reweight_negatives`` is False)."""
    prob = torch.sigmoid(logits.detach())
    pos_weight = prob.pow(beta)
    neg_weight = (1.0 - prob).pow(beta) if reweight_negatives else torch.ones_like(prob)
    return torch.where(labels > 0.5, pos_weight, neg_weight)


def bpr_confidence_weights(pos: Tensor, neg: Tensor, beta: float) -> Tensor:
    r"""Detached :math:`\sigma(\hat y_{ui} - \hat y_{uj})^\beta` per triplet (``[B]`` or ``[B, L]``)."""
    if neg.dim() == pos.dim() + 1:
        pos = pos.unsqueeze(-1)
    return torch.sigmoid((pos - neg).detach()).pow(beta)


class WeightStats:
    """Running mean and standard deviation of weights (device tensors: no sync per step)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total = self.square = self.count = None

    def update(self, weight: Tensor) -> None:
        w = weight.detach().double().reshape(-1)
        s, q, n = w.sum(), w.pow(2).sum(), torch.tensor(float(w.numel()), dtype=torch.float64, device=w.device)
        if self.total is None:
            self.total, self.square, self.count = s, q, n
        else:
            self.total, self.square, self.count = self.total + s, self.square + q, self.count + n

    def read(self, prefix: str = "weight") -> Dict[str, float]:
        """``{prefix_mean, prefix_std}`` since the last read (empty when nothing was seen), then reset."""
        if self.total is None or float(self.count) == 0:
            self.reset()
            return {}
        n = float(self.count)
        mean = float(self.total) / n
        var = max(float(self.square) / n - mean * mean, 0.0)
        self.reset()
        return {f"{prefix}_mean": mean, f"{prefix}_std": var ** 0.5}
