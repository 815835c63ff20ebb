r"""The interface of the sequence encoders (the sibling family of the graph :class:`Recommender`).

A sequence encoder scores ``(user, history, target)`` samples with a click logit:

* :meth:`SequenceModel.forward` ``(user, history, target) -> logits``; ``target`` may be ``[B]``
  (one target per history) or ``[B, C]`` (``C`` candidates sharing a history, as in evaluation),
  so that encoders whose history representation does not depend on the target (SASRec,
  Wide & Deep) compute it once per history;
* such encoders implement :meth:`SequenceModel.represent` ``(user, history) -> state`` and
  :meth:`SequenceModel.match` ``(state, target) -> logits`` instead of ``forward``; then
  :meth:`SequenceModel.score` encodes a training batch's distinct histories once
  (:attr:`SampleBatch.shared`: a real next item and its sampled negatives share one history);
* :meth:`SequenceModel.reset_parameters`;
* :meth:`SequenceModel.recommend` -- top-k next items per user from the user's latest history,
  once :meth:`SequenceModel.attach_history` has been called (:func:`fit_sequence` does it).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ...config import check_fields, resolve_config
from ...utils import InteractionIndex
from ..data import PAD, SampleBatch, SequenceData


@dataclass
class SequenceModelConfig:
    """Options shared by every sequence encoder."""

    embedding_dim: int = 16
    """Size of the item (and user) embeddings."""
    dropout: float = 0.0
    """Dropout rate of the encoder's hidden layers."""

    def __post_init__(self):
        check_fields(self, embedding_dim=">= 1", dropout="[0, 1)")


class SequenceModel(nn.Module):
    r"""Base class of the sequence encoders.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items (embedding tables hold ``num_items + 1`` rows, row ``0``
            being the padding index).
        max_len (int): History length ``N``.
        config (SequenceModelConfig, optional): Options; keyword arguments override fields.

    Shapes:
        - **input**: user ``[B]``, history ``[B, N]`` (item id + 1, ``0`` = padding), target ``[B]`` or ``[B, C]``
        - **output**: logits of the shape of ``target``
    """

    Config = SequenceModelConfig

    def __init__(self, num_users: int, num_items: int, max_len: int, config: Optional[SequenceModelConfig] = None,
                 **overrides):
        super().__init__()
        self.config = config = resolve_config(type(self), config, overrides)
        self.num_users, self.num_items, self.max_len = int(num_users), int(num_items), int(max_len)
        self.embedding_dim = config.embedding_dim
        self.register_buffer("last_history", torch.zeros(0, self.max_len, dtype=torch.long), persistent=False)
        self.seen: Optional[InteractionIndex] = None

    @classmethod
    def from_data(cls, data: SequenceData, config: Optional[SequenceModelConfig] = None, **overrides):
        return cls(data.num_users, data.num_items, data.max_len, config, **overrides)

    # -- to implement ---------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        raise NotImplementedError

    def forward(self, user: Tensor, history: Tensor, target: Tensor) -> Tensor:
        if type(self).represent is SequenceModel.represent:
            raise NotImplementedError(f"{type(self).__name__} must implement forward, or represent and match")
        return self.match(self.represent(user, history), target)

    def represent(self, user: Tensor, history: Tensor) -> Tensor:
        r"""The target-independent representation ``[B, ...]`` of ``(user, history)``, for encoders
        that have one (the default :meth:`forward` is ``match(represent(user, history), target)``)."""
        raise NotImplementedError

    def match(self, state: Tensor, target: Tensor) -> Tensor:
        r"""Logits of ``target`` (``[B]`` or ``[B, C]``) against :meth:`represent`'s ``state``."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def score(self, batch: SampleBatch) -> Tensor:
        """Logits of a :class:`SampleBatch`; each distinct history is encoded once when the batch
        says which samples share one (:attr:`SampleBatch.shared`) and the encoder has :meth:`represent`."""
        if batch.shared is None or type(self).represent is SequenceModel.represent:
            return self(batch.user, batch.history, batch.target)
        rows, inverse = batch.shared
        state = self.represent(batch.user[rows], batch.history[rows])
        return self.match(state[inverse], batch.target)

    def attach_history(self, data: SequenceData, exclude_seen: bool = True) -> "SequenceModel":
        """Remember each user's latest ``max_len`` items (all splits) for :meth:`recommend`."""
        device = self.last_history.device
        self.last_history = data.latest_history(torch.arange(data.num_users)).to(device)
        self.seen = data.index.to(device) if exclude_seen else None
        return self

    @torch.no_grad()
    def recommend(self, users: Tensor, k: int = 20, chunk_size: int = 64) -> Tensor:
        r"""Top-``k`` next items per user, ``[len(users), k]``, items the user interacted with excluded."""
        if self.last_history.size(0) != self.num_users:
            raise RuntimeError("call attach_history(sequence_data) before recommend()")
        if not 0 < k <= self.num_items:
            raise ValueError(f"k must lie in [1, {self.num_items}], got {k}")
        device = self.last_history.device
        users = torch.as_tensor(users, dtype=torch.long, device=device).view(-1)
        was_training = self.training
        self.eval()
        out = []
        all_items = torch.arange(self.num_items, device=device)
        for start in range(0, users.numel(), chunk_size):
            u = users[start:start + chunk_size]
            scores = self(u, self.last_history[u], all_items.expand(u.numel(), -1))
            if self.seen is not None:
                row, col = self.seen.gather_rows(u)
                scores[row, col] = float("-inf")
            out.append(scores.topk(k, dim=1).indices)
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long, device=device)

    def __repr__(self) -> str:
        extra = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config))
        return f"{type(self).__name__}({self.num_users} users, {self.num_items} items, max_len={self.max_len}, {extra})"


