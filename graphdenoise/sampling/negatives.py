r"""Negative samplers: classes that return ``(neg_items, log_q)``.

Every sampler draws from a proposal :math:`q(j \mid u)` and, with ``reject_positives=True`` (the
default, implicit's ``verify_negative_samples``), redraws every candidate that is a training positive
of its user, in vectorised rounds (a sorted-key ``searchsorted`` per round, no Python loop per
triplet). The accepted draws follow :math:`\tilde q(j \mid u) \propto q(j \mid u)\,
[j \notin \mathcal I_u^+]`. When a proposal puts almost all of a user's mass on that user's positives
(a peaked cluster proposal after training, a steep popularity power), the candidates still rejected
after ``max_rounds`` rounds are drawn directly from :math:`\tilde q` by inverse CDF over dense rows
of :meth:`NegativeSampler.log_prob` for just those users (in memory-bounded blocks): the result is
the same distribution, so the fallback is exact wherever ``log_prob`` is (samplers that do not know
their ``log_prob`` fall back to uniform over the user's non-positives; their docstrings say so).
``log_q`` is the log-probability of the proposal before rejection; importance-sampling methods
(PRIS) need it (the per-user constant of the restriction cancels in their self-normalised weights),
the others ignore it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from ..registry import Registry
from ..utils import InteractionIndex

# entries (rows x items) of one dense block of the exact fallback: about 4 M, tens of MB
_FALLBACK_BLOCK = 1 << 22

NEGATIVE_SAMPLERS: Registry = Registry("negative sampler")


class NegativeSampler:
    r"""Base class. Subclasses implement :meth:`propose` (and :meth:`log_prob` where it is known).

    Args:
        train_index (InteractionIndex): The training positives.
        reject_positives (bool): Redraw candidates that are positives of their user.
            (default: :obj:`True`)
        max_rounds (int): Rejection rounds before the remaining candidates are drawn exactly from the
            proposal restricted to the user's non-positives. (default: 20)
    """

    def __init__(self, train_index: InteractionIndex, reject_positives: bool = True, max_rounds: int = 20):
        self.index = train_index
        self.num_items = train_index.num_items
        self.reject_positives = reject_positives
        self.max_rounds = max_rounds
        self.num_fallback_draws = 0  # diagnostics: draws made by the exact fallback so far
        if reject_positives:
            full = (train_index.counts >= self.num_items).nonzero().view(-1)
            if full.numel():
                raise ValueError(
                    f"user(s) {full[:5].tolist()} interacted with every item: no negative exists for them"
                )

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def log_prob(self, users: Tensor, items: Tensor) -> Tensor:
        """``log q(items | users)`` of the proposal (zeros when unknown)."""
        return torch.zeros(items.shape, dtype=torch.float)

    def bind(self, model, batches_per_epoch: Optional[int] = None) -> None:
        """Hook for model-aware proposals (AOBPR, PRIS's clusters): called by the trainer once the
        model and the method are set up, before the first batch is drawn."""

    def update(self, model, step: int) -> None:
        """Hook for adaptive samplers (AOBPR): called by the trainer after each optimiser step."""

    def sample(self, users: Tensor, generator: torch.Generator, num_negatives: int = 1) -> Tuple[Tensor, Tensor]:
        r"""Negatives for ``users``: shape ``[B]`` when ``num_negatives == 1``, else ``[B, L]``."""
        flat_users = users.repeat_interleave(num_negatives) if num_negatives > 1 else users
        items = self.propose(flat_users, generator)
        if self.reject_positives:
            bad = self.index.contains(flat_users, items).nonzero().view(-1)
            for _ in range(self.max_rounds):
                if not bad.numel():
                    break
                items[bad] = self.propose(flat_users[bad], generator)
                bad = bad[self.index.contains(flat_users[bad], items[bad])]
            if bad.numel():
                items[bad] = self.draw_restricted(flat_users[bad], generator).to(items.device)
                self.num_fallback_draws += bad.numel()
        log_q = self.log_prob(flat_users, items)
        if num_negatives > 1:
            return items.view(-1, num_negatives), log_q.view(-1, num_negatives)
        return items, log_q

    def draw_restricted(self, users: Tensor, generator: torch.Generator) -> Tensor:
        r"""One draw per entry of ``users`` from :math:`\tilde q(\cdot \mid u)`, the proposal restricted
        to the user's non-positives, by inverse CDF over dense ``log_prob`` rows, one per distinct user
        (blocks of users). Row ``r``'s normalised CDF is shifted by ``r``, so the draws of every entry of
        a block are one ``searchsorted`` over the concatenated rows."""
        users = users.cpu()
        distinct, inverse = torch.unique(users, return_inverse=True)
        u = torch.rand(users.shape, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        all_items = torch.arange(self.num_items)
        out = torch.empty_like(users)
        rows_per_block = max(1, _FALLBACK_BLOCK // self.num_items)
        for start in range(0, distinct.numel(), rows_per_block):  # memory blocks, not a loop per user
            block = distinct[start:start + rows_per_block]
            n = block.numel()
            log_q = self.log_prob(block.repeat_interleave(self.num_items), all_items.repeat(n)).view(n, -1).double()
            row, positive = self.index.gather_rows(block)
            log_q[row, positive] = float("-inf")
            cdf = torch.cumsum((log_q - log_q.max(dim=1, keepdim=True).values).exp().nan_to_num_(0.0), dim=1)
            total = cdf[:, -1:]
            if not (total > 0).all():
                empty = block[total.view(-1) <= 0]
                raise RuntimeError(
                    f"{type(self).__name__}: the proposal gives zero probability to every non-positive item "
                    f"of user(s) {empty[:5].tolist()}; give unseen items mass (e.g. offset > 0)"
                )
            shifted = (cdf / total + torch.arange(n, dtype=torch.float64).unsqueeze(1)).view(-1)
            entries = ((inverse >= start) & (inverse < start + n)).nonzero().view(-1)
            local = inverse[entries] - start
            flat = torch.searchsorted(shifted, local + u[entries], right=True)
            out[entries] = (flat - local * self.num_items).clamp_(0, self.num_items - 1)
        return out

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_items={self.num_items}, reject_positives={self.reject_positives})"


@NEGATIVE_SAMPLERS.register("uniform")
class UniformNegatives(NegativeSampler):
    r"""Uniform negatives (Rendle et al., BPR, UAI 2009).

    With ``reject_positives`` the draw is exact and needs no rejection rounds:
    :math:`j \sim U(\mathcal I \setminus \mathcal I_u^+)`, :math:`q(j\mid u) = 1/(|\mathcal I| - |\mathcal I_u^+|)`,
    a uniform rank among the user's non-positives mapped to its item by
    :meth:`~graphdenoise.utils.InteractionIndex.nth_absent` (dense users cost no more than sparse ones).
    """

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        return torch.randint(self.num_items, users.shape, generator=generator, device=generator.device)

    def sample(self, users: Tensor, generator: torch.Generator, num_negatives: int = 1):
        if not self.reject_positives:
            return super().sample(users, generator, num_negatives)
        flat_users = users.repeat_interleave(num_negatives) if num_negatives > 1 else users
        free = (self.num_items - self.index.counts[flat_users]).to(torch.float64)
        rank = (torch.rand(flat_users.shape, generator=generator, dtype=torch.float64) * free).long()
        items = self.index.nth_absent(flat_users, torch.minimum(rank, free.long() - 1))
        log_q = -torch.log(free).float()
        if num_negatives > 1:
            return items.view(-1, num_negatives), log_q.view(-1, num_negatives)
        return items, log_q

    def log_prob(self, users: Tensor, items: Tensor) -> Tensor:
        free = self.num_items - (self.index.counts[users] if self.reject_positives else 0)
        return -torch.log(torch.as_tensor(free, dtype=torch.float)).expand(items.shape).clone()
