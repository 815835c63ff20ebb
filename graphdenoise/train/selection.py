"""Model selection on validation, one object shared by the graph and the sequence trainers."""
from __future__ import annotations

import copy
import math
from typing import Callable, Optional


class ModelSelection:
    r"""Keeps the best validation state and decides early stopping.

    Only validation metrics ever reach :meth:`update`: the trainers evaluate the test split once, for
    the state selected here.

    Args:
        monitor (str): The validation metric (higher is better), e.g. ``"recall@20"`` or ``"auc"``.
        patience (int): Stop after this many evaluations without improvement (0 disables).
    """

    def __init__(self, monitor: str, patience: int):
        self.monitor, self.patience = monitor, int(patience)
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.best_state: Optional[dict] = None
        self.bad_evaluations = 0
        self.stopped_early = False

    def update(self, epoch: int, current: float, snapshot: Callable[[], dict], may_stop: bool = True,
               may_select: bool = True) -> float:
        """Record the validation value ``current`` of ``epoch`` (higher is better: ``monitor`` of the
        validation metrics, or a negated validation loss); a deep copy of ``snapshot()`` is kept when it
        improves. ``may_stop=False`` (the method's :meth:`~graphdenoise.methods.base.MethodBase.may_stop`):
        the evaluation does not count toward the patience, which starts afresh; ``may_select=False``
        (:meth:`~graphdenoise.methods.base.MethodBase.may_select`): it cannot become the best state.
        Returns ``current``."""
        if may_select and current > self.best_metric:
            self.best_metric, self.best_epoch, self.bad_evaluations = current, epoch, 0
            self.best_state = copy.deepcopy(snapshot())
        else:
            self.bad_evaluations += 1
        if not may_stop:
            self.bad_evaluations = 0
        elif self.patience and self.bad_evaluations >= self.patience:
            self.stopped_early = True
        return current

    _FIELDS = ("best_metric", "best_epoch", "best_state", "bad_evaluations", "stopped_early")

    def state_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._FIELDS}

    def load_state_dict(self, state: dict) -> None:
        for name in self._FIELDS:
            setattr(self, name, state[name])

    def __repr__(self) -> str:
        return (f"ModelSelection(monitor={self.monitor!r}, patience={self.patience}, best={self.best_metric:.4f} "
                f"@ {self.best_epoch})")
