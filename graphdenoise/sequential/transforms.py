r"""Random replacement of history items: the artificial noise of the ATJT paper (Sec. 3.3.1).

Reference: Liu et al., "Enhancing Recommendation with Denoising Auxiliary Task", JCST 2024,
Sec. 3.3.1 and Table 3 (replacing one item works best).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .data import PAD


class RandomReplacement:
    r"""Replaces ``num_replace`` of the (non-padding) items of each history by random items.

    The positions are drawn uniformly among the real items of each row (a history with fewer real
    items has all of them replaced); each replacement is drawn uniformly among the *other* items, so
    a replaced position always changes. Vectorised over the batch; seeded by its own generator, so
    the same transform object replays the same replacements after :meth:`reset` or
    :meth:`load_state_dict`.

    Args:
        num_items (int): Number of items (histories hold ``item + 1``; ``0`` is padding).
        num_replace (int): Items replaced per history (the paper's default and best: 1). (default: :obj:`1`)
        seed (int): Seed of the transform's generator. (default: :obj:`0`)

    Shapes:
        - **input**: ``[B, N]`` histories
        - **output**: ``[B, N]`` histories, and (from :meth:`replace`) a ``[B, N]`` mask of replaced positions
    """

    def __init__(self, num_items: int, num_replace: int = 1, seed: int = 0):
        if num_items < 2:
            raise ValueError(f"random replacement needs at least 2 items, got {num_items}")
        if num_replace < 1:
            raise ValueError(f"num_replace must be >= 1, got {num_replace}")
        self.num_items = int(num_items)
        self.num_replace = int(num_replace)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        """Restart the generator from ``seed``."""
        self.generator.manual_seed(self.seed)

    def replace(self, history: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """``(new_history, replaced_mask)``; ``history`` is not modified."""
        gen = generator if generator is not None else self.generator
        device = history.device
        hist = history.cpu()
        valid = hist != PAD
        k = min(self.num_replace, hist.size(1))
        score = torch.rand(hist.shape, generator=gen)
        score = torch.where(valid, score, torch.full_like(score, -1.0))
        top_score, top_index = score.topk(k, dim=1)
        mask = torch.zeros_like(valid)
        mask.scatter_(1, top_index, top_score >= 0)
        # uniform among the other num_items - 1 items: shift the original id by 1..num_items-1 (mod n)
        shift = torch.randint(1, self.num_items, hist.shape, generator=gen)
        replaced = (hist - 1 + shift) % self.num_items + 1
        out = torch.where(mask, replaced, hist)
        return out.to(device), mask.to(device)

    def __call__(self, history: Tensor) -> Tensor:
        return self.replace(history)[0]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_items={self.num_items}, num_replace={self.num_replace}, seed={self.seed})"
