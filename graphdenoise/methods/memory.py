r"""Per-interaction memory shared by the methods that judge a training edge over several epochs
(DCF's time-averaged loss, UDT's previous-epoch weights, PLD's personal loss distribution).

* :class:`~graphdenoise.utils.EdgeLookup` -- the training edge id of ``(u, i)`` pairs (one
  ``searchsorted``; the user-batch sampler's too), so that
  :meth:`~graphdenoise.methods.Method.weights`, which receives pairs, can read state kept per edge;
* :func:`segment_softmax` -- a softmax within groups (e.g. over each user's positives), vectorised;
* :class:`EpochClock` -- tells a method, from ``ctx.epoch``, that a new epoch has begun.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..utils import EdgeLookup  # noqa: F401  (the methods' import point)


def segment_softmax(values: Tensor, segment: Tensor, num_segments: int) -> Tensor:
    r""":math:`\operatorname{softmax}` of ``values`` within each group ``segment`` (1-D tensors).

    Entries equal to :math:`-\infty` get probability 0; the maximum is subtracted per group, as
    ``torch.softmax`` does, so the values underflow to 0 exactly where a dense softmax would.
    """
    top = torch.full((num_segments,), float("-inf"), dtype=values.dtype, device=values.device)
    top = top.scatter_reduce(0, segment, values, reduce="amax", include_self=True)
    shifted = values - top[segment]
    exp = torch.where(torch.isfinite(shifted), shifted.exp(), torch.zeros_like(shifted))
    total = torch.zeros(num_segments, dtype=values.dtype, device=values.device).index_add_(0, segment, exp)
    return exp / total[segment].clamp(min=torch.finfo(values.dtype).tiny)


class EpochClock:
    """Remembers the last epoch seen; :meth:`tick` is True on the first step of a later epoch.

    Its :attr:`epoch` belongs in the method's ``extra_state``, so that the first step after a resume
    still sees the epoch change."""

    def __init__(self):
        self.epoch: Optional[int] = None

    def tick(self, epoch: int) -> bool:
        new = self.epoch is not None and epoch != self.epoch
        self.epoch = epoch
        return new