def mlp(in_dim: int, hidden: Sequence[int], activation: str = "relu", dropout: float = 0.0,
        out_dim: Optional[int] = 1) -> "MLP":
    r"""``Linear -> activation -> Dropout`` per hidden size, then a plain ``Linear`` to ``out_dim``
    (no final layer when ``out_dim`` is :obj:`None`)."""
    layers = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), _activation(activation, width)]
        if dropout > 0:
            layers.append(Dropout(dropout))
        in_dim = width
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return MLP(*layers)


class MLP(nn.Sequential):
    r"""The layer stack of :func:`mlp` (an :class:`~torch.nn.Sequential`, same parameter names).

    When every hidden block is ``Linear -> PReLU [-> Dropout]`` and a ``Linear`` ends the stack (ATJT's
    noise recognition model, DIN's output MLP), forward and backward run as ONE autograd function
    with a hand-written backward (:class:`_PReLUStack`): the same values and gradients up to float
    reassociation and the same dropout draws, without autograd's per-layer nodes and ATen's branching
    PReLU backward. Other stacks run layer by layer."""

    def forward(self, x: Tensor) -> Tensor:
        plan = self._prelu_plan()
        if plan is None:
            return super().forward(x)
        p, params = plan
        flat = x.reshape(-1, x.size(-1))
        out = _PReLUStack.apply(flat, p, *params)
        return out.view(*x.shape[:-1], out.size(-1))

    def _prelu_plan(self):
        """``(dropout rate, [W, b, a] per hidden block + [W, b] of the last Linear)`` or None."""
        layers, params, rates = list(self), [], set()
        while len(layers) > 1 and isinstance(layers[0], nn.Linear) and isinstance(layers[1], PReLU):
            params += [layers[0].weight, layers[0].bias, layers[1].weight]
            layers = layers[2:]
            drop = layers.pop(0) if layers and isinstance(layers[0], Dropout) else None
            rates.add(drop.p if drop is not None and drop.training else 0.0)
        if not params or len(layers) != 1 or not isinstance(layers[0], nn.Linear) or len(rates) != 1:
            return None
        if not 0 <= next(iter(rates)) < 1:
            return None
        return rates.pop(), params + [layers[0].weight, layers[0].bias]


class _PReLUStack(torch.autograd.Function):
    r""":class:`MLP` of ``Linear -> PReLU -> Dropout(p)`` blocks and a last ``Linear`` on ``x [R, in]``,
    its backward by hand (:func:`prelu_backward` per block, the dropout masks kept from the forward)."""

    @staticmethod
    def forward(ctx, x: Tensor, p: float, *params: Tensor) -> Tensor:
        blocks, (w_last, b_last) = [params[i:i + 3] for i in range(0, len(params) - 2, 3)], params[-2:]
        h, saved = x, []
        for weight, bias, slope in blocks:
            z = torch.addmm(bias, h, weight.t())
            y = F.prelu(z, slope)
            drop = dropout_mask(z.shape, p, z) if p > 0 else None
            if drop is not None:
                y.mul_(drop)
            saved.append((y, z, drop))
            h = y
        ctx.blocks = saved  # the blocks' outputs, pre-activations and masks (intermediates)
        ctx.save_for_backward(x, *params)
        return torch.addmm(b_last, h, w_last.t())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, *params = ctx.saved_tensors
        inputs = [x] + [y for y, _, _ in ctx.blocks]
        grads = [torch.mm(grad.t(), inputs[-1]), grad.sum(0)]                        # last Linear
        g_h = torch.mm(grad, params[-2])
        for i, (_, z, drop) in reversed(list(enumerate(ctx.blocks))):
            weight, _, slope = params[3 * i:3 * i + 3]
            h = inputs[i]
            if drop is not None:
                g_h.mul_(drop)
            g_z, g_slope = prelu_backward(g_h, z, slope, inplace=True)
            grads[:0] = [torch.mm(g_z.t(), h), g_z.sum(0), g_slope]
            g_h = torch.mm(g_z, weight) if i or ctx.needs_input_grad[0] else None
        return (g_h, None, *grads)


