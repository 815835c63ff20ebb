r"""Wide & Deep with the history as item features.

Reference: Cheng et al., "Wide & Deep Learning for Recommender Systems", DLRS 2016
(https://arxiv.org/abs/1606.07792); sizes from the ATJT paper (Sec. 4.1.3: DNN (256, 128), history
as item features). Checked against DeepCTR's ``WDL`` (linear part over the sparse features, DNN
over the concatenated embeddings, logits summed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..data import PAD
from .base import SequenceModel, SequenceModelConfig, expand_target, masked_mean, mlp, reset_module


@dataclass
class WideDeepConfig(SequenceModelConfig):
    """Options of :class:`WideDeep`."""

    hidden_units: Tuple[int, ...] = (256, 128)
    """Hidden sizes of the deep part (ATJT paper: (256, 128))."""

    def __post_init__(self):
        super().__post_init__()
        self.hidden_units = tuple(int(h) for h in self.hidden_units)


class WideDeep(SequenceModel):
    r"""Wide & Deep CTR model over ``(user, history, target)``.

    .. math::
        \text{logit} = \underbrace{b + w_u + w_t + \tfrac{1}{|H|}\textstyle\sum_{n \in H} w_n}_{\text{wide}}
        + \underbrace{\text{MLP}\big([e_u \,\|\, e_t \,\|\, \tfrac{1}{|H|}\textstyle\sum_{n\in H} e_n]\big)}_{\text{deep}}

    The wide part is linear in the one-hot user and target and the (normalised) multi-hot history;
    the paper's hand-made cross-product features have no counterpart here (no side features).

    Args:
        num_users (int), num_items (int), max_len (int): Sizes.
        config (WideDeepConfig, optional): Options. (default: ``embedding_dim=16``, ``hidden_units=(256, 128)``)
    """

    Config = WideDeepConfig

    def __init__(self, num_users: int, num_items: int, max_len: int, config: Optional[WideDeepConfig] = None,
                 **overrides):
        super().__init__(num_users, num_items, max_len, config, **overrides)
        d = self.embedding_dim
        self.user_emb = nn.Embedding(self.num_users, d)
        self.item_emb = nn.Embedding(self.num_items + 1, d, padding_idx=PAD)
        self.wide_user = nn.Embedding(self.num_users, 1)
        self.wide_target = nn.Embedding(self.num_items + 1, 1, padding_idx=PAD)
        self.wide_history = nn.Embedding(self.num_items + 1, 1, padding_idx=PAD)
        self.bias = nn.Parameter(torch.zeros(1))
        self.deep = mlp(3 * d, self.config.hidden_units, "relu", self.config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_emb, self.item_emb):
            nn.init.normal_(emb.weight, std=0.01)
        for emb in (self.wide_user, self.wide_target, self.wide_history):
            nn.init.zeros_(emb.weight)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()
        nn.init.zeros_(self.bias)
        reset_module(self.deep)

    def represent(self, user: Tensor, history: Tensor) -> Tensor:
        r"""``[e_u || mean of the history's embeddings || w_u + mean of its wide weights]``, ``[B, 2d + 1]``."""
        hist_emb = masked_mean(self.item_emb(history), history)                       # [B, d]
        hist_wide = masked_mean(self.wide_history(history), history)                 # [B, 1]
        return torch.cat([self.user_emb(user), hist_emb, self.wide_user(user) + hist_wide], dim=-1)

    def match(self, state: Tensor, target: Tensor) -> Tensor:
        t, state, shape = expand_target(target, state)
        d = self.embedding_dim
        t1 = t + 1
        wide = self.bias + state[:, -1] + self.wide_target(t1).squeeze(-1)
        deep = self.deep(torch.cat([state[:, :d], self.item_emb(t1), state[:, d:2 * d]], dim=-1)).squeeze(-1)
        return (wide + deep).view(shape)
