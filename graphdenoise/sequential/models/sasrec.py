r"""SASRec: causal self-attention over the history, scored against the target embedding.

Reference: Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018
(https://arxiv.org/abs/1808.09781). Checked against the PyTorch port ``pmixer/SASRec.pytorch``
(pre-LayerNorm query, residual, point-wise feed-forward, timeline mask, final LayerNorm; defaults
d=50, 2 blocks, 1 head, dropout 0.2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import PAD
from .base import Dropout, SequenceModel, SequenceModelConfig


@dataclass
class SASRecConfig(SequenceModelConfig):
    """Options of :class:`SASRec` (defaults of the SASRec authors)."""

    embedding_dim: int = 50
    """Hidden size ``d`` (SASRec: 50)."""
    dropout: float = 0.2
    """Dropout of embeddings, attention and feed-forward (SASRec: 0.2 on MovieLens-1M)."""
    num_blocks: int = 2
    """Self-attention blocks (SASRec: 2)."""
    num_heads: int = 1
    """Attention heads (SASRec: 1)."""

    def __post_init__(self):
        super().__post_init__()
        if self.num_blocks < 1 or self.num_heads < 1 or self.embedding_dim % self.num_heads:
            raise ValueError(f"need num_blocks >= 1 and num_heads >= 1 dividing embedding_dim, got "
                             f"{self.num_blocks}, {self.num_heads}, {self.embedding_dim}")


class SASRec(SequenceModel):
    r"""SASRec as a CTR scorer: the representation at the last (most recent) position of the
    history is matched with the target's embedding (shared item table).

    .. math::
        F = \text{SA}^{(b)}(\hat E), \quad \hat E_n = \sqrt{d}\, e_{v_n} + p_n, \qquad
        \text{logit} = \langle F_N, e_t \rangle

    A position attends to itself and to the earlier real (non-padding) items.

    Speed without changing the maths: only the last position is scored, so the last block runs its
    query, residual and feed-forward for that position alone (:meth:`encode`); a training batch keeps
    a target position's real next item and its sampled negatives together and encodes their shared
    history once (:meth:`SequenceModel.score`), as SASRec scores the positive and the negative of a
    time step from one :math:`F_t` (Kang & McAuley, Sec. III-E, Eq. 5). Each CTR sample is still its
    own ``max_len`` window: training every position of a longer sequence at once, as SASRec does,
    would give the earlier positions shorter histories than the samples define.

    Args:
        num_users (int), num_items (int), max_len (int): Sizes (users are not a feature).
        config (SASRecConfig, optional): Options. (default: d=50, 2 blocks, 1 head, dropout 0.2)
    """

    Config = SASRecConfig

    def __init__(self, num_users: int, num_items: int, max_len: int, config: Optional[SASRecConfig] = None,
                 **overrides):
        super().__init__(num_users, num_items, max_len, config, **overrides)
        d, cfg = self.embedding_dim, self.config
        self.item_emb = nn.Embedding(self.num_items + 1, d, padding_idx=PAD)
        self.pos_emb = nn.Embedding(self.max_len, d)
        self.emb_dropout = Dropout(cfg.dropout)
        self.attn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(cfg.num_blocks)])
        self.attns = nn.ModuleList([nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
                                    for _ in range(cfg.num_blocks)])
        self.ffn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(cfg.num_blocks)])
        self.ffns = nn.ModuleList([nn.Sequential(nn.Linear(d, d), Dropout(cfg.dropout), nn.ReLU(),
                                                 nn.Linear(d, d), Dropout(cfg.dropout))
                                   for _ in range(cfg.num_blocks)])
        self.last_norm = nn.LayerNorm(d, eps=1e-8)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.MultiheadAttention):
                module._reset_parameters()
            elif module is not self and hasattr(module, "reset_parameters") and not isinstance(module, nn.Embedding):
                module.reset_parameters()
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_normal_(self.pos_emb.weight)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()

    def encode(self, history: Tensor) -> Tensor:
        r"""The sequence representation ``[B, d]`` at the last position.

        Only the last position's output is scored, so the last block computes its query, attention
        row, residual and feed-forward for that position alone (keys and values still cover every
        position); the earlier blocks run on every position, which the last block attends to. This
        is exactly the last row of the full computation, at about half the cost."""
        n = history.size(1)
        real = (history != PAD).unsqueeze(-1)                                          # [B, N, 1]
        x = self.item_emb(history) * math.sqrt(self.embedding_dim) + self.pos_emb.weight[:n]
        x = self.emb_dropout(x) * real
        causal = torch.ones(n, n, dtype=torch.bool, device=history.device).tril()
        eye = torch.eye(n, dtype=torch.bool, device=history.device)
        allowed = ((causal & real.transpose(1, 2)) | eye).unsqueeze(1)               # [B, 1, N(query), N(key)]
        last = len(self.attns) - 1
        for block in range(last):
            x = self._block(block, x, x, allowed, real)
        x = self._block(last, x[:, -1:], x, allowed[:, :, -1:], real[:, -1:])
        return self.last_norm(x[:, -1])

    def _block(self, block: int, query: Tensor, x: Tensor, allowed: Tensor, real: Tensor) -> Tensor:
        r"""One SASRec block for the positions of ``query`` (a suffix of ``x``): pre-LayerNorm query,
        causal attention over ``x``, residual, LayerNorm, point-wise feed-forward with residual,
        padding positions zeroed (SASRec.pytorch's ``log2feats``)."""
        q = self.attn_norms[block](query)
        h = q + self._attention(self.attns[block], q, x, allowed)
        h = self.ffn_norms[block](h)
        return (h + self.ffns[block](h)) * real

    def _attention(self, attn: nn.MultiheadAttention, query: Tensor, x: Tensor, allowed: Tensor) -> Tensor:
        r""":class:`~torch.nn.MultiheadAttention`'s maths on its own parameters (query projection of
        ``query``, key/value projections of ``x``, dropout on the attention weights), through
        :func:`~torch.nn.functional.scaled_dot_product_attention` so that a query subset costs only its rows."""
        d, heads = self.embedding_dim, attn.num_heads
        q = F.linear(query, attn.in_proj_weight[:d], attn.in_proj_bias[:d])
        k, v = F.linear(x, attn.in_proj_weight[d:], attn.in_proj_bias[d:]).chunk(2, dim=-1)
        b, lq = query.size(0), query.size(1)
        q, k, v = (t.view(b, -1, heads, d // heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                             dropout_p=attn.dropout if self.training else 0.0)
        return attn.out_proj(out.transpose(1, 2).reshape(b, lq, d))

    def represent(self, user: Tensor, history: Tensor) -> Tensor:
        return self.encode(history)

    def match(self, state: Tensor, target: Tensor) -> Tensor:
        e_t = self.item_emb(target + 1)                              # [B, d] or [B, C, d]
        if target.dim() == 2:
            return (e_t * state.unsqueeze(1)).sum(-1)
        return (e_t * state).sum(-1)