def _activation(name: str, width: int) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return PReLU(width)
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {name!r}")


class PReLU(nn.Module):
    r"""PReLU with one slope per feature of the LAST dimension (:class:`torch.nn.PReLU` uses dim 1,
    which is the sequence dimension of ``[B, N, d]`` inputs)."""

    def __init__(self, num_parameters: int, init: float = 0.25):
        super().__init__()
        self.init = init
        self.weight = nn.Parameter(torch.full((num_parameters,), init))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.size(-1))
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _PReLU.apply(flat, self.weight).view(x.shape)
        return F.prelu(flat, self.weight).view(x.shape)


class _PReLU(torch.autograd.Function):
    """:func:`~torch.nn.functional.prelu` with :func:`prelu_backward` (no per-entry branches)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        return prelu_backward(grad, x, weight)


class Dropout(nn.Dropout):
    r""":class:`torch.nn.Dropout` (same distribution: each entry kept with probability ``1 - p`` and
    scaled by ``1 / (1 - p)``) whose mask, on CPU, is drawn by :func:`keep_mask` from the default
    generator: the CPU ``bernoulli_`` behind :func:`~torch.nn.functional.dropout` draws about 3x slower
    than ``rand``, and ``rand`` one generator call per entry; dropout was a third of a SASRec or ATJT
    training step. Other devices use :func:`~torch.nn.functional.dropout`."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.p == 1:
            return F.dropout(x, self.p, True, self.inplace)
        return x * keep_mask(x.shape, self.p, x.dtype)


def dropout_mask(shape, p: float, like: Tensor) -> Tensor:
    r"""A dropout mask of ``shape`` (entries ``1 / (1 - p)`` with probability ``1 - p``, else 0) with
    ``like``'s dtype and device: :func:`keep_mask` on CPU (the stream :class:`Dropout` draws), a
    Bernoulli draw elsewhere."""
    if like.device.type == "cpu":
        return keep_mask(shape, p, like.dtype)
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p).div_(1.0 - p)


def prelu_backward(grad: Tensor, x: Tensor, weight: Tensor, inplace: bool = False):
    r"""Gradients of :func:`~torch.nn.functional.prelu` on ``x [M, H]`` with ``H`` slopes, without
    branches: ``t = grad`` where ``x > 0`` else 0 (one ``threshold_backward`` pass), then
    ``dx = t + a (grad - t)`` (exactly ``grad`` or ``a * grad``, as ATen's) and
    ``da = sum_rows((grad - t) x)``. ATen's CPU ``_prelu_kernel_backward`` branches per entry and ran
    about 4x slower when a column's signs are mixed. ``inplace``: ``grad`` may be overwritten (then
    the two ``[M, H]`` temporaries are :func:`scratch` tensors, reused from call to call)."""
    positive, product = scratch(x, "prelu_backward", 2) if inplace else (None, None)
    positive = torch.ops.aten.threshold_backward.grad_input(grad, x, 0, grad_input=positive) if inplace \
        else torch.ops.aten.threshold_backward(grad, x, 0)
    negative = grad.sub_(positive) if inplace else grad - positive
    grad_weight = torch.mul(negative, x, out=product).sum(0) if inplace else (negative * x).sum(0)
    return negative.mul_(weight).add_(positive), grad_weight


class _Scratch(threading.local):
    def __init__(self):
        self.tensors: "OrderedDict[tuple, List[Tensor]]" = OrderedDict()


_SCRATCH = _Scratch()
_SCRATCH_SETS = 8
"""Scratch sets kept per thread (the least recently used is dropped beyond)."""


def scratch(like: Tensor, tag: str, count: int = 1, shape=None) -> List[Tensor]:
    r"""``count`` uninitialised tensors of ``shape`` (default: ``like``'s) with ``like``'s dtype and
    device, the SAME ones on every call with the same ``tag`` and shape from this thread: workspace
    of the hand-written backwards, which never hand them to autograd and are done with them when they
    return. Fresh ``[M, H]`` temporaries of a few MB each cost a CPU step page faults and cold
    caches (about 1 ms of an ATJT step)."""
    shape = tuple(like.shape if shape is None else shape)
    key = (tag, shape, like.dtype, like.device, count)
    store = _SCRATCH.tensors
    if key in store:
        store.move_to_end(key)
        return store[key]
    tensors = [torch.empty(shape, dtype=like.dtype, device=like.device) for _ in range(count)]
    store[key] = tensors
    while len(store) > _SCRATCH_SETS:
        store.popitem(last=False)
    return tensors


