r"""Non-finite numbers stop training: a NaN or inf loss, parameter or optimiser state is an error.

Checks stay off the hot path: per step, :meth:`FiniteGuard.observe_loss` only keeps a reference to
the detached batch loss (no kernel, no host synchronisation); :meth:`FiniteGuard.check_epoch` looks
at the epoch's mean loss, which the trainer moves to the host anyway, and only when it is not
finite stacks the batch losses to name the first bad step. Parameters and the
optimisers' states (Adam's moments turn inf under a huge ``l2`` while the loss stays finite and the
model silently stops changing) are checked by :meth:`FiniteGuard.check_state` once per evaluation,
before the model is evaluated or checkpointed, so a last good checkpoint is never overwritten.
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn


class NonFiniteError(ValueError):
    r"""Training produced a NaN or inf; ``epoch``, ``step`` and ``tensor`` say where."""

    def __init__(self, message: str, epoch: int, step: int, tensor: str):
        super().__init__(message)
        self.epoch, self.step, self.tensor = epoch, step, tensor


_ADVICE = ("Training stopped before this state was evaluated or checkpointed (the last good checkpoint, "
           "if any, is untouched). Usual causes: a learning rate or l2 too large, or a loss that divides by "
           "zero; lower them or check the method's options.")


def _walk(prefix: str, value) -> Iterator[Tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex():
            yield prefix, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _walk(f"{prefix}.{key}", inner)
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            yield from _walk(f"{prefix}.{index}", inner)


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict, prefix: str = "optimizer"
                      ) -> Iterator[Tuple[str, Tensor]]:
    r"""``(name, tensor)`` of an optimiser's state, named by parameter (``optimizer[user_emb.weight].exp_avg``)."""
    for param, state in optimizer.state.items():
        yield from _walk(f"{prefix}[{names.get(param, 'parameter')}]", state)


def training_tensors(model: nn.Module, method: Optional[nn.Module], optimizer: torch.optim.Optimizer,
                     method_state: Optional[dict] = None) -> Iterator[Tuple[str, Tensor]]:
    r"""Every tensor a run's future depends on: model and method parameters and buffers, the
    recommender's optimiser state, and ``method_state`` (e.g. the method's own optimisers)."""
    yield from ((f"model.{name}", t) for name, t in model.state_dict(keep_vars=True).items())
    if isinstance(method, nn.Module):
        yield from ((f"method.{name}", t) for name, t in method.state_dict(keep_vars=True).items())
    names = {param: name for name, param in model.named_parameters()}
    yield from optimizer_tensors(optimizer, names)
    if method_state:
        yield from _walk("method_state", method_state)


class FiniteGuard:
    r"""Raises :class:`NonFiniteError` when a loss, parameter or optimiser state is NaN or inf."""

    def __init__(self):
        self._losses: List[Tensor] = []
        self._first_step = 0

    def observe_loss(self, loss: Tensor, step: int) -> None:
        r"""Keeps the detached batch loss of global step ``step`` until the epoch's check."""
        if not self._losses:
            self._first_step = step
        self._losses.append(loss.detach())

    def check_epoch(self, epoch: int, mean_loss: float, step: int) -> None:
        r"""Raises if the epoch's ``mean_loss`` (already on the host) is not finite, naming the first
        observed step whose batch loss was not finite."""
        losses, self._losses = self._losses, []
        if math.isfinite(mean_loss):
            return
        bad = (~torch.isfinite(torch.stack(losses).reshape(len(losses), -1)).all(1)).nonzero() if losses else []
        bad_step = self._first_step + int(bad[0]) if len(bad) else step
        where = f"step {bad_step}" if len(bad) else f"the sum over epoch {epoch}"
        raise NonFiniteError(f"non-finite training loss ({mean_loss}) at epoch {epoch}, {where} (tensor 'loss'). "
                             + _ADVICE, epoch, bad_step, "loss")

    @staticmethod
    def check_state(tensors: Iterable[Tuple[str, Tensor]], epoch: int, step: int) -> None:
        r"""Raises if any of the named ``tensors`` holds a NaN or inf (one host synchronisation)."""
        tensors = list(tensors)
        if not tensors:
            return
        flags = torch.stack([torch.isfinite(t.detach()).all().to(tensors[0][1].device) for _, t in tensors])
        if bool(flags.all()):
            return
        index = int((~flags).nonzero()[0])
        name, tensor = tensors[index]
        count = int((~torch.isfinite(tensor.detach())).sum())
        raise NonFiniteError(f"non-finite values in {name} ({count} of {tensor.numel()} entries) at epoch {epoch}, "
                             f"step {step} (checked at the evaluation). " + _ADVICE, epoch, step, name)
