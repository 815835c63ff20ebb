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
from torch import Tensor, nn

from ..data import PAD
from .base import SequenceModel, SequenceModelConfig


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
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.attn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(cfg.num_blocks)])
        self.attns = nn.ModuleList([nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
                                    for _ in range(cfg.num_blocks)])
        self.ffn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(cfg.num_blocks)])
        self.ffns = nn.ModuleList([nn.Sequential(nn.Linear(d, d), nn.Dropout(cfg.dropout), nn.ReLU(),
                                                 nn.Linear(d, d), nn.Dropout(cfg.dropout))
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
        r"""The sequence representation ``[B, d]`` at the last position."""
        b, n = history.shape
        real = history != PAD
        x = self.item_emb(history) * math.sqrt(self.embedding_dim)
        x = x + self.pos_emb.weight[:n].unsqueeze(0)
        x = self.emb_dropout(x) * real.unsqueeze(-1)
        causal = torch.ones(n, n, dtype=torch.bool, device=history.device).tril()
        eye = torch.eye(n, dtype=torch.bool, device=history.device)
        allowed = (causal.unsqueeze(0) & real.unsqueeze(1)) | eye.unsqueeze(0)       # [B, N(query), N(key)]
        blocked = (~allowed).repeat_interleave(self.config.num_heads, dim=0)
        for norm, attn, ffn_norm, ffn in zip(self.attn_norms, self.attns, self.ffn_norms, self.ffns):
            q = norm(x)
            out, _ = attn(q, x, x, attn_mask=blocked, need_weights=False)
            x = q + out
            x = ffn_norm(x)
            x = (x + ffn(x)) * real.unsqueeze(-1)
        return self.last_norm(x[:, -1])

    def forward(self, user: Tensor, history: Tensor, target: Tensor) -> Tensor:
        seq = self.encode(history)                                   # [B, d]
        e_t = self.item_emb(target + 1)                              # [B, d] or [B, C, d]
        if target.dim() == 2:
            return (e_t * seq.unsqueeze(1)).sum(-1)
        return (e_t * seq).sum(-1)