_MASK_BITS = 8
"""Largest ``m`` for which a rate ``p = t / 2^m`` is drawn from random bits (:func:`keep_mask`)."""


def keep_mask(shape, p: float, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""A CPU dropout mask of ``shape``: each entry ``1 / (1 - p)`` with probability ``1 - p``, else 0,
    independently, from the default generator.

    When ``p = t / 2^m`` with ``m <= 8`` (0.5, 0.25, 0.125, 0.375, ...), each entry reads ``m`` fresh
    random bits and is kept when they, as an integer, are ``>= t``: exactly probability ``1 - p``. The
    bits are the low 7 bytes of ``int64`` :meth:`~torch.Tensor.random_` words (uniform on
    ``[0, 2^63)``), each byte mapped by a 256-row table to its ``8 // m`` mask entries: one generator
    call per ``28 // m`` entries (p = 0.5: 28) instead of one per entry, and no boolean tensors (on
    this CPU path a comparison or ``where`` costs several float passes). Other rates use ``rand >= p``."""
    table = _mask_table(p, dtype)
    if table is None:
        return (torch.rand(shape, dtype=dtype) >= p).to(dtype).mul_(1.0 / (1.0 - p))
    n = math.prod(shape)
    num_bytes = -(-n // table.size(1))
    words = torch.empty(-(-num_bytes // 7), 8, dtype=torch.uint8)
    words.view(torch.int64).random_()
    codes = words[:, :7].reshape(-1)[:num_bytes].long()
    return F.embedding(codes, table).view(-1)[:n].view(shape)


@functools.lru_cache(maxsize=None)
def _mask_table(p: float, dtype: torch.dtype) -> Optional[Tensor]:
    """``[256, 8 // m]``: the mask entries of each byte value, for ``p = t / 2^m`` with the smallest
    ``m <= _MASK_BITS``; None for other rates."""
    for m in range(1, _MASK_BITS + 1):
        t = p * (1 << m)
        if t == int(t):
            per_byte = 8 // m
            chunks = (torch.arange(256).unsqueeze(1) >> (m * torch.arange(per_byte))) & ((1 << m) - 1)
            return (chunks >= int(t)).to(dtype) / (1.0 - p)
    return None


def embed(embedding: nn.Embedding, index: Tensor) -> Tensor:
    r"""``embedding(index)``; on CPU with a gradient, through ``index_select`` with a backward of one
    ``index_add_`` into a zero table (the padding row's gradient zeroed, as ``nn.Embedding`` does):
    CPU ``embedding_dense_backward`` took about twice as long for ATJT's ``[B, N]`` histories."""
    weight = embedding.weight
    if weight.device.type != "cpu" or not (torch.is_grad_enabled() and weight.requires_grad):
        return embedding(index)
    return _EmbeddingLookup.apply(weight, index, embedding.padding_idx)


class _EmbeddingLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, index: Tensor, padding_idx: Optional[int]) -> Tensor:
        ctx.save_for_backward(index)
        ctx.num_rows, ctx.padding_idx = weight.size(0), padding_idx
        return weight.index_select(0, index.reshape(-1)).view(*index.shape, weight.size(1))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (index,) = ctx.saved_tensors
        flat = grad.reshape(-1, grad.size(-1))
        grad_weight = flat.new_zeros(ctx.num_rows, flat.size(1)).index_add_(0, index.reshape(-1), flat)
        if ctx.padding_idx is not None:
            grad_weight[ctx.padding_idx] = 0
        return grad_weight, None, None


def reset_module(module: nn.Module) -> None:
    """Call ``reset_parameters`` of every sub-module that has one."""
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


def expand_target(target: Tensor, *tensors: Tensor):
    r"""Broadcast per-history tensors ``[B, ...]`` to a ``[B, C]`` target: returns flattened
    ``target [B*C]`` and each tensor repeated ``C`` times, plus the output shape."""
    if target.dim() == 1:
        return (target, *tensors, target.shape)
    b, c = target.shape
    flat = [t.unsqueeze(1).expand(b, c, *t.shape[1:]).reshape(b * c, *t.shape[1:]) for t in tensors]
    return (target.reshape(-1), *flat, target.shape)


def masked_mean(embedding: Tensor, history: Tensor) -> Tensor:
    r"""Mean of ``embedding [B, N, d]`` over the non-padding positions of ``history [B, N]``."""
    mask = (history != PAD).unsqueeze(-1).to(embedding.dtype)
    return (embedding * mask).sum(1) / mask.sum(1).clamp(min=1)
