r"""Deep Interest Network: target attention over the history.

Reference: Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018
(https://arxiv.org/abs/1706.06978). Checked against the authors' code (``zhougr1993/DeepInterestNetwork``:
activation unit on ``[e_n, e_t, e_n - e_t, e_n * e_t]`` with hidden sizes (80, 40) and sigmoid,
weighted SUM pooling without softmax, output MLP (200, 80)) and DeepCTR's ``DIN``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ..data import PAD
from .base import (SequenceModel, SequenceModelConfig, dropout_mask, expand_target, mlp, prelu_backward,
                   reset_module, scratch)


class AttentionPooling(nn.Module):
    r"""DIN's local activation unit followed by weighted SUM pooling.

    .. math::
        a_n = \text{MLP}([e_n \,\|\, e_t \,\|\, e_n - e_t \,\|\, e_n \odot e_t]), \qquad
        h = \sum_{n:\, v_n \neq \text{pad}} a_n e_n

    Args:
        embedding_dim (int): Size ``d`` of the item embeddings (the MLP input is ``4d``).
        hidden_units (tuple of int): Hidden sizes of the attention MLP (its output is 1).
        activation (str): ``"sigmoid"``, ``"prelu"`` or ``"relu"``.
        dropout (float): Dropout after each hidden layer. (default: :obj:`0.0`)

    With one hidden layer and PReLU (the ATJT noise recognition model's unit) the whole unit runs as
    one autograd function with a hand-written backward (:class:`_PReLUAttentionUnit`): the same
    values and gradients up to float reassociation, the same dropout draws, far fewer passes over
    the ``[B, N, H]`` activations and fresh allocations than autograd's graph of the layers.

    Shapes:
        - **input**: keys ``[B, N, d]``, query ``[B, d]``, mask ``[B, N]`` (True for real items)
        - **output**: ``[B, d]``
    """

    def __init__(self, embedding_dim: int, hidden_units: Tuple[int, ...], activation: str, dropout: float = 0.0):
        super().__init__()
        self.net = mlp(4 * embedding_dim, hidden_units, activation, dropout)
        self.fused = len(hidden_units) == 1 and activation == "prelu"

    def reset_parameters(self) -> None:
        reset_module(self.net)

    def forward(self, keys: Tensor, query: Tensor, mask: Tensor) -> Tensor:
        if self.fused:
            first, prelu, last = self.net[0], self.net[1], self.net[-1]
            p = self.net[2].p if self.training and len(self.net) == 4 else 0.0
            return _PReLUAttentionUnit.apply(keys, query, mask.to(keys.dtype), first.weight, first.bias,
                                             prelu.weight, last.weight, last.bias, p)
        return self.layered(keys, query, mask)

    def layered(self, keys: Tensor, query: Tensor, mask: Tensor) -> Tensor:
        """The unit through autograd, layer by layer (any depth and activation)."""
        hidden, _ = first_layer(keys, query, self.net[0].weight, self.net[0].bias)
        score = self.net[1:](hidden.view(*keys.shape[:2], -1)).squeeze(-1)                # [B, N]
        score = score * mask.to(score.dtype)
        return (score.unsqueeze(-1) * keys).sum(1)


def first_layer(keys: Tensor, query: Tensor, weight: Tensor, bias: Tensor):
    r"""The attention unit's first layer on ``[k, q, k - q, k * q]`` without materialising the ``4d``
    input: :math:`W[k, q, k-q, k \odot q] = (W_1 + W_3) k + (W_2 - W_3) q + W_4 (k \odot q)`, accumulated in
    place (each ``[B, N, H]`` temporary is a pass over memory). Returns ``z [B * N, H]`` and
    ``k * q [B * N, d]`` (kept by the hand-written backward)."""
    b, n, d = keys.shape
    w1, w2, w3, w4 = weight.chunk(4, dim=1)
    kq = (keys * query.unsqueeze(1)).view(-1, d)
    z = torch.mm(keys.reshape(-1, d), (w1 + w3).t()).addmm_(kq, w4.t())
    z.view(b, n, -1).add_(torch.addmm(bias, query, (w2 - w3).t()).unsqueeze(1))
    return z, kq


class _PReLUAttentionUnit(torch.autograd.Function):
    r""":class:`AttentionPooling` with one PReLU hidden layer of width ``H``, dropout rate ``p``:

    .. math::
        z = (W_1 + W_3) k + W_4 (k \odot q) + (W_2 - W_3) q + b, \quad
        s = v^\top (\text{PReLU}(z) \odot m) + c, \quad h = \sum_n [v_n \neq \text{pad}]\, s_n k_n

    (``m`` the dropout mask, drawn like :class:`~graphdenoise.sequential.models.base.Dropout`'s), and
    its backward by hand: the score's gradient is a ``[B, N]`` tensor, so the output layer's and the
    mask's backward is one outer product, PReLU's is :func:`prelu_backward`, and the first layer's is
    one GEMM for both key-side weight blocks."""

    @staticmethod
    def forward(ctx, keys, query, valid, w_first, b_first, slope, w_last, b_last, p: float):
        b, n, _ = keys.shape
        z, kq = first_layer(keys, query, w_first, b_first)
        y = F.prelu(z, slope)
        drop = dropout_mask(z.shape, p, z).view_as(z) if p > 0 else None
        if drop is not None:
            y.mul_(drop)
        score = torch.addmv(b_last, y, w_last.view(-1)).view(b, n).mul_(valid)
        ctx.save_for_backward(keys, query, valid, kq, z, y, drop, score, w_first, slope, w_last)
        return torch.bmm(score.unsqueeze(1), keys).squeeze(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        keys, query, valid, kq, z, y, drop, score, w_first, slope, w_last = ctx.saved_tensors
        b, n, d = keys.shape
        g_score = torch.bmm(keys, grad.unsqueeze(2)).view(-1).mul_(valid.view(-1))   # [B * N]
        g_keys = score.unsqueeze(2) * grad.unsqueeze(1)                              # [B, N, d]
        (g_y,) = scratch(z, "attention_unit")
        torch.mul(g_score.unsqueeze(1), w_last.view(1, -1), out=g_y)
        if drop is not None:
            g_y.mul_(drop)
        g_z, g_slope = prelu_backward(g_y, z, slope, inplace=True)
        g_bias = g_z.view(b, n, -1).sum(1)                                            # [B, H]
        w1, w2, w3, w4 = w_first.chunk(4, dim=1)
        (g_inputs,) = scratch(z, "attention_unit_inputs", shape=(b * n, 2 * d))
        torch.mm(g_z, torch.cat([w1 + w3, w4], dim=1), out=g_inputs)                 # of keys, k * q
        g_inputs = g_inputs.view(b, n, 2 * d)
        g_kq = g_inputs[..., d:]
        g_keys.add_(g_inputs[..., :d]).addcmul_(g_kq, query.unsqueeze(1))
        g_query = (g_kq * keys).sum(1).addmm_(g_bias, w2 - w3)
        g_key_side = torch.mm(g_z.t(), keys.reshape(-1, d))                          # of W1 + W3
        g_query_side = torch.mm(g_bias.t(), query)                                   # of W2 - W3
        g_first = torch.cat([g_key_side, g_query_side, g_key_side - g_query_side, torch.mm(g_z.t(), kq)], dim=1)
        g_w_last = torch.mv(y.t(), g_score).view_as(w_last)
        return (g_keys, g_query, None, g_first, g_bias.sum(0), g_slope, g_w_last, g_score.sum().view(1), None)


@dataclass
class DINConfig(SequenceModelConfig):
    """Options of :class:`DIN`."""

    attention_units: Tuple[int, ...] = (80, 40)
    """Hidden sizes of the activation unit (DIN paper: 80, 40 with sigmoid)."""
    hidden_units: Tuple[int, ...] = (200, 80)
    """Hidden sizes of the output MLP (DIN paper: 200, 80 with PReLU/Dice)."""

    def __post_init__(self):
        super().__post_init__()
        self.attention_units = tuple(int(h) for h in self.attention_units)
        self.hidden_units = tuple(int(h) for h in self.hidden_units)


class DIN(SequenceModel):
    r"""Deep Interest Network over ``(user, history, target)``.

    .. math::
        \text{logit} = \text{MLP}\big([e_u \,\|\, h \,\|\, e_t]\big), \qquad
        h = \sum_n a(e_n, e_t)\, e_n

    User id and item ids are the features (the ATJT paper adds item categories, which the shared
    layout does not carry).

    Args:
        num_users (int), num_items (int), max_len (int): Sizes.
        config (DINConfig, optional): Options. (default: ``embedding_dim=16``, attention (80, 40),
            MLP (200, 80))
    """

    Config = DINConfig

    def __init__(self, num_users: int, num_items: int, max_len: int, config: Optional[DINConfig] = None, **overrides):
        super().__init__(num_users, num_items, max_len, config, **overrides)
        d = self.embedding_dim
        self.user_emb = nn.Embedding(self.num_users, d)
        self.item_emb = nn.Embedding(self.num_items + 1, d, padding_idx=PAD)
        self.attention = AttentionPooling(d, self.config.attention_units, "sigmoid")
        self.out = mlp(3 * d, self.config.hidden_units, "prelu", self.config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_emb, self.item_emb):
            nn.init.normal_(emb.weight, std=0.01)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()
        self.attention.reset_parameters()
        reset_module(self.out)

    def forward(self, user: Tensor, history: Tensor, target: Tensor) -> Tensor:
        keys = self.item_emb(history)
        mask = history != PAD
        u = self.user_emb(user)
        t, keys, mask, u, shape = expand_target(target, keys, mask, u)
        e_t = self.item_emb(t + 1)
        h = self.attention(keys, e_t, mask)
        return self.out(torch.cat([u, h, e_t], dim=-1)).view(shape)
