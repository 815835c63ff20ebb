r"""Popularity-proportional negatives, the sampler of WBPR (Gantner, Drumond, Freudenthaler and
Schmidt-Thieme, "Personalized Ranking for Non-Uniformly Sampled Items", JMLR W&CP 18 (KDD Cup 2011),
2012, http://proceedings.mlr.press/v18/gantner12a.html).

.. math::
    q(j \mid u) = \frac{(c_j + o)^{\alpha}}{\sum_{k \in \mathcal I} (c_k + o)^{\alpha}}

with :math:`c_j` the number of TRAINING interactions of item :math:`j` (its degree), an optional
offset :math:`o` and exponent :math:`\alpha`; training positives of the user are then rejected by
the base class, so the effective distribution is :math:`q` restricted to the user's non-positives.

Reference implementations checked: MyMediaLite ``WeightedBPRMF`` (draws the item of a random
feedback entry, i.e. :math:`\alpha = 1, o = 0`, resampling positives) and Cornac ``WBPR`` (the same
trick); RecBole's ``distribution: popularity`` with ``alpha`` for the exponent.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..utils import InteractionIndex
from .negatives import NegativeSampler


def item_popularity(index: InteractionIndex) -> Tensor:
    """Training degree of every item, ``[num_items]`` (float64)."""
    return torch.bincount(index.items, minlength=index.num_items).double()


class CategoricalTable:
    r"""An inverse-CDF table over ``weight`` (float64 cumulative sums): :meth:`draw` is one
    ``searchsorted`` per batch, and zero-weight entries are never drawn."""

    def __init__(self, weight: Tensor):
        weight = weight.double()
        if (weight < 0).any() or not torch.isfinite(weight).all() or weight.sum() <= 0:
            raise ValueError("sampling weights must be finite, non-negative and not all zero")
        self.cdf = torch.cumsum(weight, 0)
        self.log_prob = (weight / self.cdf[-1]).log().float()

    def draw(self, shape, generator: torch.Generator) -> Tensor:
        u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
        u = u.to(self.cdf.device) * self.cdf[-1]
        return torch.searchsorted(self.cdf, u, right=True).clamp_(max=self.cdf.numel() - 1)


class PopularityNegatives(NegativeSampler):
    r"""Negatives drawn with probability proportional to (a power of) item popularity.

    Args:
        train_index (InteractionIndex): The training positives (they define the popularity).
        alpha (float): Exponent :math:`\alpha` on the popularity; 1 is WBPR, 0 uniform over the
            items. (default: :obj:`1.0`)
        offset (float): Added to every count before the power, so unseen items keep a non-zero
            probability when positive (importance sampling needs full support). (default: :obj:`0.0`)
        reject_positives (bool): Redraw candidates that are positives of their user.
            (default: :obj:`True`)
        max_rounds (int): Rejection rounds before the exact fallback of the base class. (default: 20)
    """

    def __init__(self, train_index: InteractionIndex, alpha: float = 1.0, offset: float = 0.0,
                 reject_positives: bool = True, max_rounds: int = 20):
        super().__init__(train_index, reject_positives, max_rounds)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self.alpha, self.offset = float(alpha), float(offset)
        self.table = CategoricalTable((item_popularity(train_index) + self.offset).pow(self.alpha))

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        return self.table.draw(users.shape, generator)

    def log_prob(self, users: Tensor, items: Tensor) -> Tensor:
        return self.table.log_prob[items]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_items={self.num_items}, alpha={self.alpha}, offset={self.offset}, "
                f"reject_positives={self.reject_positives})")
